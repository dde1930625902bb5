"""Issue 6 target 4: ``import crosscheck`` and ``crosscheck --help`` in <= 0.3 s, importing
neither torch nor jax.

Each command runs in a fresh interpreter; the wall time includes Python's own start-up
(printed alone as the baseline), best of ``--repeats``. The console script is the installed
``crosscheck`` beside this Python when there is one, else ``python -m crosscheck``.

    .venv/bin/python benchmarks/bench_import.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import target, write_json

HEAVY = ("torch", "jax", "hypothesis", "matplotlib")
PROBE = ("import sys; {stmt}; "
         f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")


def wall(cmd: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        best = min(best, time.perf_counter() - t)
    return best


def loaded(stmt: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(stmt=stmt)], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1:]
    out = out[0] if out else ""
    return [m for m in out.split(",") if m]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    script = Path(sys.executable).with_name("crosscheck")
    help_cmd = [str(script), "--help"] if script.exists() and os.access(script, os.X_OK) \
        else [sys.executable, "-m", "crosscheck", "--help"]
    baseline = wall([sys.executable, "-c", "pass"], args.repeats)
    t_import = wall([sys.executable, "-c", "import crosscheck"], args.repeats)
    t_help = wall(help_cmd, args.repeats)
    heavy_import = loaded("import crosscheck")
    heavy_help = loaded("import contextlib, io\nfrom crosscheck.cli import main\n"
                        "with contextlib.redirect_stdout(io.StringIO()):\n try:\n  main(['--help'])\n"
                        " except SystemExit: pass")
    print(f"python start-up alone:  {baseline:.3f} s")
    print(f"import crosscheck:      {t_import:.3f} s   heavy modules loaded: {heavy_import or 'none'}")
    print(f"{' '.join(Path(help_cmd[0]).name if i == 0 else c for i, c in enumerate(help_cmd))}:"
          f"{'':<3} {t_help:.3f} s   heavy modules loaded: {heavy_help or 'none'}")
    bad = [m for m in heavy_import + heavy_help if m in ("torch", "jax")]
    targets = [
        target("import crosscheck", "<= 0.3 s, no torch/jax", f"{t_import:.2f} s, loads {heavy_import or 'none'}",
               t_import <= 0.3 and not [m for m in heavy_import if m in ("torch", "jax")]),
        target("crosscheck --help", "<= 0.3 s, no torch/jax", f"{t_help:.2f} s, loads {heavy_help or 'none'}",
               t_help <= 0.3 and not bad),
    ]
    write_json(args.json, {"baseline_s": baseline, "import_s": t_import, "help_s": t_help,
                           "import_loads": heavy_import, "help_loads": heavy_help, "targets": targets})
    return 0


if __name__ == "__main__":
    sys.exit(main())
