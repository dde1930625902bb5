"""A worker process for untrusted implementations: protocol, limits, verdicts on how it ran.

The implementation under test runs in ``crosscheck.sandbox.worker``, a separate Python process
kept alive across calls (speed) and restarted after any failure. The parent (this module)

- hands the inputs over as copies (pickled), so nothing the worker does reaches the caller's arrays;
- enforces a per-call timeout (the worker's process group is killed on expiry) and a memory
  cap (``RLIMIT_AS`` in the worker: what the implementation may allocate beyond its imports);
- tells a crash (a signal), an exit (``os._exit``, ``sys.exit``), a ``MemoryError`` and an
  exception apart, each an ``ImplementationError`` with its ``kind``;
- captures the worker's stdout and stderr in files (fd 1 and 2), reads them back trimmed
  after each call, and truncates them, so megabytes of prints neither block nor pile up;
- decodes the reply without unpickling anything: a JSON description of the returned
  container plus raw bytes, turned into plain numeric arrays by ``np.frombuffer``, so a
  malicious return value cannot run code here;
- compares the inputs as the worker saw them after the call with its own originals, and
  reports which were mutated.

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
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import ImplementationError, UsageError, bounded
from .isolation import WORKER_SOURCES, Launch, end, launch, make_undumpable, resolve_isolation
from .notebook import function_chunks, notebook_chunks
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

__all__ = ["Sandbox", "SandboxResult", "Target", "Opaque", "Handle", "parse_target", "parse_forbidden",
           "target_search_dirs", "find_target_file",
           "trim_output", "KINDS", "bind_method"]

# ImplementationError kinds raised here
KINDS = ("raised", "timeout", "crash", "exit", "memory", "bad_output", "import", "forbidden")

_OUTPUT_KEEP = 4000  # characters kept from each end of a call's stdout / stderr
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_BOOT_TIMEOUT = 60.0  # starting Python and NumPy in the worker (trusted code, before the target's import)


# ---- what to load ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """The implementation to load in the worker: a file or a module, and an attribute path."""

    kind: str  # "file", "module" or "source" (code sent as text: a notebook's cells, a __main__ function)
    attr: str  # dotted qualname inside the module
    path: str | None = None  # kind == "file"; the notebook of a "source"
    module: str | None = None  # kind == "module"; "__main__" for a "source" without a notebook
    file: str | None = None  # a module's file, tried when the module name is not importable there
    module_name: str | None = None  # the name to give a file module (e.g. a script run as __main__)
    chunks: tuple[tuple[str, str, str], ...] = ()  # kind == "source": crosscheck.sandbox.notebook's chunks
    paths: tuple[str, ...] = ()  # more folders for the worker's sys.path (a teacher's adapter: the submission)
    bind: dict | None = None  # Class.method: attr names the class, bind how to call it (bind_method)
    pack: dict | None = None  # another signature or parameter layout (crosscheck.sandbox.adapters.packed_function)

    @property
    def display(self) -> str:
        """The TARGET string a user would type."""
        where = self.path if self.kind == "file" or (self.kind == "source" and self.path) else self.module
        if self.kind == "source" and not self.path:  # a __main__ function: where a user can find it again
            where = self.file or "NOTEBOOK.ipynb"
        attr = f"{self.attr}.{self.bind['method']}" if self.bind else self.attr
        return f"{where}:{attr}" if attr else str(where)  # no attr: a whole module (layer API)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "attr": self.attr, "path": self.path, "module": self.module,
                "file": self.file, "module_name": self.module_name,
                "chunks": [list(c) for c in self.chunks], "paths": list(self.paths),
                **({"bind": self.bind} if self.bind else {}), **({"pack": self.pack} if self.pack else {})}

# Folders a relative TARGET path is looked up in before the current directory. The pytest plugin
# sets them around each test (the test file's folder, then rootdir), so `pytest path/to/tests`
# finds "mlp/backprop.py:backprop" from any directory.
_search_dirs: tuple[str, ...] = ()


@contextmanager
def target_search_dirs(dirs: Sequence[str]) -> Iterator[None]:
    """Within the block, relative TARGET paths are looked up in ``dirs`` first, then the current directory."""
    global _search_dirs
    previous, _search_dirs = _search_dirs, tuple(str(d) for d in dirs)
    try:
        yield
    finally:
        _search_dirs = previous


def find_target_file(path: str) -> str | None:
    """``path`` itself when it is a file; for a relative path the first match in the search folders,
    then the current directory; None when there is none."""
    if os.path.isabs(path):
        return path if os.path.isfile(path) else None
    for folder in (*_search_dirs, os.getcwd()):
        candidate = os.path.join(folder, path)
        if os.path.isfile(candidate):
            return candidate if folder != os.getcwd() else path
    return None


def bind_method(target: Target, *, weights: str, params_attr: str = "params", returns: tuple[str, ...] = (),
                reg: float = 0.0) -> Target:
    """``file.py:Class.method`` (a CapWords class and one method) -> the class as the attribute, called in the
    worker as ``fn(params, X, Y)``: an instance built per call with constructor arguments read off the
    parameters' shapes (input_dim / input_size, hidden_dim(s) / hidden_size, num_classes / output_size,
    reg), the parameters written into ``instance.<params_attr>`` (a dict; "" sets attributes), the method
    called with (X, Y) (and reg= when it takes one), and the gradients taken from its return at the place
    ``returns`` names ("loss,grads"). Any other target is returned as it is."""
    parts = target.attr.split(".")
    if target.bind or len(parts) != 2 or not parts[0][:1].isupper():
        return target
    if returns and "grads" not in returns:
        raise UsageError(f"--returns {','.join(returns)} names no 'grads' entry (e.g. --returns loss,grads)")
    if params_attr and not params_attr.isidentifier():
        raise UsageError(f"--params-attr {params_attr!r} is not an attribute name")
    bind = {"method": parts[1], "params_attr": params_attr, "returns": list(returns) or ["grads"],
            "weights": weights, "reg": float(reg)}
    return replace(target, attr=parts[0], bind=bind)


def parse_target(fn_or_target: Any) -> Target:
    """``path/to/file.py:function``, ``package.module:function`` or a module-level callable.

    Checked cheaply here (syntax, the file exists, the callable is importable by name); what
    needs the user's code (the module imports, the attribute exists) is checked in the worker.
    Raises ``UsageError``."""
    if isinstance(fn_or_target, Target):
        return fn_or_target
    if isinstance(fn_or_target, str):
        return _parse_string(fn_or_target)
    if callable(fn_or_target):
        return _from_callable(fn_or_target)
    raise UsageError(f"expected a TARGET string or a function, got {type(fn_or_target).__name__}")


def _parse_string(text: str) -> Target:
    left, sep, attr = text.rpartition(":")
    if not sep or not left or not attr:
        raise UsageError(f"TARGET must be path/to/file.py:function or package.module:function, got {text!r}")
    if not _IDENT.match(attr):
        raise UsageError(f"{attr!r} in TARGET {text!r} is not a function name")
    if left.endswith(".ipynb"):  # only the cells the function needs (crosscheck.sandbox.notebook)
        if not os.path.isfile(left):
            raise UsageError(f"TARGET {text!r}: no such file {left!r}")
        return Target("source", attr, path=left, chunks=notebook_chunks(left, [attr.split(".")[0]]))
    if left.endswith(".py") or os.sep in left or "/" in left:
        found = find_target_file(left)
        if found is None:
            where = f" (looked in {', '.join(_search_dirs)} and the current directory)" if _search_dirs else ""
            raise UsageError(f"TARGET {text!r}: no such file {left!r}{where}")
        return Target("file", attr, path=found)
    if not _IDENT.match(left):
        raise UsageError(f"{left!r} in TARGET {text!r} is neither a .py file nor a module name")
    return Target("module", attr, module=left)


def _from_callable(fn: Callable) -> Target:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    what = getattr(fn, "__name__", type(fn).__name__)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        raise UsageError(
            f"{what!r} cannot be loaded by name in the sandbox process (a lambda, a nested function or "
            "a callable object); define it at the top level of a module, or pass 'file.py:function'")
    mod = sys.modules.get(module)
    obj: Any = mod
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if obj is not fn:
        raise UsageError(f"{module}.{qualname} does not name the function passed in; define it at the "
                         "top level of a module, or pass 'file.py:function'")
    file = getattr(mod, "__file__", None)
    if module == "__main__" and "." not in qualname:  # a notebook's or a script's: sent as source text
        return Target("source", qualname, module="__main__", file=file, chunks=function_chunks(fn))
    if module == "__main__":
        if not file:
            raise UsageError("a function defined in an interactive session cannot run in the sandbox; "
                             "put it in a file and pass 'file.py:function'")
        # load the script under another name, so its `if __name__ == "__main__":` block does not run again
        return Target("file", qualname, path=file, module_name="__crosscheck_main__")
    return Target("module", qualname, module=module, file=file)


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
        return _join_output(self.stdout, self.stderr)


def trim_output(text: str, keep: int = _OUTPUT_KEEP) -> str:
    """Head and tail of ``text`` with a marker for what was left out."""
    if len(text) <= 2 * keep:
        return text
    return f"{text[:keep]}\n... [{len(text) - 2 * keep} characters omitted] ...\n{text[-keep:]}"


def _join_output(stdout: str, stderr: str) -> str:
    parts = []
    if stdout.strip():
        parts.append("stdout:\n" + stdout.rstrip())
    if stderr.strip():
        parts.append("stderr:\n" + stderr.rstrip())
    return "\n".join(parts)


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


def parse_forbidden(modules: Any) -> tuple[str, ...]:
    """``"torch,jax"`` or a list of module names -> a tuple; raises UsageError."""
    if modules is None:
        return ()
    items = modules.split(",") if isinstance(modules, str) else list(modules)
    out = []
    for m in items:
        m = str(m).strip()
        if not _IDENT.match(m):
            raise UsageError(f"forbidden import {m!r} is not a module name")
        out.append(m)
    return tuple(dict.fromkeys(out))


class Sandbox:
    """Runs ``fn(params, X, Y)`` (plus ``spec=`` when fn accepts it) in a worker process.

    Use as a context manager. ``call`` returns a ``SandboxResult`` or raises
    ``ImplementationError`` (kind in ``KINDS``); a TARGET that does not exist or is not
    callable raises ``UsageError``. After any failure the next call starts a fresh worker.
    """

    def __init__(self, target: Any, *, timeout: float = 10.0, memory: int | None = 1024,
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
            self._send_raw(worker, _code_frame(), time.monotonic() + self.startup_timeout)
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
                                      output=trim_output(_join_output(stdout, stderr))) from None
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
        message = self._rename(str(meta.get("message", "")))
        if status == "usage":
            raise UsageError(f"TARGET {self.target.display}: {message}")
        output = trim_output(_join_output(stdout, stderr + self._rename(str(meta.get("traceback", "")))))
        if status == "forbidden":
            raise ImplementationError(message, kind="forbidden", output=output)
        if status == "memory":
            raise ImplementationError(f"importing {self.target.display} exceeded the memory cap of {self.memory} "
                                      f"MB (--memory): {message}", kind="memory", output=output)
        raise ImplementationError(f"importing {self.target.display} failed: {message}", kind="import",
                                  output=output)

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
                                      kind="bad_output", output=trim_output(_join_output(stdout, stderr))) from None
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
                                      output=trim_output(_join_output(stdout, stderr)))
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
                                      kind="bad_output", output=trim_output(_join_output(stdout, stderr))) from None
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
            e.output = trim_output(_join_output(stdout, stderr))
            raise
        stdout, stderr = self._read_output(worker)
        return meta, arrays, stdout, stderr

    def _failure(self, meta: dict, stdout: str, stderr: str) -> ImplementationError:
        status, message = meta.get("status"), self._rename(str(meta.get("message", "")))
        output = trim_output(_join_output(stdout, stderr + self._rename(str(meta.get("traceback", "")))))
        if status == "forbidden":
            return ImplementationError(message, kind="forbidden", output=output)
        if status == "raised":
            return ImplementationError(f"the implementation raised {message}", kind="raised", output=output)
        if status == "memory":
            return ImplementationError(f"the implementation exceeded the memory cap of {self.memory} MB "
                                       f"(--memory): {message}", kind="memory", output=output)
        if status == "exit":
            return ImplementationError(f"the implementation called {message} instead of returning gradients",
                                       kind="exit", output=output)
        return ImplementationError(f"the implementation's process sent an unexpected reply ({status!r})",
                                   kind="bad_output", output=output)

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
        if code is not None and code < 0:
            sig = -code
            name = _signal_name(sig)
            if sig == signal.SIGKILL and not worker.killed:
                return ImplementationError(f"the implementation's process was killed ({name}), most likely for "
                                           f"running out of memory", kind="memory")
            return ImplementationError(f"the implementation's process crashed with {name}", kind="crash")
        return ImplementationError(f"the implementation's process exited with status {code} instead of "
                                   "returning gradients (os._exit or exit in its code?)", kind="exit")

    def _read_output(self, worker: _Worker) -> tuple[str, str]:
        return self._rename(_drain(worker.stdout)), self._rename(_drain(worker.stderr))


def _seconds(value: Any, default: float) -> float:
    """The worker's own timing of a call, if it is a sane number (it is the worker's claim)."""
    if type(value) in (int, float) and 0 <= value < 1e9:
        return float(value)
    return default


def _code_frame() -> bytes:
    """The worker's code, as BOOT reads it: an 8-byte length and a JSON list of (name, text)."""
    body = json.dumps(WORKER_SOURCES).encode()
    return len(body).to_bytes(8, "big") + body


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


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _drain(f: Any) -> str:
    """Everything written to ``f`` since the last drain, trimmed, then empty the file."""
    fd = f.fileno()
    size = os.fstat(fd).st_size
    keep = _OUTPUT_KEEP * 4  # bytes: a UTF-8 character takes at most four
    if size <= 2 * keep:
        text = os.pread(fd, size, 0).decode("utf-8", "replace")
    else:
        head = os.pread(fd, keep, 0).decode("utf-8", "replace")
        tail = os.pread(fd, keep, size - keep).decode("utf-8", "replace")
        text = f"{head}\n... [{size - 2 * keep} bytes omitted] ...\n{tail}"
    os.ftruncate(fd, 0)
    return trim_output(text)


