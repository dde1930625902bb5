"""The confusion table of the fresh network-level set (``tests/fresh``, issue 18).

Runs ``crosscheck check TARGET <declared flags> --examples 30 --seed 0 --json`` on every entry of
``tests/fresh`` (from ``tests/``, as a user would) and tabulates: caught (exit 1), named right first,
named right second, and verdicts whose first diagnosis is ``unknown`` or that end in exit 3; whether the
first diagnosis names a layer and a quantity; and the time the failing checks spent diagnosing (the
JSON's ``diagnosis_s``, where this version of crosscheck reports it).

    .venv/bin/python benchmarks/fresh_confusion.py                 # prints the markdown table
    .venv/bin/python benchmarks/fresh_confusion.py --only cs231n   # entries whose name contains 'cs231n'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fresh import CORRECT, MISTAKES, Fresh  # noqa: E402


def flags(options: dict) -> list[str]:
    out = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag if value else "--no-" + key.replace("_", "-"))
        else:
            out += [flag, str(value)]
    return out


def run(entry: Fresh, examples: int = 30, seed: int = 0) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "verdict.json"
        argv = [sys.executable, "-m", "crosscheck", "check", entry.target, *flags(entry.options),
                "--examples", str(examples), "--seed", str(seed), "--json", str(out)]
        t = time.perf_counter()
        # this tree's crosscheck, unless PYTHONPATH names another (the "before" table ran main's copy)
        env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH") or str(ROOT)}
        proc = subprocess.run(argv, cwd=ROOT / "tests", capture_output=True, text=True, timeout=600, env=env)
        wall = time.perf_counter() - t
        verdict = json.loads(out.read_text()) if out.exists() else {}
    diagnosis = verdict.get("diagnosis") or []
    return {"exit": proc.returncode, "ids": [d["id"] for d in diagnosis], "first": diagnosis[0] if diagnosis else None,
            "diagnosis_s": verdict.get("diagnosis_s"), "wall_s": wall,
            "error": (verdict.get("error") or {}).get("message", "") or proc.stderr.strip()[-200:]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="")
    ap.add_argument("--examples", type=int, default=30)
    args = ap.parse_args(argv)
    rows, stats = [], {"mistakes": 0, "caught": 0, "first": 0, "second": 0, "unknown": 0, "located": 0,
                       "correct": 0, "passed": 0}
    times = []
    for name, entry in {**MISTAKES, **CORRECT}.items():
        if args.only not in name:
            continue
        r = run(entry, args.examples)
        if entry.expected:
            stats["mistakes"] += 1
            ids = r["ids"]
            caught = r["exit"] == 1
            first = caught and bool(ids) and ids[0] in entry.expected
            second = caught and not first and len(ids) > 1 and ids[1] in entry.expected
            unknown = r["exit"] == 3 or (bool(ids) and ids[0] == "unknown")
            d = r["first"] or {}
            located = caught and bool(ids) and ids[0] != "unknown" and bool(d.get("layer")) and bool(d.get("parameter"))
            stats["caught"] += caught
            stats["first"] += first
            stats["second"] += second
            stats["unknown"] += unknown
            stats["located"] += located
            if r["diagnosis_s"] is not None and caught:
                times.append(r["diagnosis_s"])
            given = ", ".join(ids[:2]) if ids else (f"exit 3: {r['error'][:70]}" if r["exit"] == 3 else "(pass)")
            right = "first" if first else "second" if second else "no"
            where = f"{d.get('parameter', '')} (layer {d.get('layer', '')})" if d else ""
            rows.append(f"| {name} | {entry.expected[0]} | {r['exit']} | {given} | {right} | {where} |")
        else:
            stats["correct"] += 1
            stats["passed"] += r["exit"] == 0
            given = "(pass)" if r["exit"] == 0 else ", ".join(r["ids"][:2]) or f"exit {r['exit']}"
            rows.append(f"| {name} | (pass) | {r['exit']} | {given} | {'yes' if r['exit'] == 0 else 'no'} | |")
        print(rows[-1], file=sys.stderr, flush=True)
    s = stats
    print("| entry | expected | exit | given (first, second) | named right | first diagnosis at |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    named = s["first"] + s["second"]
    print(f"mistakes: {s['mistakes']}; caught (exit 1) {s['caught']}; named right first {s['first']}, second "
          f"{s['second']} ({named}/{s['mistakes']} = {100 * named / max(s['mistakes'], 1):.0f}%); first diagnosis "
          f"unknown or exit 3: {s['unknown']}; first diagnosis names a layer and a quantity (not unknown): "
          f"{s['located']}")
    print(f"correct implementations: {s['correct']}; passed {s['passed']}")
    if times:
        print(f"diagnosis time of the failing checks: median {statistics.median(times):.3f} s, max {max(times):.3f} s "
              f"({len(times)} checks)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
