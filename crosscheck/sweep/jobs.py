"""A sweep on several cores: this process generates the examples, forked jobs check them.

Hypothesis runs one example at a time, so a sweep is one core's work, and generating an example is
a fifth of its cost (docs/measurements.md). With ``jobs`` > 1 this process walks hypothesis's
search (``crosscheck.sweep.search``) with a test that passes every example and sends each one, a
chunk at a time, to ``jobs`` forked processes that check them as they arrive (each starts its
backends, e.g. JAX's program, while the first examples are being generated). A search is
deterministic in its seed and its test's outcomes, so these are exactly the examples one process
checks, in the same order, and the merged result has the same examples, draws, cases, coverage
and distinct architectures (``tests/test_sweep_jobs.py``). One exception: an example with no valid
values (``draws.DrawError``, rare) is skipped by a job, where one process rejects it and hypothesis
draws another, so the two sequences part there.

A failure is shrunk as one process shrinks it: the jobs report the first failing example (in
the search's order), and this process walks the same search again, checking every example no job
passed; it meets that example first and hypothesis shrinks it. (A covering example is reported
unshrunk, as in one process.) The minimal case is then the one a single process reports.

Forking is safe only before JAX has started its runtime (its threads do not survive a fork) and
off CUDA, so ``jobs=None`` (auto) runs one process there, inside a pytest-xdist worker (the cores
are taken), and for fewer than ``EXAMPLES_PER_JOB`` examples a job; a job count asked for
explicitly where forking is unsafe is a ``UsageError``. A job that raises or dies is an error,
never a pass.
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import sys
import time
from dataclasses import replace

from ..errors import CrosscheckError, UsageError
from .config import DEFAULT_DRAWS, SweepConfig
from .covering import missing
from .result import SweepResult, add_note, fingerprint

__all__ = ["resolve_jobs", "run_jobs", "merge", "EXAMPLES_PER_JOB", "MAX_AUTO_JOBS"]

EXAMPLES_PER_JOB = 50  # below this a job's start (JAX's program, ~0.5 s) costs more than it saves
MAX_AUTO_JOBS = 8  # one process generates for all: past ~8 jobs generation is the bottleneck


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


def _in_shard(shard: tuple[int, int] | None, index: int) -> bool:
    return shard is None or index % shard[1] == shard[0] - 1


CHUNK = 8  # examples per message to a job: a job starts on its first chunk while this process generates on


def run_jobs(config: SweepConfig, jobs: int, sweep_class, progress: bool, t0: float | None = None,
             preloaded: dict | None = None) -> SweepResult:
    """Generate ``config``'s examples here and check them in ``jobs`` forked jobs; merge their
    results, and shrink the first failure (module docstring)."""
    from .search import search, search_plan

    t0 = time.perf_counter() if t0 is None else t0
    job_config = replace(config, shard=None, jobs=1)  # this process picks the shard's examples
    children: list[tuple[int, int, int]] = []  # (pid, write end of its examples, read end of its result)
    sender = None
    try:
        for _ in range(jobs):
            examples_r, examples_w = os.pipe()
            result_r, result_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the job: check what arrives, send the result, exit without cleanup
                for _, w, r in children:  # the other jobs' pipes stay theirs
                    os.close(w)
                    os.close(r)
                os.close(examples_w)
                os.close(result_r)
                _job(job_config, sweep_class, examples_r, result_w, preloaded or {})
            os.close(examples_r)
            os.close(result_w)
            _small_pipe(examples_w)
            children.append((pid, examples_w, result_r))
        plan = search_plan(config)
        sender = _Sender([w for _, w, _ in children], config.shard, plan.max_examples, progress)
        try:
            for arch in plan.first:
                sender.send(arch)
            search(plan, config.seed, sender.send)
        finally:
            sender.close()
        parts = []
        while children:  # each job's result read (its pipe closed, the job reaped) before the next
            pid, _, r = children.pop(0)
            parts.append(_receive(pid, r, len(parts), jobs))
    finally:
        for pid, w, r in children:  # interrupted, or a job failed: no job outlives the sweep
            _stop(pid, r, *(() if sender is not None else (w,)))  # the sender closes what it got
    merged = merge(config, [(p["result"], p["networks"], p["indices"]) for p in parts], jobs)
    failed = [p for p in parts if p["failure"] is not None]
    if failed:
        first = min(failed, key=lambda p: p["failed_at"])
        merged.passed = False
        merged.failures = [_shrunk(config, sweep_class, plan, first, parts) or first["failure"]]
    merged.elapsed_s = time.perf_counter() - t0
    return merged


class _Sender:
    """This process's side: every example of the search gets its index; those of this shard go,
    a chunk at a time, to the jobs in turn."""

    def __init__(self, pipes: list[int], shard, total: int, progress: bool) -> None:
        self.pipes, self.shard, self.total = pipes, shard, total
        self.index = 0
        self.chunk: list = []
        self.turn = 0
        self.sent = 0
        self.line = None
        if progress:
            from ..terminal import Progress

            self.line = Progress("  sweep", enabled=True)

    def send(self, arch: tuple) -> None:
        index = self.index
        self.index += 1
        if not _in_shard(self.shard, index):
            return
        self.chunk.append((index, arch))
        if len(self.chunk) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self.chunk:
            return
        data = pickle.dumps(self.chunk)
        # the next job whose queue has room, in turn: a job that runs ahead gets more (the queues
        # are kept short, _small_pipe), so the jobs finish together
        order = self.pipes[self.turn % len(self.pipes):] + self.pipes[:self.turn % len(self.pipes)]
        _, ready, _ = select.select([], order, [])
        w = next(p for p in order if p in ready)
        self.turn = self.pipes.index(w) + 1
        try:
            os.write(w, len(data).to_bytes(8, "little"))
            _write_all(w, data)
        except BrokenPipeError:
            pass  # the job died: receiving its result says so
        self.sent += len(self.chunk)
        self.chunk = []
        if self.line is not None:
            total = self.total if not self.shard else -(-self.total // self.shard[1])
            self.line.update(min(self.sent, total), total, "examples")

    def close(self) -> None:
        self._flush()
        for w in self.pipes:
            os.close(w)
        if self.line is not None:
            self.line.close()


def _small_pipe(fd: int) -> None:
    """One page of room (Linux: F_SETPIPE_SZ), not 64 KiB: about two chunks (a chunk of 8
    examples pickles to ~1.5 KB), so a job's queue stays short, the examples go to whichever job
    is free and the jobs finish within a chunk of each other (16 KiB held ~10 chunks, and one job
    finished up to 0.2 s after the other in a 200-example sweep)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
    except (OSError, ImportError):
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(f, n: int) -> bytes | None:
    data = f.read(n)
    return data if data is not None and len(data) == n else None


