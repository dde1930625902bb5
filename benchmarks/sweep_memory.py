"""Peak memory of a sweep per parameter draw, against ``crosscheck.sweep.args.estimate_bytes``.

One example's worth of the largest default architecture class (depth 4, widths 5-9, batch 6),
numpy + torch + jax, D draws; the growth of peak RSS over a baseline with both libraries loaded.
docs/measurements.md ("Sweep memory") holds the output.

    .venv/bin/python benchmarks/sweep_memory.py 20000
"""

from __future__ import annotations

import resource
import sys

from crosscheck.backends import get_backend
from crosscheck.sweep import SweepConfig, run_sweep
from crosscheck.sweep.args import BYTES_PER_VALUE_COPIES, estimate_bytes


def main(draws: int) -> None:
    get_backend("torch"), get_backend("jax")  # import both libraries before the baseline
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    cfg = SweepConfig(routes=("recursive",), depth=(4, 4), widths=(5, 9), batch_sizes=(6, 6), draws=draws,
                      examples=2, seed=0)
    r = run_sweep(cfg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"draws {draws}: passed {r.passed}, {r.architectures} architectures of depth 4, widths 5-9, batch 6; "
          f"baseline RSS {base / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB, growth {(peak - base) / draws:.0f} "
          f"B/draw; estimate {estimate_bytes(cfg) / draws:.0f} B/draw ({BYTES_PER_VALUE_COPIES} copies)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
