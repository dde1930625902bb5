"""A sweep on several cores: the same examples, split between forked jobs, one result.

Hypothesis runs one example at a time, so a sweep is one core's work. ``jobs`` > 1 forks that many
processes, each running the whole sweep's hypothesis search (the same seed, so the same examples
in the same order) but checking only its own share of them (``shard``: job ``j`` of ``J`` checks
example ``i`` when ``i % J == j``, inside the caller's own ``--shard I/N``), and merges their
results: the examples checked, the draws, the cases, the coverage and the distinct architectures
are exactly those of one job doing all the work (``tests/test_sweep_jobs.py``). Generating an
example is a fifth of its cost (docs/measurements.md), so two jobs check 1.6-1.7x as many
examples per second as one on a 2-core machine.

A job that fails keeps checking every example from then on, so hypothesis shrinks its failure as
far as one job alone would; every job's failure is reported.

Forking is safe only before JAX has started its runtime (its threads do not survive a fork) and
off CUDA, so ``jobs=None`` (auto) runs one job there, inside a pytest-xdist worker (the cores are
taken), for fewer than ``EXAMPLES_PER_JOB`` examples a job, and where ``fork`` does not exist;
a job count asked for explicitly where it cannot fork is a ``UsageError``.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import time
from dataclasses import replace

from ..errors import CrosscheckError, UsageError
from .config import SweepConfig
from .covering import missing
from .result import SweepResult

__all__ = ["resolve_jobs", "run_jobs", "job_shard", "EXAMPLES_PER_JOB", "MAX_AUTO_JOBS"]

EXAMPLES_PER_JOB = 50  # below this a job's start (JAX's program, ~0.5 s) costs more than it saves
MAX_AUTO_JOBS = 8  # every job generates every example: past a few jobs generation dominates


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cannot_fork(config: SweepConfig) -> str | None:
    """Why this process cannot fork sweep jobs safely, or None."""
    if not hasattr(os, "fork") or sys.platform != "linux":
        return f"fork is not safe on {sys.platform}"
    if config.device != "cpu":
        return "a CUDA runtime does not survive a fork"
    if "jax" in sys.modules:
        try:
            from jax._src import xla_bridge

            if xla_bridge.backends_are_initialized():
                return "JAX's runtime is already started in this process (its threads do not survive a fork)"
        except (ImportError, AttributeError):
            return "cannot tell whether JAX's runtime is started"
    return None


def resolve_jobs(config: SweepConfig, examples: int) -> tuple[int, str]:
    """``(jobs, why)``: how many jobs this sweep runs, and the reason where auto chose one."""
    why_not = _cannot_fork(config)
    if config.jobs is not None:
        if config.jobs > 1 and why_not:
            raise UsageError(f"--jobs {config.jobs}: cannot fork sweep jobs here: {why_not}; use --jobs 1")
        return config.jobs, ""
    if why_not:
        return 1, why_not
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return 1, "inside a pytest-xdist worker (its cores are taken)"
    jobs = min(usable_cpus(), MAX_AUTO_JOBS, examples // EXAMPLES_PER_JOB)
    if jobs <= 1:
        return 1, "one core" if usable_cpus() == 1 else f"{examples} examples (a job pays off from " \
                                                     f"{2 * EXAMPLES_PER_JOB})"
    return jobs, ""


def job_shard(shard: tuple[int, int] | None, job: int, jobs: int) -> tuple[int, int]:
    """Job ``job`` (0-based) of ``jobs`` inside the caller's shard ``(I, N)``: the shard
    ``(I + N job, N jobs)``, so example ``i`` is checked when ``i % N == I - 1`` and
    ``(i // N) % jobs == job``."""
    i, n = shard or (1, 1)
    return i + n * job, n * jobs


def run_jobs(config: SweepConfig, jobs: int, sweep_class, progress: bool) -> SweepResult:
    """Run ``config`` as ``jobs`` forked jobs (this process is job 0) and merge their results."""
    t0 = time.perf_counter()
    children: list[tuple[int, int]] = []  # (pid, read end of its pipe)
    try:
        for job in range(1, jobs):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: run its share, send the result, exit without cleanup
                os.close(read)
                _child(replace(config, shard=job_shard(config.shard, job, jobs), jobs=1), sweep_class, write)
            os.close(write)
            children.append((pid, read))
        own = sweep_class(replace(config, shard=job_shard(config.shard, 0, jobs), jobs=1), progress)
        results = [own.run_collect()]
        for job, (pid, read) in enumerate(children, start=1):
            results.append(_receive(pid, read, job, jobs))
        children = []
    finally:
        for pid, read in children:  # interrupted, or a job failed: no job outlives the sweep
            _stop(pid, read)
    merged = merge(config, results, jobs)
    merged.elapsed_s = time.perf_counter() - t0
    return merged


def _child(config: SweepConfig, sweep_class, write: int) -> None:
    code = 0
    try:
        _die_with_parent()
        if "torch" in sys.modules:  # one core per job; and a forked OpenMP pool must not be used
            sys.modules["torch"].set_num_threads(1)
        payload = ("ok", sweep_class(config, False).run_collect())
    except BaseException as e:  # noqa: BLE001 - every outcome goes back to the parent
        payload = ("error", (type(e).__name__, str(e), isinstance(e, UsageError)))
        code = 1
    try:
        data = pickle.dumps(payload)
        with os.fdopen(write, "wb") as f:
            f.write(data)
    finally:
        os._exit(code)


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: a killed sweep takes its jobs with it
    except (OSError, AttributeError):
        pass


def _receive(pid: int, read: int, job: int, jobs: int):
    with os.fdopen(read, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    who = f"sweep job {job + 1} of {jobs}"
    if not data:
        if os.WIFSIGNALED(status):
            raise CrosscheckError(f"{who} died with signal {os.WTERMSIG(status)} before reporting "
                                  "(run with --jobs 1 to see it in this process)")
        raise CrosscheckError(f"{who} exited with status {os.waitstatus_to_exitcode(status)} before reporting")
    kind, body = pickle.loads(data)
    if kind == "error":
        name, message, usage = body
        raise (UsageError if usage else CrosscheckError)(f"{who} raised {name}: {message}")
    return body


def _stop(pid: int, read: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    try:
        os.close(read)
    except OSError:
        pass


def merge(config: SweepConfig, parts: list, jobs: int) -> SweepResult:
    """One result from the jobs' ``(result, seen_networks, indices)``: what one job checking every
    example would have reported (job 0's environment; every job's failures and notes)."""
    first = parts[0][0]
    out = SweepResult(config, skipped_backends=first.skipped_backends)
    seen: set[str] = set()
    fingerprints: list[tuple[int, str]] = []
    coverage: dict[str, set] = {}
    native: dict[str, set] = {}
    for result, networks, indices in parts:
        out.passed &= result.passed
        for name in ("cases", "draws", "examples", "route_checks"):
            setattr(out, name, getattr(out, name) + getattr(result, name))
        out.failures += result.failures
        seen |= networks
        fingerprints += zip(indices, result.fingerprints)
        for key, values in result.coverage.items():
            if key == "native":
                for backend, convs in values.items():
                    native.setdefault(backend, set()).update(convs)
            elif key not in ("routes", "backends", "missing"):
                coverage.setdefault(key, set()).update(values)
        for cell, worst in result.table.items():
            mine = out.table.setdefault(cell, {})
            for k, v in worst.items():
                mine[k] = max(mine.get(k, 0.0), v)
        for name, n in result.skipped_routes.items():
            out.skipped_routes[name] = out.skipped_routes.get(name, 0) + n
        _merge_notes(out.notes, result.notes)
        _merge_stats(out.backend_stats, result.backend_stats)
    out.fingerprints = [fp for _, fp in sorted(fingerprints)]
    out.architectures = len(seen)
    out.coverage = {"routes": first.coverage.get("routes", []), "backends": first.coverage.get("backends", []),
                    **{k: sorted(v) for k, v in coverage.items()},
                    "native": {b: sorted(v) for b, v in native.items()}}
    out.coverage["missing"] = missing(out.coverage, config.activations, config.losses)
    out.environment = dict(first.environment, jobs=jobs)
    return out


def _merge_notes(notes: list, more: list) -> None:
    for note in more:
        if note["kind"] == "float32_rounding":
            old = next((n for n in notes if n["kind"] == note["kind"] and n["backend"] == note["backend"]), None)
            if old is None:
                notes.append(dict(note))
            else:
                count = old["count"] + note["count"]
                if note["size"] > old["size"]:
                    old.update(note)
                old["count"] = count
            continue
        key = (note["kind"], note["backend"], note["detail"])
        if all((n["kind"], n["backend"], n["detail"]) != key for n in notes):
            notes.append(note)


def _merge_stats(stats: dict, more: dict) -> None:
    """Compile counts add up over the jobs (each process traces or reads its own program)."""
    for backend, s in more.items():
        mine = stats.setdefault(backend, {})
        for k, v in s.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, list, dict)):
                mine.setdefault(k, v)
            elif isinstance(v, list):
                mine[k] = sorted(set(mine.get(k, [])) | set(v))
            elif isinstance(v, dict):
                inner = mine.setdefault(k, {})
                for name, n in v.items():
                    inner[name] = inner.get(name, 0) + n
            else:
                mine[k] = round(mine.get(k, 0) + v, 4)