def _job(config: SweepConfig, sweep_class, examples_r: int, result_w: int, preloaded: dict) -> None:
    code = 0
    try:
        _die_with_parent()
        # the sweep's process answers Ctrl-C and SIGTERM (and stops the jobs): a job just ends
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        gc.freeze()  # what the parent made is never garbage here: collections skip it (and its pages)
        if "torch" in sys.modules:  # one core per job; and a forked OpenMP pool must not be used
            sys.modules["torch"].set_num_threads(1)
        from hypothesis.errors import UnsatisfiedAssumption

        from .result import failure_report

        sweep = sweep_class(config, False)
        for backend in sweep.backends:  # started now, while the first examples are generated
            if backend.name in preloaded and hasattr(backend, "adopt"):
                backend.adopt(preloaded[backend.name])
            if hasattr(backend, "warm_up"):
                backend.warm_up(config.dtype, config.draws or DEFAULT_DRAWS)
        failed_at, failure = None, None
        with os.fdopen(examples_r, "rb") as f:
            while (head := _read_exactly(f, 8)) is not None:
                chunk = pickle.loads(_read_exactly(f, int.from_bytes(head, "little")) or b"")
                for index, arch in chunk:
                    if failure is not None:
                        continue  # the first failure is all a sweep reports: the rest is not checked
                    sweep.index = index
                    try:
                        sweep.check(*arch)
                    except UnsatisfiedAssumption:  # no valid values for it: not a case
                        continue
                    except AssertionError:
                        failed_at, failure = index, failure_report(config, sweep.last_failure)
        result = sweep._finish()
        result.passed = failure is None
        payload = ("ok", {"result": result, "networks": sweep.seen_networks, "indices": sweep.indices,
                          "failed_at": failed_at, "failure": failure,
                          "passed": set(result.fingerprints)})
    except BaseException as e:  # noqa: BLE001 - every outcome goes back to the parent
        payload = ("error", (type(e).__name__, str(e), isinstance(e, UsageError)))
        code = 1
    try:
        with os.fdopen(result_w, "wb") as f:
            f.write(pickle.dumps(payload))
    finally:
        os._exit(code)


def _shrunk(config: SweepConfig, sweep_class, plan, first: dict, parts: list) -> dict | None:
    """The first failure, shrunk: hypothesis's search walked again with the same seed, checking in
    this process every example no job passed (the failing one first, then hypothesis's smaller
    candidates). None when the failure was a covering example (not shrunk, as in one process) or
    the walk did not meet it again."""
    from hypothesis.errors import UnsatisfiedAssumption

    from .result import failure_report
    from .search import search

    if first["failed_at"] < len(plan.first):
        return None
    passed = set().union(*(p["passed"] for p in parts))
    failing = first["failure"]
    shard = config.shard
    sweep = sweep_class(replace(config, shard=None, jobs=1), False)
    state = {"index": len(plan.first), "failing": False}

    def check_again(arch):
        index = state["index"]
        state["index"] += 1
        if not state["failing"]:
            net, conv, m, seed = arch
            if not _in_shard(shard, index) or fingerprint(net, conv, m, seed) in passed:
                return  # a job passed it (or another shard's): as in the generating walk
        try:
            sweep.check(*arch)
        except UnsatisfiedAssumption:
            return  # the generating walk passed it too
        except AssertionError:
            state["failing"] = True
            raise

    try:
        search(plan, config.seed, check_again)
    except AssertionError:
        return failure_report(config, sweep.last_failure)
    failing.setdefault("notes", []).append("not shrunk: hypothesis's second walk did not meet it again")
    return None


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: a killed sweep takes its jobs with it
    except (OSError, AttributeError):
        pass


def _receive(pid: int, read: int, job: int, jobs: int) -> dict:
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


def _stop(pid: int, *fds: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    for fd in fds:
        try:
            os.close(fd)
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
        for note in result.notes:
            add_note(out.notes, note)
        _merge_stats(out.backend_stats, result.backend_stats)
    out.fingerprints = [fp for _, fp in sorted(fingerprints)]
    out.architectures = len(seen)
    out.coverage = {"routes": first.coverage.get("routes", []), "backends": first.coverage.get("backends", []),
                    **{k: sorted(v) for k, v in coverage.items()},
                    "native": {b: sorted(v) for b, v in native.items()}}
    out.coverage["missing"] = missing(out.coverage, config.activations, config.losses)
    out.environment = dict(first.environment, jobs=jobs)
    return out


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
