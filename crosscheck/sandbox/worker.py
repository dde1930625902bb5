"""The sandbox worker: a separate process that imports the implementation under test and calls it.

``crosscheck.sandbox`` starts it as ``python -I -B -u -c BOOT READ_FD WRITE_FD`` in a private empty
directory with a scrubbed environment (as an unprivileged user when crosscheck runs as root). The
package is never on its path: BOOT reads this file's text and its siblings' (``protocol``,
``filters``, ``adapters``, ``guard``, ``loading``: ``boot.WORKER_SOURCES``) from the pipe and
runs them in one fresh namespace (``__name__ == "_crosscheck_worker"``), so nothing here can import
crosscheck, and an audit hook (``guard``) refuses ``crosscheck`` and every ``--forbid-import`` module
for the whole run.

Its stdout and stderr (fd 1 and 2) are files the parent reads; the protocol runs on two private
pipes, so nothing the implementation prints can disturb it. Frames: pickles from the trusted
parent; back a JSON description of the returned container with raw array bytes, never a pickle.
The worker decides nothing: it reports what the function returned and what its inputs look like
afterwards; every verdict is computed in the parent.

Requests are dispatched on their ``op`` through ``OPS`` (``call``: the implementation on
``params, X, Y``; ``exit``: leave). A new operation is a function ``(state, request) -> (meta,
arrays)`` added to ``OPS``; ``state`` holds the loaded function and anything kept worker-side
between requests.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any

import numpy as np

if __name__ != "_crosscheck_worker":  # imported from the package (tests); in the worker, BOOT runs these first
    from crosscheck.sandbox.adapters import packed_function
    from crosscheck.sandbox.filters import seccomp_deny
    from crosscheck.sandbox.guard import OWN_CODE, already_imported, install_guard
    from crosscheck.sandbox.loading import (
        UsageProblem,
        accepts_spec,
        bound_method,
        import_target_module,
        load_target,
        public_functions,
    )
    from crosscheck.sandbox.protocol import HANDLE_KEY, MAX_DEPTH, encode, recv, send

FILE_LIMIT = 64 * 2**20  # bytes of stdout/stderr per call (RLIMIT_FSIZE); the parent truncates between calls
OPEN_FILES = 256  # RLIMIT_NOFILE: enough for torch or JAX, not for exhausting the machine's descriptors
TASKS = 512  # RLIMIT_NPROC (counted per user, threads included): a fork bomb stops here


# ---- limits --------------------------------------------------------------------------------------

def _address_space() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def _tasks_of_this_user() -> int:
    """Threads owned by this real uid (what RLIMIT_NPROC counts)."""
    uid, n = os.getuid(), 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                n += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            continue
    return n


def _set(resource_: Any, which: int, value: int) -> None:
    soft, hard = resource_.getrlimit(which)
    if hard != resource_.RLIM_INFINITY:
        value = min(value, hard)
    resource_.setrlimit(which, (value, value))  # hard too: the implementation cannot raise it back


def apply_limits(megabytes: int | None) -> None:
    """Before the user's module is imported: its output files, open files and processes are bounded,
    and its address space is capped at what the process holds now (Python and NumPy) plus
    ``megabytes``, so the import counts against ``--memory`` as the calls do."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    for which, value in ((resource.RLIMIT_FSIZE, FILE_LIMIT), (resource.RLIMIT_NOFILE, OPEN_FILES)):
        try:
            _set(resource, which, value)
        except (ValueError, OSError):  # pragma: no cover - a platform that refuses: run without it
            pass
    if os.getuid() != 0 and sys.platform.startswith("linux"):  # root is not bound by RLIMIT_NPROC anyway
        try:
            _set(resource, resource.RLIMIT_NPROC, _tasks_of_this_user() + TASKS)
        except (ValueError, OSError):  # pragma: no cover
            pass
    if megabytes is None:
        return
    base = _address_space()
    if base is None:
        return
    try:
        _set(resource, resource.RLIMIT_AS, base + megabytes * 2**20)
    except (ValueError, OSError):  # pragma: no cover
        pass


# ---- requests ----------------------------------------------------------------------------------

