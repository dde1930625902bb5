"""The time a check with no convention flags spends detecting the convention (issue 18).

Runs ``crosscheck check TARGET`` with no flags (``run_check(..., detect="auto")``, the sandbox included,
``--examples 10 --seed 0``) on every correct implementation in tests/ and examples/ (the list of
tests/test_fresh.py's detection test) and prints, per implementation, the verdict, the probing time (the
JSON's ``detect_s``) and the declaration found; then the median and maximum.

    .venv/bin/python benchmarks/detect_time.py
    .venv/bin/python benchmarks/detect_time.py --only seed000
    .venv/bin/python benchmarks/detect_time.py --calls    # in process: calls and raising calls per probe

The times depend on the machine's load (a call that raises restarts the sandbox's worker); the counts of
``--calls`` do not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="")
    ap.add_argument("--examples", type=int, default=10)
    ap.add_argument("--calls", action="store_true", help="count the calls of detection in process instead")
    args = ap.parse_args(argv)
    os.chdir(ROOT / "tests")  # the targets are written relative to tests/, as the detection test runs them
    from test_fresh import CORRECT_EVERYWHERE

    if args.calls:
        return _calls({k: v for k, v in CORRECT_EVERYWHERE.items() if args.only in k})

    from crosscheck.check.job import run_check
    from crosscheck.model.presets import resolve_options

    times, passed, rows = [], 0, []
    for name, (target, _declared) in sorted(CORRECT_EVERYWHERE.items()):
        if args.only not in name:
            continue
        report = run_check(target, resolve_options(), examples=args.examples, seed=0, detect="auto")
        times.append(report.detect_s or 0.0)
        passed += report.verdict == "pass"
        rows.append(f"| {name} | {report.verdict} | {report.detect_s:.2f} | `{report.detected}` |")
        print(rows[-1], file=sys.stderr, flush=True)
    print("| implementation | verdict | detect_s | detected |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print()
    print(f"{len(times)} correct implementations, no flags: {passed} pass; detection time median "
          f"{statistics.median(times):.3f} s, max {max(times):.3f} s")
    return 0


def _calls(targets: dict) -> int:
    import inspect

    from test_fresh import _callable

    from crosscheck.check.detect import detect

    calls, raised = [], []
    for name, (target, _declared) in sorted(targets.items()):
        fn = _callable(target)
        n = {"calls": 0, "raised": 0}

        def call(p, X, Y, spec=None, fn=fn, n=n):
            n["calls"] += 1
            try:
                return fn(p, X, Y, spec=spec) if spec is not None else fn(p, X, Y)
            except Exception:
                n["raised"] += 1
                raise

        found = detect(call, spec="spec" in inspect.signature(fn).parameters)
        calls.append(n["calls"])
        raised.append(n["raised"])
        print(f"| {name} | {n['calls']} | {n['raised']} | {found is not None and found.exact} |")
    print(f"{len(calls)} implementations: calls median {statistics.median(calls)}, max {max(calls)}; raising calls "
          f"median {statistics.median(raised)}, max {max(raised)}, total {sum(raised)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
