"""Helpers the benchmarks share: timing, random networks, running a part in a fresh process.

Each benchmark prints its numbers and, with ``--json PATH``, writes them with a ``targets``
list of ``{"target", "goal", "measured", "met"}`` rows that ``run_all.py`` gathers into one table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def best_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """The fastest of ``repeats`` timed calls after ``warmup`` untimed ones (seconds): these
    machines are shared and noisy, and the minimum is the least disturbed run."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def random_network(rng: np.random.Generator, *, depth=(1, 4), widths=(2, 9)):
    """A network as ``crosscheck sweep`` draws them by default: depth 1-4, distinct widths 2-9,
    any activation (per layer), any loss, either reduction, with or without bias."""
    from crosscheck.model.activations import activation_names
    from crosscheck.model.losses import get_loss, loss_names
    from crosscheck.model.network import Network

    k = int(rng.integers(depth[0], depth[1] + 1))
    loss = get_loss(str(rng.choice(loss_names())))
    ws = [int(w) for w in rng.choice(np.arange(widths[0], widths[1] + 1), size=k + 1, replace=False)]
    if loss.output_width:
        ws[-1] = loss.output_width
    ws[-1] = max(ws[-1], loss.min_output_width)
    acts = [str(rng.choice(activation_names())) for _ in range(k)]
    if loss.output_activation:
        acts[-1] = loss.output_activation
    return Network(tuple(ws), tuple(acts), loss=loss.name, reduction=str(rng.choice(["sum", "mean"])),
                   bias=bool(rng.random() < 0.5))


def run_part(script: str, args: list[str], env: dict | None = None, timeout: float = 900) -> dict:
    """Run ``script --part ...`` in a fresh interpreter and return the JSON it prints last.

    A fresh process per part: no part warms another's caches (JAX's per-op and jit caches,
    torch's lazy imports) and torch and JAX never share threads unless a part asks for both."""
    # the tree this script lives in (or env's PYTHONPATH, e.g. a baseline checkout), not whichever
    # checkout an editable install points at
    full_env = dict(os.environ, **{"PYTHONPATH": str(ROOT), **(env or {})})
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def target(name: str, goal: str, measured: str, met: bool | None) -> dict:
    """One row of the target table; ``met`` None when it cannot be measured here."""
    return {"target": name, "goal": goal, "measured": measured, "met": met}


def write_json(path: str | None, data: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2, default=float))


def environment() -> dict:
    """What the numbers depend on: versions, cores, the OpenBLAS settings of this machine."""
    import platform

    info = {"python": platform.python_version(), "numpy": np.__version__, "cores": os.cpu_count(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}
    return info
