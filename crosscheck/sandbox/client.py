"""A worker process for untrusted implementations: the parent's handle on it (``Sandbox``).

The implementation under test runs in ``crosscheck.sandbox.worker``, a separate Python process
kept alive across calls (speed) and restarted after any failure. The parent (this module)

- hands the inputs over as copies (pickled), so nothing the worker does reaches the caller's arrays;
- enforces a per-call timeout (the worker's process group is killed on expiry) and a memory
  cap (``RLIMIT_AS`` in the worker: what the implementation may allocate beyond its imports);
- tells a crash (a signal), an exit (``os._exit``, ``sys.exit``), a ``MemoryError`` and an
  exception apart, each an ``ImplementationError`` with its ``kind`` (worded in ``verdicts``);
- captures the worker's stdout and stderr in files (fd 1 and 2), reads them back trimmed
  after each call, and truncates them, so megabytes of prints neither block nor pile up;
- decodes the reply without unpickling anything: a JSON description of the returned
  container plus raw bytes, turned into plain numeric arrays by ``np.frombuffer``, so a
  malicious return value cannot run code here;
- compares the inputs as the worker saw them after the call with its own originals, and
  reports which were mutated.

What to load is a ``Target`` (``crosscheck.sandbox.targets``), parsed before any process starts.

Whether the gradients are right is decided elsewhere (``crosscheck.check``), in this
process, from the returned arrays only: nothing the implementation does inside its own
process (monkeypatching NumPy or crosscheck, writing to the protocol pipe) can make it pass.
It is not a security boundary against code that deliberately attacks the machine (files,
network): run untrusted code in a container for that.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ImplementationError, UsageError, bounded
from .boot import code_frame
from .isolation import Launch, end, launch, make_undumpable, resolve_isolation
from .protocol import (
    HEADER,
    MAX_DATA,
    MAX_META,
    Handle,
    Opaque,
    ProtocolError,
    decode,
    decode_arrays,
    mutations,
    pack_request,
    printable,
)
from .targets import Target, find_target_file, parse_forbidden, parse_target
from .verdicts import KINDS, died, drain, failed_call, failed_import, join_output, output_of, trim_output

# the names from targets, verdicts and protocol stay importable here, where callers (crosscheck.layers among
# them) have always found them: this module is the sandbox's parent-side face
__all__ = ["Sandbox", "SandboxResult", "Target", "Opaque", "Handle", "parse_target", "parse_forbidden",
           "find_target_file", "trim_output", "KINDS", "limit_flags"]

_BOOT_TIMEOUT = 60.0  # starting Python and NumPy in the worker (trusted code, before the target's import)
TIMEOUT_S, MEMORY_MB = 10.0, 1024  # a Sandbox's defaults: a reproduce command leaves them unsaid


def limit_flags(*, timeout: float, memory: int | None, forbid: Sequence[str] = ()) -> list[str]:
    """The ``crosscheck check`` flags that give a reproduce command these limits, none for a default."""
    flags = [] if timeout == TIMEOUT_S else ["--timeout", f"{timeout:g}"]
    if memory is not None and memory != MEMORY_MB:
        flags += ["--memory", str(memory)]
    return flags + (["--forbid-import", ",".join(forbid)] if forbid else [])


# ---- results ------------------------------------------------------------------------------------

@dataclass
class SandboxResult:
    """One call: ``value`` is the returned container, decoded (lists, tuples, dicts, ndarrays;
    anything else as ``Opaque``); ``mutated`` names the inputs the call changed in place."""

    value: Any
    stdout: str = ""
    stderr: str = ""
    mutated: tuple[str, ...] = ()
    elapsed: float = 0.0

    @property
    def output(self) -> str:
        return join_output(self.stdout, self.stderr)


# ---- the sandbox ----------------------------------------------------------------------------------

@dataclass
class _Worker:
    launch: Launch
    stdout: Any
    stderr: Any
    accepts_spec: bool = False
    killed: bool = field(default=False)
    functions: tuple[str, ...] = ()  # a whole-module target: its public functions

    @property
    def proc(self) -> subprocess.Popen:
        """The supervisor: it exits only after the worker's whole tree, mirroring the worker's status."""
        return self.launch.proc

    @property
    def to_worker(self) -> int:
        return self.launch.to_worker

    @property
    def from_worker(self) -> int:
        return self.launch.from_worker


class Sandbox:
    """Runs ``fn(params, X, Y)`` (plus ``spec=`` when fn accepts it) in a worker process.

    Use as a context manager. ``call`` returns a ``SandboxResult`` or raises
    ``ImplementationError`` (kind in ``KINDS``); a TARGET that does not exist or is not
    callable raises ``UsageError``. After any failure the next call starts a fresh worker.
    """

    def __init__(self, target: Any, *, timeout: float = TIMEOUT_S, memory: int | None = MEMORY_MB,
                 forbid_imports: Any = None, isolation: str = "auto",
                 startup_timeout: float | None = None, budget: float | None = None) -> None:
        self.target = target if isinstance(target, Target) else parse_target(target)
        for name, value, low in (("timeout", timeout, 0.0), ("memory", memory, 0.0), ("budget", budget, 0.0)):
            problem = None if value is None and name != "timeout" else bounded(name, value, low=low)
            if problem:
                raise UsageError(f"{name}: {problem}")
        self.timeout = float(timeout)
        self.memory = memory
        # the implementation's time over the whole run (its import and every call, across restarts)
        self.budget = None if budget is None else float(budget)
        self.spent = 0.0
        self._budget_hit = False
        self.forbid_imports = parse_forbidden(forbid_imports)
        self.isolation = resolve_isolation(isolation)
        # starting Python and NumPy is trusted and not timed by --timeout; the target's import is
        self.startup_timeout = startup_timeout if startup_timeout is not None else _BOOT_TIMEOUT
        self._worker: _Worker | None = None
        self._calls = 0  # request number, echoed by the worker: a reply out of sequence is refused
        self.starts = 0
        self.info: dict = {}  # how the last worker was confined (mode, namespaces, uid, notes)
        self._renames: dict[str, str] = {}

    # -- lifecycle --
    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def accepts_spec(self) -> bool:
        """Whether the function takes a ``spec`` keyword (known once the worker has started)."""
        if self._worker is None:
            self.start()
        assert self._worker is not None
        return self._worker.accepts_spec

    def start(self) -> None:
        if self._worker is not None:
            return
        make_undumpable()  # before the first untrusted instruction runs
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        for f in (out, err):  # O_APPEND: the worker always writes at the end, so truncating between calls works
            fl = fcntl.fcntl(f.fileno(), fcntl.F_GETFL)
            fcntl.fcntl(f.fileno(), fcntl.F_SETFL, fl | os.O_APPEND)
        try:
            started, init = launch(self.target, memory=self.memory, forbid=list(self.forbid_imports),
                                   isolation=self.isolation, stdout=out, stderr=err)
        except BaseException:
            out.close()
            err.close()
            raise
        fl = fcntl.fcntl(started.to_worker, fcntl.F_GETFL)
        fcntl.fcntl(started.to_worker, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        worker = _Worker(started, out, err)
        self._worker = worker
        self.starts += 1
        self.info = dict(started.info)
        self._renames = dict(started.renames)  # kept after the worker is gone: its errors are read later
        try:
            self._send_raw(worker, code_frame(), time.monotonic() + self.startup_timeout)
            self._send(worker, init, time.monotonic() + self.startup_timeout)
            meta, _ = self._receive(worker, time.monotonic() + self.startup_timeout, phase="startup")
            if meta.get("status") == "booted":  # Python and NumPy are up: the target's import obeys --timeout
                self.info["seccomp"] = str(meta.get("seccomp", ""))[:200]
                t_import = time.monotonic()
                try:
                    meta, _ = self._receive(worker, self._deadline(), phase="startup")
                finally:
                    self.spent += time.monotonic() - t_import
        except ImplementationError as e:
            stdout, stderr = self._read_output(worker)
            self._stop(worker)
            what = "importing " + self.target.display if e.kind == "timeout" else "the implementation's process"
            raise ImplementationError(f"{what} failed to start: {e}", kind=e.kind,
                                      output=output_of(stdout, stderr)) from None
        status = meta.get("status")
        if status == "ready":
            worker.accepts_spec = bool(meta.get("accepts_spec"))
            functions = meta.get("functions", [])
            worker.functions = tuple(printable(f) for f in (functions if isinstance(functions, list) else [])
                                     if isinstance(f, str))
            self._read_output(worker)
            return
        stdout, stderr = self._read_output(worker)
        self._stop(worker)
        message, output = self._told(meta, stdout, stderr)
        if status == "usage":
            raise UsageError(f"TARGET {self.target.display}: {message}")
        raise failed_import(status, message, output, self.target.display, self.memory)

    def close(self) -> None:
        if self._worker is not None:
            self._stop(self._worker, graceful=True)

    def _stop(self, worker: _Worker, *, graceful: bool = False) -> None:
        if graceful and worker.proc.poll() is None:
            try:  # asks the worker to leave its loop; the supervisor then ends what is left of its tree
                self._send(worker, {"op": "exit"}, time.monotonic() + 1.0)
                worker.proc.wait(timeout=1.0)
            except (ImplementationError, subprocess.TimeoutExpired, OSError):
                pass
        self._kill(worker)
        for fd in (worker.to_worker, worker.from_worker):
            try:
                os.close(fd)
            except OSError:
                pass
        worker.stdout.close()
        worker.stderr.close()
        if self._worker is worker:
            self._worker = None

    def _kill(self, worker: _Worker) -> None:
        """The whole tree, then the supervisor; returns once they are gone."""
        if worker.proc.poll() is None:
            worker.killed = True
        end(worker.launch)

    def _rename(self, text: str) -> str:
        """Paths of a copied target back to the user's originals; control characters escaped (every
        text from the worker passes here: its output, messages and tracebacks)."""
        for copy, original in self._renames.items():
            text = text.replace(copy, original)
        return printable(text)

    # -- one call --
    def call(self, params: Any, X: Any, Y: Any, spec: dict | None = None) -> SandboxResult:
        """Call the implementation on copies of ``params, X, Y``; see the class docstring."""
        self.start()
        worker = self._worker
        assert worker is not None
        self._calls += 1
        request = {"op": "call", "id": self._calls, "params": params, "X": X, "Y": Y, "spec": spec}
        t0 = time.perf_counter()
        meta, arrays, stdout, stderr = self._roundtrip(worker, request)
        elapsed = time.perf_counter() - t0
        status = meta.get("status")
        if status != "ok":
            self._stop(worker)
            raise self._failure(meta, stdout, stderr)
        try:
            value = decode(meta.get("result"), arrays)
            after = decode(meta.get("inputs_after"), arrays)
            mutated = tuple(mutations(("params", "X", "Y"), (params, X, Y), after))
        except (ProtocolError, RecursionError, TypeError, ValueError, KeyError, AttributeError) as e:
            self._stop(worker)
            raise ImplementationError(f"the implementation's process sent back an unreadable reply ({e}; did "
                                      "something write to crosscheck's private pipe?)",
                                      kind="bad_output", output=output_of(stdout, stderr)) from None
        return SandboxResult(value, stdout, stderr, mutated, _seconds(meta.get("elapsed"), elapsed))

    # -- the layer API: a whole-module target's functions called by name --
    @property
    def functions(self) -> tuple[str, ...]:
        """A whole-module target's public functions (known once the worker has started)."""
        self.start()
        assert self._worker is not None
        return self._worker.functions

    def invoke(self, name: str, args: Sequence[Any], *, keep: Sequence[int] = (), on: Handle | None = None
               ) -> SandboxResult:
        """Call ``name(*args)`` of a whole-module target (``Target.attr == ""``) in the worker.

        ``args`` are arrays, numbers, strings, containers of them, or ``Handle``s from earlier calls
        of this same worker. Items ``keep`` of a returned tuple, and any returned object that is not
        numbers and containers of them, stay in the worker and come back as ``Handle``s.
        ``mutated`` names the array arguments the call changed; ``args_after`` is every argument as
        the worker holds it after the call (a dict such as bn_param with what the function wrote).
        ``on``: call the method ``name`` of that kept object instead (``"__vars__"``: its attributes that
        are numbers and arrays), for layers written as classes (``--api module``)."""
        self.start()
        worker = self._worker
        assert worker is not None
        generation = self.starts
        wire = [_handle_to_wire(a, generation) for a in args]
        self._calls += 1
        request = {"op": "invoke", "id": self._calls, "name": name, "args": wire, "keep": list(keep)}
        if on is not None:
            request["on"] = _handle_to_wire(on, generation) and on.key  # refused if its worker was restarted
        meta, arrays, stdout, stderr = self._roundtrip(worker, request)
        status = meta.get("status")
        if status == "missing" and name in worker.functions:  # there at the start: the implementation removed it
            self._stop(worker)
            raise ImplementationError(f"{name} was removed from {self.target.display} while the check ran (the "
                                      "module's own code deleted or replaced it)", kind="bad_output",
                                      output=output_of(stdout, stderr))
        if status == "missing":
            raise UsageError(f"{self.target.display}: {printable(str(meta.get('message', '')))}")
        if status != "ok":
            self._stop(worker)
            raise self._failure(meta, stdout, stderr)
        try:
            value = _stamp(decode(meta.get("result"), arrays), generation)
            after = decode(meta.get("args_after"), arrays)
        except (ProtocolError, RecursionError, TypeError, ValueError, KeyError, AttributeError) as e:
            self._stop(worker)
            raise ImplementationError(f"the implementation's process sent back an unreadable reply ({e})",
                                      kind="bad_output", output=output_of(stdout, stderr)) from None
        arrays_in = [(f"argument {i + 1}", a) for i, a in enumerate(args) if isinstance(a, np.ndarray)]
        after_arrays = [after[i] if isinstance(after, list) and i < len(after) else None
                        for i, a in enumerate(args) if isinstance(a, np.ndarray)]
        mutated = tuple(mutations(tuple(n for n, _ in arrays_in), tuple(a for _, a in arrays_in), after_arrays))
        result = SandboxResult(value, stdout, stderr, mutated, _seconds(meta.get("elapsed"), 0.0))
        result.args_after = after if isinstance(after, list) else []  # type: ignore[attr-defined]
        return result

    def _roundtrip(self, worker: _Worker, request: dict) -> tuple[dict, list[np.ndarray], str, str]:
        deadline = self._deadline()
        t0 = time.monotonic()
        try:
            try:
                self._send(worker, request, deadline)
                meta, arrays = self._receive(worker, deadline, phase="call")
            finally:
                self.spent += time.monotonic() - t0
        except ImplementationError as e:
            stdout, stderr = self._read_output(worker)
            self._stop(worker)
            e.output = output_of(stdout, stderr)
            raise
        stdout, stderr = self._read_output(worker)
        return meta, arrays, stdout, stderr

    def _failure(self, meta: dict, stdout: str, stderr: str) -> ImplementationError:
        message, output = self._told(meta, stdout, stderr)
        return failed_call(meta.get("status"), message, output, self.memory)

    def _told(self, meta: dict, stdout: str, stderr: str) -> tuple[str, str]:
        """The worker's message, and the output to show with it (its traceback after stderr), renamed."""
        return (self._rename(str(meta.get("message", ""))),
                output_of(stdout, stderr + self._rename(str(meta.get("traceback", "")))))

    # -- transport --
    def _send(self, worker: _Worker, obj: dict, deadline: float) -> None:
        self._send_raw(worker, pack_request(obj), deadline)

    def _send_raw(self, worker: _Worker, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(worker)
            _, writable, _ = select.select([], [worker.to_worker], [], remaining)
            if not writable:
                continue
            try:
                n = os.write(worker.to_worker, view)
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError):
                raise self._died(worker) from None
            view = view[n:]

    def _read_exact(self, worker: _Worker, n: int, deadline: float) -> bytes:
        chunks, got = [], 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(worker)
            readable, _, _ = select.select([worker.from_worker], [], [], remaining)
            if not readable:
                continue
            b = os.read(worker.from_worker, min(n - got, 1 << 20))
            if not b:
                raise self._died(worker)
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)

    def _receive(self, worker: _Worker, deadline: float, *, phase: str) -> tuple[dict, list[np.ndarray]]:
        n_meta, n_data = HEADER.unpack(self._read_exact(worker, HEADER.size, deadline))
        if n_meta > MAX_META or n_data > MAX_DATA:
            self._kill(worker)
            raise ImplementationError(f"the reply from the implementation's process announces {n_meta + n_data} "
                                      "bytes: too large or corrupted (did something write to crosscheck's private "
                                      "pipe?)", kind="bad_output")
        raw = self._read_exact(worker, n_meta, deadline)
        data = self._read_exact(worker, n_data, deadline)
        try:
            meta = json.loads(raw)
            if not isinstance(meta, dict):
                raise ValueError("not an object")
        except (ValueError, RecursionError) as e:
            self._kill(worker)
            raise ImplementationError(f"the reply from the implementation's process is corrupted ({e}; did "
                                      "something write to crosscheck's private pipe?)", kind="bad_output") from None
        if phase == "call" and meta.get("id") != self._calls:
            self._kill(worker)
            raise ImplementationError("the reply from the implementation's process is out of sequence (did "
                                      "something write to crosscheck's private pipe?)", kind="bad_output")
        try:
            arrays = decode_arrays(meta.get("arrays", []), data)
        except ProtocolError as e:
            self._kill(worker)
            raise ImplementationError(f"the reply from the implementation's process is corrupted ({e}; did "
                                      "something write to crosscheck's private pipe?)", kind="bad_output") from None
        return meta, arrays

    def _deadline(self) -> float:
        """Now plus --timeout, or less when --budget has less left (then a timeout names the budget)."""
        self._budget_hit = False
        allowed = self.timeout
        if self.budget is not None and self.budget - self.spent < allowed:
            allowed, self._budget_hit = max(0.0, self.budget - self.spent), True
        return time.monotonic() + allowed

    def _timed_out(self, worker: _Worker) -> ImplementationError:
        self._kill(worker)
        if self._budget_hit:
            return ImplementationError(f"the implementation used up the budget of {self.budget:g} s (--budget): its "
                                       f"import and calls together took longer; its process was killed",
                                       kind="timeout")
        return ImplementationError(f"the implementation did not return within {self.timeout:g} s (--timeout); "
                                   "its process was killed", kind="timeout")

    def _died(self, worker: _Worker) -> ImplementationError:
        try:
            code = worker.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self._kill(worker)
            code = worker.proc.returncode
        return died(code, worker.killed)

    def _read_output(self, worker: _Worker) -> tuple[str, str]:
        return self._rename(drain(worker.stdout)), self._rename(drain(worker.stderr))


def _seconds(value: Any, default: float) -> float:
    """The worker's own timing of a call, if it is a sane number (it is the worker's claim)."""
    if type(value) in (int, float) and 0 <= value < 1e9:
        return float(value)
    return default


def _handle_to_wire(arg: Any, generation: int) -> Any:
    if isinstance(arg, Handle):
        if arg.generation != generation:
            raise ImplementationError("a value kept in the implementation's process was lost when that process "
                                      "was restarted", kind="bad_output")
        return arg.wire()
    return arg


def _stamp(value: Any, generation: int) -> Any:
    """Handles in a decoded reply, marked with the worker process that holds them."""
    if isinstance(value, Handle):
        return Handle(value.key, value.type, generation)
    if isinstance(value, (list, tuple)):
        items = [_stamp(v, generation) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _stamp(v, generation) for k, v in value.items()}
    return value

