"""How much of a three-way sweep is hypothesis itself: the same sweep with each example's check
replaced by a no-op, against the real one, in one process after a short warm-up.

    python benchmarks/sweep_hypothesis_share.py [--examples 1000] [--seed 21]
"""

from __future__ import annotations

import argparse
import time

from _common import ROOT  # noqa: F401  (puts the checkout first on sys.path)


def timed(examples: int, seed: int) -> tuple[float, float]:
    from crosscheck.sweep.run import SweepConfig, run_sweep

    wall, cpu = time.perf_counter(), time.process_time()
    run_sweep(SweepConfig(backends=("numpy", "torch", "jax"), examples=examples, seed=seed))
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args()
    import hypothesis  # noqa: F401  (imports outside the timer)
    import jax  # noqa: F401
    import torch  # noqa: F401

    from crosscheck.sweep import run

    timed(20, 3)  # warm-up: imports, JAX's program from the persistent cache
    full = timed(args.examples, args.seed)
    run._Sweep.check = lambda self, *arch: None  # everything but the checks: drawing and the engine
    bare = timed(args.examples, args.seed)
    print(f"{args.examples} examples, seed {args.seed}: sweep {full[0]:.2f} s (cpu {full[1]:.2f}), "
          f"hypothesis alone {bare[0]:.2f} s (cpu {bare[1]:.2f}): {bare[0] / full[0]:.0%} of the sweep, "
          f"checks {(full[0] - bare[0]) / args.examples * 1e3:.1f} ms per example")


if __name__ == "__main__":
    main()
