"""The layer check on the fresh layer set (tests/fresh/layers, issue 18): per file, whether the mistake
is caught, whether its right name comes first or second, or only ``wrong_values``; every correct file
must pass. Also the time the diagnosis of a failing layer takes (``_diagnosed``, timed around the call).

    python benchmarks/fresh_layers_confusion.py [--examples 30] [--seed 0] [--holdout]

``--holdout``: the six mistakes of tests/fresh/layers/holdout, written after the diagnosis changed and
with no catalogue entry made for them; "described" counts a first diagnosis other than a bare
``wrong_values`` (it names the output and how it departs).

Prints one row per file and the confusion table (markdown) that docs/measurements.md records."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # this checkout's crosscheck, not an installed one
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "fresh", "layers"))
from manifest import CORRECT, FRESH, path  # noqa: E402

import crosscheck.layers.check as layer_check  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--holdout", action="store_true")
    args = ap.parse_args()
    fresh, locate, correct = FRESH, path, CORRECT
    if args.holdout:
        folder = os.path.join(os.path.dirname(HERE), "tests", "fresh", "layers", "holdout")
        sys.path.insert(0, folder)
        from holdout_manifest import HOLDOUT

        fresh, correct = HOLDOUT, {}
        locate = lambda stem: os.path.join(folder, stem + ".py")  # noqa: E731
    timings: list[float] = []
    original = layer_check._diagnosed

    def timed(*a, **k):
        t0 = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            timings.append(time.perf_counter() - t0)

    layer_check._diagnosed = timed
    counts = {"caught": 0, "first": 0, "second": 0, "wrong_values": 0, "other": 0}
    rows = []
    elapsed: list[float] = []
    for stem, (layer, dp, right) in fresh.items():
        report = layer_check.check_layers(locate(stem), layers=layer, dropout_p=dp, examples=args.examples,
                                          seed=args.seed)
        v = report.layer(layer)
        elapsed.append(report.elapsed)
        ids = [d["id"] for d in v.diagnosis]
        caught = v.verdict == "fail"
        counts["caught"] += caught
        if ids[:1] and ids[0] in right:
            where = "first"
        elif len(ids) > 1 and ids[1] in right:
            where = "second"
        elif ids and ids[0] == "wrong_values":
            where = "wrong_values"
        else:
            where = "other"
        if caught:
            counts[where] += 1
        rows.append((stem, layer, v.verdict, where if caught else "-", ", ".join(ids[:3])))
    correct_fail = []
    for stem, dp in correct.items():
        report = layer_check.check_layers(path(stem), dropout_p=dp, examples=args.examples, seed=args.seed)
        if report.exit_code != 0:
            correct_fail.append(f"{stem}: " + ", ".join(v.name for v in report.layers if v.verdict != "pass"
                                                         and v.verdict != "missing"))
    width = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"{r[0]:{width}s}  {r[1]:17s}  {r[2]:5s}  {r[3]:12s}  {r[4]}")
    n = len(fresh)
    named = counts["first"] + counts["second"]
    print()
    print("| mistakes | caught | named right first | second | wrong_values only | other name | correct files "
          "passing |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {n} | {counts['caught']} | {counts['first']} | {counts['second']} | {counts['wrong_values']} | "
          f"{counts['other']} | {len(correct) - len(correct_fail)} of {len(correct)} |")
    described = sum(1 for r in rows if r[2] == "fail" and not r[4].startswith("wrong_values"))
    print(f"\ncaught with a first diagnosis other than a bare wrong_values: {described} of {n}")
    print(f"\nnamed right first or second: {named} of {n} ({100 * named / n:.0f}%)")
    if timings:
        print(f"diagnosis time per failing layer: median {1000 * statistics.median(timings):.1f} ms, "
              f"max {1000 * max(timings):.1f} ms ({len(timings)} failing layers); the whole check of that layer: "
              f"median {statistics.median(elapsed):.2f} s, max {max(elapsed):.2f} s")
    for f in correct_fail:
        print("correct file FAILED:", f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