def _safe_str(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - a user exception whose __str__ fails
        return type(exc).__name__


def _user_traceback(exc: BaseException) -> str:
    tb = exc.__traceback__
    # drop the worker's own frames so the traceback starts in the user's code
    while tb is not None and (tb.tb_frame.f_code.co_filename.startswith(OWN_CODE)
                              or tb.tb_frame.f_code.co_filename == globals().get("__file__")):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - the user may have replaced or closed them
            pass


def _forbidden(state: dict) -> dict | None:
    v = state["guard"]["violation"]
    if v is None:
        return None
    return {"status": "forbidden", "module": v["module"], "where": v["where"],
            "message": f"forbidden import: {v['module']} ({v['name']} at {v['where']})"}


def _run_user(call: Any) -> tuple[dict, Any]:
    """``call()`` (the user's code), timed: ``{"status": "ok"}`` and its result, or how it ended instead
    (a MemoryError, sys.exit, any other exception), its traceback starting in the user's code. The one
    place both ops (``call`` and the layer API's ``invoke``) run untrusted code, so they report alike."""
    meta: dict = {"status": "ok"}
    result: Any = None
    t0 = time.perf_counter()
    try:
        result = call()
    except MemoryError as e:
        meta = {"status": "memory", "message": _safe_str(e), "traceback": _user_traceback(e)}
    except SystemExit as e:
        meta = {"status": "exit", "message": f"sys.exit({e.code!r})", "code": repr(e.code)}
    except BaseException as e:  # noqa: BLE001 - everything the user's code raises is reported
        meta = {"status": "raised", "message": _safe_str(e), "traceback": _user_traceback(e)}
    meta["elapsed"] = time.perf_counter() - t0
    _flush()
    return meta, result


def op_call(state: dict, req: dict) -> tuple[dict, list[np.ndarray]]:
    """``fn(params, X, Y[, spec=])``; replies the result and the inputs as they are afterwards."""
    if "fn" not in state:
        return {"status": "missing", "message": "this target is a module, not a function"}, []
    fn, params, X, Y = state["fn"], req["params"], req["X"], req["Y"]
    meta, result = _run_user(lambda: fn(params, X, Y, spec=req["spec"]) if state["accepts_spec"]
                             else fn(params, X, Y))
    arrays: list[np.ndarray] = []
    try:
        if meta["status"] == "ok":
            meta["result"] = encode(result, arrays)
        meta["inputs_after"] = encode([params, X, Y], arrays)
    except MemoryError as e:
        return {"status": "memory", "message": f"{type(e).__name__} while returning the result"}, []
    return meta, arrays


# op name -> handler(state, request) -> (meta, arrays); "exit" (or a closed pipe) ends the loop
OPS: dict[str, Any] = {"call": op_call}


# ---- the loop ----------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    rfd, wfd = int(argv[1]), int(argv[2])
    init = recv(rfd)
    if init is None:
        return 0
    forbidden = list(init.get("forbid", []))
    preloaded = already_imported([n for n in forbidden if n != "crosscheck"])
    if preloaded:
        send(wfd, {"status": "usage", "message": f"cannot forbid {', '.join(preloaded)}: the sandbox's worker "
                   "has imported it before your code runs"}, [])
        return 0
    for p in reversed(init.get("paths", [])):  # the target's root, never crosscheck's
        if p not in sys.path:
            sys.path.insert(0, p)
    target = init["target"]
    if target.get("path") and target["kind"] != "module":  # its folder, where its sibling modules are, comes first
        sys.path.insert(0, os.path.dirname(target["path"]))
    state: dict[str, Any] = {"guard": install_guard(forbidden, list(init.get("hidden", [])))}
    # no child interpreter (it has no audit hook) when the teacher forbids imports; no dir_fd and no
    # AF_UNIX socket when no mount namespace hides the forbidden folders (crosscheck.sandbox.filters)
    state["seccomp"] = seccomp_deny(exec_=bool(init.get("deny_exec")), dir_fd=bool(init.get("deny_dir_fd")))
    apply_limits(init.get("memory_mb"))
    send(wfd, {"status": "booted", "seccomp": state["seccomp"] or "on"}, [])  # from here on the parent counts --timeout
    try:
        if target.get("attr"):
            fn = load_target(target)
            if target.get("bind"):  # file.py:Class.method (crosscheck.sandbox.targets.bind_method)
                fn = bound_method(fn, target["bind"])
            if target.get("pack"):  # another signature or parameter layout (crosscheck.sandbox.adapters)
                fn = packed_function(fn, target["pack"])
        else:  # a whole module: the layer API, its functions called by name ("invoke")
            state["module"], state["handles"] = import_target_module(target), {}
    except UsageProblem as e:
        send(wfd, _forbidden(state) or {"status": "usage", "message": str(e)}, [])
        return 0
    except MemoryError as e:
        _flush()
        send(wfd, _forbidden(state) or {"status": "memory", "message": _safe_str(e)}, [])
        return 0
    except BaseException as e:  # noqa: BLE001 - importing the user's module failed: report it
        _flush()
        send(wfd, _forbidden(state) or {"status": "import", "message": _safe_str(e),
                                         "traceback": _user_traceback(e)}, [])
        return 0
    ready: dict[str, Any] = {"status": "ready", "accepts_spec": False}
    if "module" in state:
        ready["functions"] = public_functions(state["module"])
    else:
        state["fn"], state["accepts_spec"] = fn, accepts_spec(fn)
        ready["accepts_spec"] = state["accepts_spec"]
    _flush()
    send(wfd, _forbidden(state) or ready, [])
    while True:
        req = recv(rfd)
        op = None if req is None else OPS.get(req.get("op"))
        if op is None:
            return 0
        meta, arrays = op(state, req)
        meta["id"] = req.get("id")
        stop = _forbidden(state)
        if stop is not None:  # even when the implementation caught the ImportError
            meta, arrays = dict(stop, id=req.get("id")), []
        send(wfd, meta, arrays)


# ---- the layer API: a module's functions called by name, non-array results kept here -------------
# ``{"op": "invoke", "name": F, "args": [...], "keep": [i, ...]}`` calls ``module.F(*args)``. Arguments
# are arrays, numbers, strings and dicts/lists/tuples of them (bn_param, conv_param, ...) or handles
# ``{HANDLE_KEY: k}`` of earlier results. Items ``keep`` of a returned tuple, and any returned value that
# is not a number, array or container of them, stay here under a new key (CS231n's ``cache``); the
# reply carries the rest as arrays, and the arguments as they are after the call (running statistics
# written into bn_param, inputs mutated by mistake).


def _with_handles(obj: Any, handles: dict[int, Any], depth: int = 0) -> Any:
    """The argument with every ``{HANDLE_KEY: k}`` replaced by the object kept under k."""
    if depth > MAX_DEPTH:
        return obj
    if isinstance(obj, dict):
        if set(obj) == {HANDLE_KEY}:
            return handles[obj[HANDLE_KEY]]
        return {k: _with_handles(v, handles, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [_with_handles(v, handles, depth + 1) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


def _plain(obj: Any, depth: int = 0) -> bool:
    """Numbers, arrays, None, and containers of them: what the reply can carry as values."""
    if depth > MAX_DEPTH:
        return False
    if obj is None or isinstance(obj, (np.ndarray, np.generic, int, float, complex, str)):
        return not isinstance(obj, np.ndarray) or obj.dtype.kind in "biufc"
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(_plain(v, depth + 1) for v in obj)
    return False


def _keep(obj: Any, handles: dict[int, Any]) -> dict:
    key = len(handles) + 1
    while key in handles:
        key += 1
    handles[key] = obj
    return {"t": "handle", "h": key, "type": type(obj).__qualname__}


def _encode_invoked(result: Any, keep: list[int], handles: dict[int, Any], arrays: list[np.ndarray]) -> dict:
    if isinstance(result, tuple) and keep:
        return {"t": "tuple", "v": [_keep(v, handles) if i in keep or not _plain(v) else encode(v, arrays)
                                   for i, v in enumerate(result)]}
    return encode(result, arrays) if _plain(result) else _keep(result, handles)


def _method(handles: dict[int, Any], req: dict) -> Any:
    """A method of a kept object (layers written as classes), or "__vars__": its plain attributes."""
    obj, name = handles.get(req.get("on")), req.get("name")
    if obj is None or not isinstance(name, str):
        return None
    if name == "__vars__":
        return lambda: {k: v for k, v in vars(obj).items() if isinstance(k, str) and _plain(v)}
    return getattr(obj, name, None)


def _invoke(module: Any, handles: dict[int, Any], req: dict) -> tuple[dict, list[np.ndarray]]:
    meta: dict = {"status": "ok", "id": req.get("id")}
    name = req.get("name")
    fn = _method(handles, req) if "on" in req else getattr(module, name, None) if isinstance(name, str) else None
    if not callable(fn):
        meta.update(status="missing", message=f"{name!r} is not a function of the module")
        return meta, []
    try:
        args = _with_handles(req.get("args", []), handles)
    except KeyError:
        meta.update(status="missing", message="a kept value this call refers to is gone")
        return meta, []
    meta, result = _run_user(lambda: fn(*args))
    meta["id"] = req.get("id")
    arrays: list[np.ndarray] = []
    try:
        if meta["status"] == "ok":
            meta["result"] = _encode_invoked(result, list(req.get("keep", [])), handles, arrays)
        # the arguments after the call; kept values stay here (they are not the parent's to compare)
        sent = req.get("args", [])
        meta["args_after"] = {"t": "list", "v": [
            {"t": "none"} if isinstance(s, dict) and set(s) == {HANDLE_KEY} else encode(a, arrays)
            for s, a in zip(sent, args)]}
    except MemoryError as e:
        return {"status": "memory", "message": f"{type(e).__name__} while returning the result",
                "id": req.get("id")}, []
    return meta, arrays


def op_invoke(state: dict, req: dict) -> tuple[dict, list[np.ndarray]]:
    """``module.F(*args)`` of a whole-module target, with handles released first when asked."""
    if "module" not in state:
        return {"status": "missing", "message": "this target is a single function, not a module"}, []
    for key in req.get("release") or ():
        state["handles"].pop(key, None)
    return _invoke(state["module"], state["handles"], req)


OPS["invoke"] = op_invoke


if __name__ == "__main__":
    sys.exit(main(sys.argv))
