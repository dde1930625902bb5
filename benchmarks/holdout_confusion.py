"""The confusion table of the held-out network set (``tests/holdout``, issue 18's held-out score).

Runs ``crosscheck check TARGET <declared flags> --seed 0 --examples 30 --json`` on every entry of
``tests/holdout`` (from the repository root, as a user would) and tabulates, for the wrong ones:
caught (exit 1), exit 3, passed wrongly (exit 0), the first diagnosis id, named right first or second
(by the manifest's ``expected`` ids), a first diagnosis that is a bare ``unknown`` or names no layer;
for the correct ones: passed; and the wall time per check and the JSON's ``diagnosis_s``.

    .venv/bin/python benchmarks/holdout_confusion.py                # prints the markdown table
    .venv/bin/python benchmarks/holdout_confusion.py --only nielsen --json out.json
    .venv/bin/python benchmarks/holdout_confusion.py --detect     # the correct ones, no convention flags
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
sys.path.insert(0, str(ROOT))

from tests.holdout import NETWORK, TWIN  # noqa: E402


def run(entry: dict, examples: int = 30, seed: int = 0, detect: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "verdict.json"
        flags = undeclared(entry["flags"]) if detect else entry["flags"]
        argv = [sys.executable, "-m", "crosscheck", "check", entry["target"], *flags,
                "--seed", str(seed), "--examples", str(examples), "--json", str(out)]
        t = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH") or str(ROOT)}
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        wall = time.perf_counter() - t
        verdict = json.loads(out.read_text()) if out.exists() else {}
    diagnosis = verdict.get("diagnosis") or []
    first = diagnosis[0] if diagnosis else None
    lines = proc.stdout.splitlines()
    return {"name": entry["name"], "correct": entry["correct"], "exit": proc.returncode,
            "ids": [d["id"] for d in diagnosis],
            "diagnosis": [{k: d.get(k) for k in ("id", "parameter", "layer", "detail")} for d in diagnosis],
            "first": first, "expected": list(entry["expected"]), "mistake": entry["mistake"],
            "diagnosis_s": verdict.get("diagnosis_s"), "wall_s": round(wall, 2),
            "detected": verdict.get("detected"),
            "headline": lines[0] if lines else proc.stderr.strip()[-200:],
            "error": (verdict.get("error") or {}).get("message", "") if isinstance(verdict.get("error"), dict)
            else str(verdict.get("error") or "")}


_PENALTY = ("--l2", "--l1", "--penalty-form")


def undeclared(flags: list[str]) -> list[str]:
    """The flags less every convention and network declaration (penalties are declared, never detected)."""
    pairs = list(zip(flags[::2], flags[1::2]))
    return [x for key, value in pairs if key in _PENALTY for x in (key, value)]


def _same(key: str, found: str, truth: dict) -> bool:
    """A detected network option that gives the declared gradients: soft targets hold one-hot and 0/1 ones,
    and for one sample (batch single) sum and mean are the same reduction."""
    if key == "targets" and found == "soft" and truth[key] in ("onehot", "binary"):
        return True
    if key == "reduction" and truth["batch"] == "single" and {found, truth[key]} == {"sum", "mean"}:
        return True
    return found == truth[key]


def detection(rows: list[dict]) -> str:
    """The correct entries checked with no convention flags: what was detected against what is true."""
    from tests.holdout.verify import declared

    out = ["| entry | exit | convention found | network found (all/part/none) | detected | check s |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        entry = next(e for e in NETWORK if e["name"] == r["name"])
        truth = declared(entry["flags"])
        text = (r.get("detected") or "").split(" (")[0].split()
        found = {k[2:].replace("-", "_"): v for k, v in zip(text[::2], text[1::2])}
        conv = all(found.get(k) == truth[k] for k in ("batch", "weights", "bias", "params"))
        net_keys = [k for k in ("hidden", "output", "loss", "reduction", "targets") if truth.get(k)]
        if not all(_same(k, found[k], truth) for k in net_keys if k in found):
            net = "WRONG"
        else:
            n_found = sum(k in found for k in net_keys)
            net = "all" if n_found == len(net_keys) else "part" if n_found else "none"
        out.append(f"| {r['name']} | {r['exit']} | {'yes' if conv else 'NO'} | {net} | "
                   f"{r.get('detected') or '—'} | {r['wall_s']:.1f} |")
    passed = sum(r["exit"] == 0 for r in rows)
    out += ["", f"correct entries checked with no convention flags: {len(rows)}; passed {passed}"]
    return "\n".join(out)


def named(row: dict) -> str:
    """'1st', '2nd' or '' (the manifest's expected ids against the first two diagnoses)."""
    ids = row["ids"]
    if ids[:1] and ids[0] in row["expected"]:
        return "1st"
    if len(ids) > 1 and ids[1] in row["expected"]:
        return "2nd"
    return ""


def bare(row: dict) -> bool:
    """A failing verdict whose first diagnosis is 'unknown' or names no layer."""
    first = row["first"]
    return row["exit"] == 1 and (first is None or first["id"] == "unknown" or first.get("layer") is None)


def table(rows: list[dict]) -> str:
    out = ["| entry | exit | first diagnosis (layer) | second | named right | kind seen | check s |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        first = r["first"]
        f = f"{first['id']} ({first.get('layer')})" if first else "—"
        second = r["ids"][1] if len(r["ids"]) > 1 else "—"
        right = "correct: " + ("passes" if r["exit"] == 0 else "FAILS") if r["correct"] else (named(r) or "no")
        seen = "" if r["correct"] else ("yes" if TWIN[r["name"]] else "no")
        out.append(f"| {r['name']} | {r['exit']} | {f} | {second} | {right} | {seen} | {r['wall_s']:.1f} |")
    return "\n".join(out)


def summary(rows: list[dict]) -> str:
    wrong = [r for r in rows if not r["correct"]]
    correct = [r for r in rows if r["correct"]]
    caught = [r for r in wrong if r["exit"] == 1]
    first = sum(named(r) == "1st" for r in wrong)
    second = sum(named(r) == "2nd" for r in wrong)
    walls = [r["wall_s"] for r in rows]
    diag = [r["diagnosis_s"] for r in caught if r["diagnosis_s"] is not None]
    lines = [
        f"wrong: {len(wrong)}; caught (exit 1) {len(caught)}, exit 3 {sum(r['exit'] == 3 for r in wrong)}, "
        f"passed wrongly (exit 0) {sum(r['exit'] == 0 for r in wrong)}",
        f"named right first {first}/{len(wrong)}, first or second {first + second}/{len(wrong)}",
        *(f"  kinds {label}: named right first or second {sum(bool(named(r)) for r in part)}/{len(part)}"
          for label, part in (("with a twin in tests/fresh or tests/students", [r for r in wrong if TWIN[r["name"]]]),
                              ("with no twin there", [r for r in wrong if not TWIN[r["name"]]])) if part),
        f"first diagnosis a bare unknown or no layer: {sum(bare(r) for r in wrong)}/{len(caught)} caught",
        f"correct: {len(correct)}; passed {sum(r['exit'] == 0 for r in correct)}",
        f"check wall time: median {statistics.median(walls):.1f} s, max {max(walls):.1f} s"
        + (f"; diagnosing (diagnosis_s, failing checks): median {statistics.median(diag):.2f} s, "
           f"max {max(diag):.2f} s" if diag else ""),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="entries whose name contains this")
    ap.add_argument("--examples", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write every row here")
    ap.add_argument("--detect", action="store_true",
                    help="check the correct entries with no convention or network flags (penalties kept)")
    ap.add_argument("--rows", help="tabulate rows a previous --json wrote (no checks run)")
    args = ap.parse_args(argv)
    rows = json.loads(Path(args.rows).read_text()) if args.rows else []
    for entry in [] if args.rows else NETWORK:
        if args.only in entry["name"] and (entry["correct"] or not args.detect):
            rows.append(run(entry, args.examples, args.seed, args.detect))
            print(f"{rows[-1]['name']}: exit {rows[-1]['exit']} {rows[-1]['ids'][:2]} "
                  f"{rows[-1]['wall_s']:.1f} s", file=sys.stderr, flush=True)
    if args.detect:
        print(detection(rows))
    else:
        print(table(rows))
        print()
        print(summary(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
