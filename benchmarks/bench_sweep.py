"""Issue 6 target 1: ``crosscheck sweep`` against the naive loop, same machine, same run.

The naive loop (docs/measurements.md: 1.7-4 networks/s): for each random network (the sweep's default
ranges: depth 1-4, distinct widths 2-9, batch 1-6, any activation and loss), one parameter
draw, then NumPy backprop (the recursive reference), torch eager autograd, eager jax.grad
(no jit: every new shape compiles its ops), and a comparison of each with the reference.

The sweep: ``crosscheck.sweep.run_sweep(SweepConfig(backends=numpy,torch,jax, ...))``; its
result's ``draws`` ((network, parameter draw) pairs), ``architectures`` (distinct networks)
and ``elapsed_s`` give the two rates. Targets: draws/s >= 100x and architectures/s >= 5x the
naive loop's networks/s (issue 6);
issue 23: at least 100 architectures/s and 2000x the naive loop's draws/s, three-way, float64.

Each part runs in its own fresh process (benchmarks/_common.run_part) and imports are outside
every timer, as they are outside the sweep's ``elapsed_s``.

    .venv/bin/python benchmarks/bench_sweep.py                       # defaults: 20 naive, 200 examples
    .venv/bin/python benchmarks/bench_sweep.py --draws 16,64 --jax-mode auto,native
    .venv/bin/python benchmarks/bench_sweep.py --examples 200,1000 --seed 21 --cache-runs 2 --baseline /tmp/main
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

import numpy as np
from _common import ROOT, environment, random_network, run_part, target, write_json

MEASURED_NAIVE_BEST = 4.0  # networks/s, the top of docs/measurements.md's 1.7-4 for the naive loop


def naive_part(networks: int, seed: int) -> dict:
    from crosscheck.backends.base import canonical_for
    from crosscheck.backends.jax import JaxBackend
    from crosscheck.backends.torch import TorchBackend
    from crosscheck.compare import compare_gradients
    from crosscheck.draws import DrawError, draw
    from crosscheck.model.case import Case
    from crosscheck.reference import recursive

    torch_b, jax_b = TorchBackend(), JaxBackend(jit=False)
    rng = np.random.default_rng(seed)
    done = failed = 0
    t0 = time.perf_counter()
    while done < networks:
        net = random_network(rng)
        m = int(rng.integers(1, 7))
        try:
            d = draw(net, int(rng.integers(2**31)), batch_size=m, draws=1)
        except DrawError:
            continue
        params, X, Y = d.one(0)
        case = Case(net, canonical_for(net), params, X, Y)
        expected = recursive.gradients(net, params, X, Y)
        for backend in (torch_b, jax_b):
            if not compare_gradients(expected, backend.gradients(case)).passed:
                failed += 1
        done += 1
    return {"networks": done, "elapsed_s": time.perf_counter() - t0, "failed": failed}


def sweep_part(examples: int, draws: int | None, seed: int, backends: str, jobs: str = "") -> dict:
    # imports outside the timer, for this tree and a baseline tree alike (the sweep imports
    # hypothesis lazily, inside its elapsed_s)
    import hypothesis  # noqa: F401

    names = backends.split(",")
    counts = {"backend": 0, "hits": 0, "seconds": 0.0}
    if "torch" in names:
        import torch  # noqa: F401
    if "jax" in names:
        import jax.monitoring

        # counted here, independently of the tree's own counts, so a baseline tree is counted too
        def on_duration(event, duration, **_):
            if event == "/jax/core/compile/backend_compile_duration":
                counts["backend"] += 1
            if event.startswith("/jax/core/compile/"):
                counts["seconds"] += duration

        def on_event(event, **_):
            if event == "/jax/compilation_cache/cache_hits":
                counts["hits"] += 1

        jax.monitoring.register_event_duration_secs_listener(on_duration)
        jax.monitoring.register_event_listener(on_event)
    from crosscheck.sweep import DEFAULT_DRAWS, SweepConfig, run_sweep

    # a tree with sweep jobs: auto (its default) or a count; a tree without them ignores this
    extra = {} if not jobs or "jobs" not in SweepConfig.__dataclass_fields__ else \
        {"jobs": None if jobs == "auto" else int(jobs)}
    t0, cpu0 = time.perf_counter(), time.process_time()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_sweep(SweepConfig(backends=tuple(names), examples=examples, draws=draws, seed=seed, **extra))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu += (children.ru_utime - children0.ru_utime) + (children.ru_stime - children0.ru_stime)  # forked jobs
    jax_env = result.environment.get("jax", {})
    jobs_used = result.environment.get("jobs", 1)
    reported = result.to_dict().get("backends", {}).get("jax") or {}
    if jobs_used > 1:  # the forked jobs' compiles happen in their processes: their own counts, summed
        counts = {"backend": reported.get("compiles", 0) + reported.get("cache_hits", 0),
                  "hits": reported.get("cache_hits", 0), "seconds": reported.get("compile_s", 0.0)}
    return {"passed": result.passed, "examples": result.examples, "draws": result.draws,
            "architectures": result.architectures, "cases": result.cases, "elapsed_s": result.elapsed_s,
            "wall_s": wall, "cpu_s": cpu, "draws_per_example": draws or DEFAULT_DRAWS, "jax_mode": jax_env.get("mode"),
            "jax_cache": jax_env.get("compilation_cache"),
            "xla_compiles": counts["backend"] - counts["hits"], "cache_hits": counts["hits"],
            "compile_s": round(counts["seconds"], 3), "jobs": jobs_used,
            "reported": reported}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["naive", "sweep"], help=argparse.SUPPRESS)
    ap.add_argument("--naive", type=int, default=20, help="networks in the naive loop (default 20)")
    ap.add_argument("--examples", default="200", help="comma list of sweep example counts (default 200)")
    ap.add_argument("--draws", default="", help="comma list of draws per example (default: the sweep's)")
    ap.add_argument("--jax-mode", default="auto", help="comma list of JaxBackend modes to sweep with")
    ap.add_argument("--backends", default="numpy,torch,jax")
    ap.add_argument("--jobs", default="auto", help="comma list of sweep job counts (auto: the sweep's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-runs", type=int, default=0,
                    help="run each sweep N times with a fresh persistent cache folder (cold, then warm); "
                         "0: with the cache off")
    ap.add_argument("--baseline", help="a checkout of the baseline (e.g. main) to run the same sweeps with")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    if args.part == "naive":
        print(json.dumps(naive_part(args.naive, args.seed)))
        return 0
    if args.part == "sweep":
        d = int(args.draws) if args.draws else None
        print(json.dumps(sweep_part(int(args.examples), d, args.seed, args.backends, args.jobs)))
        return 0

    print(f"environment: {environment()}")
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    # the naive loop as it always ran: eager jax.grad, no persistent cache (it would store every op)
    naive = run_part("bench_sweep.py", ["--part", "naive", "--naive", str(args.naive), "--seed", str(args.seed)],
                     env={"CROSSCHECK_JAX_CACHE": "off"})
    naive_rate = naive["networks"] / naive["elapsed_s"]
    print(f"naive loop: {naive['networks']} networks in {naive['elapsed_s']:.2f} s = {naive_rate:.2f} networks/s "
          f"(numpy + torch eager + eager jax.grad + compare; {naive['failed']} disagreements)")
    runs = []
    draws_list = [d for d in args.draws.split(",") if d] or [""]
    trees = [("this tree", str(ROOT))] + ([("baseline", args.baseline)] if args.baseline else [])
    with tempfile.TemporaryDirectory() as cache:
        for examples in args.examples.split(","):
            for tree, path in trees:
                for mode, jobs in [(m, j) for m in args.jax_mode.split(",") for j in args.jobs.split(",")]:
                    if tree == "baseline" and jobs != args.jobs.split(",")[0]:
                        continue  # a baseline without sweep jobs runs once
                    for d in draws_list:
                        part = ["--part", "sweep", "--examples", examples, "--seed", str(args.seed),
                                "--backends", args.backends, "--jobs", jobs] + (["--draws", d] if d else [])
                        # the script of this tree, the package of `path`; a fresh cache folder per
                        # tree, run cold then warm (`--cache-runs`), or no persistent cache at all
                        # (the baseline runs as it defaults: main had the persistent cache off)
                        cached = args.cache_runs and tree == "this tree"
                        for i in range(args.cache_runs if cached else 1):
                            env = {"CROSSCHECK_JAX_MODE": mode, "PYTHONPATH": path,
                                   "CROSSCHECK_JAX_CACHE": os.path.join(cache, f"{examples}-{mode}-{jobs}") if cached
                                   else "off" if tree == "this tree" else ""}
                            # a baseline reads its own default cache folder (main's default is on)
                            label = f"{tree}, " + ("default cache" if tree == "baseline" else
                                                   "no cache" if not cached else
                                                   "cold cache" if i == 0 else "warm cache")
                            runs.append((label, mode, run_part("bench_sweep.py", part, env=env)))

    print(f"\n{'sweep run':<44} {'examples':>8} {'draws':>6} {'archs':>6} {'elapsed':>8} "
          f"{'draws/s':>9} {'x naive':>8} {'archs/s':>8} {'x naive':>8} {'compiles':>8} {'hits':>5} {'compile_s':>9} "
          f"{'cpu_s':>6}")
    rows = []
    for label, mode, r in runs:
        dps, aps = r["draws"] / r["elapsed_s"], r["architectures"] / r["elapsed_s"]
        name = f"{label}, D={r['draws_per_example']}" + (f", jax {mode}" if mode != "auto" else "") + \
            (f", {r['jobs']} jobs" if r.get("jobs", 1) > 1 else "")
        print(f"{name:<44} {r['examples']:>8} {r['draws']:>6} {r['architectures']:>6} {r['elapsed_s']:>7.2f}s "
              f"{dps:>9.0f} {dps / naive_rate:>7.0f}x {aps:>8.1f} {aps / naive_rate:>7.1f}x "
              f"{r['xla_compiles']:>8} {r['cache_hits']:>5} {r['compile_s']:>9.2f} {r.get('cpu_s', float('nan')):>6.2f}"
              + ("" if r["passed"] else "  (sweep FAILED)"))
        rows.append({"label": name, **r, "draws_per_s": dps, "architectures_per_s": aps,
                     "draws_ratio": dps / naive_rate, "architectures_ratio": aps / naive_rate})
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    first = rows[0]
    print(f"\nsweep wall time including backend construction: {first['wall_s']:.2f} s "
          f"(elapsed_s {first['elapsed_s']:.2f} s)")
    print(f"against docs/measurements.md's fastest naive figure ({MEASURED_NAIVE_BEST}/s) instead of this run's: "
          f"draws {first['draws_per_s'] / MEASURED_NAIVE_BEST:.0f}x, architectures "
          f"{first['architectures_per_s'] / MEASURED_NAIVE_BEST:.1f}x")
    best = max((r for r in rows if r["label"].startswith("this tree")), key=lambda r: r["architectures_per_s"])
    targets = [
        target("sweep draws/s vs naive loop", ">= 2000x", f"{best['draws_ratio']:.0f}x "
               f"({best['draws_per_s']:.0f} vs {naive_rate:.2f}/s; {best['label']})", best["draws_ratio"] >= 2000),
        target("sweep architectures/s", ">= 100", f"{best['architectures_per_s']:.1f} ({best['label']})",
               best["architectures_per_s"] >= 100),
    ]
    for t in targets:
        print(f"target {t['target']}: {t['goal']}, measured {t['measured']}: {'met' if t['met'] else 'NOT met'}")
    write_json(args.json, {"naive": naive, "naive_rate": naive_rate, "runs": rows, "targets": targets})
    return 0


if __name__ == "__main__":
    sys.exit(main())
