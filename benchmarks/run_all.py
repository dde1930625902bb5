"""Every performance benchmark of issue 6 at small sizes (about 2 minutes on 2 cores), then one
table of target vs measured.

Benchmarks run one after the other (they are heavy; the machine has 2 cores), each in its own
process, each printing its full output; ``--json DIR`` keeps each one's JSON.

    .venv/bin/python benchmarks/run_all.py
    .venv/bin/python benchmarks/run_all.py --full     # the sizes quoted in benchmarks/README.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

SMALL = {
    "bench_import.py": ["--repeats", "5"],
    "bench_batched.py": ["--draws", "1024,4096", "--repeats", "3"],
    "bench_scale.py": ["--repeats", "3", "--memory-widths", "64,256"],
    "bench_sweep.py": ["--naive", "10", "--examples", "150"],
}
FULL = {
    "bench_import.py": [],
    "bench_batched.py": [],
    "bench_scale.py": [],
    "bench_sweep.py": ["--naive", "30", "--examples", "300", "--draws", "16,64,256", "--cache-runs", "2"],
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the larger sizes (several minutes)")
    ap.add_argument("--json", help="a directory to keep each benchmark's JSON in")
    args = ap.parse_args(argv)
    plan = FULL if args.full else SMALL
    out_dir = Path(args.json) if args.json else Path(tempfile.mkdtemp(prefix="crosscheck-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, failed = [], []
    t0 = time.perf_counter()
    for script, extra in plan.items():
        path = out_dir / (Path(script).stem + ".json")
        print(f"\n=== {script} {' '.join(extra)}", flush=True)
        proc = subprocess.run([sys.executable, str(HERE / script), *extra, "--json", str(path)], cwd=HERE.parent)
        if proc.returncode != 0 or not path.exists():
            failed.append(script)
            rows.append({"target": script, "goal": "runs", "measured": f"exit {proc.returncode}", "met": False})
            continue
        rows.extend(json.loads(path.read_text())["targets"])
    print(f"\n=== targets (issue 6), {time.perf_counter() - t0:.0f} s in all; JSON in {out_dir}")
    w = [max(len(str(r[k])) for r in rows) for k in ("target", "goal")]
    print(f"{'target':<{w[0]}}  {'goal':<{w[1]}}  {'met':<5}  measured")
    for r in rows:
        met = {True: "yes", False: "NO", None: "n/a"}[r["met"]]
        print(f"{r['target']:<{w[0]}}  {r['goal']:<{w[1]}}  {met:<5}  {r['measured']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
