"""The sandbox worker: a separate process that imports the implementation under test and calls it.

Started by ``crosscheck.sandbox.Sandbox`` as ``python -u -c <boot> READ_FD WRITE_FD``, which calls ``main``.
Its stdout and stderr (fd 1 and 2) are files the parent reads; the protocol runs on two
private pipes, so nothing the implementation prints can disturb it.

The frames are ``crosscheck._protocol``'s: pickles from the trusted parent, and back a JSON
description of the returned container with raw array bytes, never a pickle. The worker
decides nothing: it reports what the function returned and what its inputs look like
afterwards; every verdict is computed in the parent.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import time
import traceback
from typing import Any

import numpy as np

from crosscheck._protocol import HANDLE_KEY, MAX_DEPTH, encode, recv, send

FILE_LIMIT = 64 * 2**20  # bytes of stdout/stderr per call (RLIMIT_FSIZE); the parent truncates between calls


class _UsageProblem(Exception):
    """TARGET names a module, file or attribute that does not exist, or is not callable."""


# ---- loading the target ----------------------------------------------------------------------

def _resolve(module: Any, qualname: str, where: str) -> Any:
    obj = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                           and getattr(v, "__module__", None) == module.__name__)
            hint = f"; callables defined there: {', '.join(names)}" if names else ""
            raise _UsageProblem(f"{where} has no attribute {qualname!r}{hint}") from None
    if not callable(obj):
        raise _UsageProblem(f"{where}:{qualname} is a {type(obj).__name__}, not a callable")
    return obj


def _load_file(path: str, qualname: str, module_name: str | None) -> Any:
    return _resolve(_import_file(path, module_name), qualname, os.path.abspath(path))


def _import_file(path: str, module_name: str | None) -> Any:
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise _UsageProblem(f"no such file: {path}")
    sys.path.insert(0, os.path.dirname(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    name = module_name or (stem if stem.isidentifier() and stem not in sys.modules else "_crosscheck_target")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise _UsageProblem(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)  # the user's code: its exceptions are import failures (exit 3)
    return module


def _load_module(module_name: str, qualname: str, fallback_file: str | None) -> Any:
    module = _import_module(module_name, fallback_file, f"{module_name}:{qualname}")
    return _resolve(module, qualname, f"module {module_name!r}")


def _import_module(module_name: str, fallback_file: str | None, display: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = e.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            if fallback_file:
                return _import_file(fallback_file, None)
            raise _UsageProblem(f"no module named {missing!r} (TARGET {display}; "
                                f"is it installed, or on the path of the current directory?)") from None
        raise


def _accepts_spec(fn: Any) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return any(p.name == "spec" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               or p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


# ---- limits --------------------------------------------------------------------------------------

def _address_space() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def _limit_memory(megabytes: int | None) -> None:
    """Cap the address space at what the process holds now (Python, NumPy, the user's module)
    plus ``megabytes``: the cap is on what the implementation allocates, not on its imports."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        if hard == resource.RLIM_INFINITY or hard > FILE_LIMIT:
            resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, hard))
        if megabytes is None:
            return
        base = _address_space()
        if base is None:
            return
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = base + megabytes * 2**20
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):  # pragma: no cover - a platform that refuses: run without the cap
        pass


# ---- the loop ----------------------------------------------------------------------------------

def _safe_str(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - a user exception whose __str__ fails
        return type(exc).__name__


def _user_traceback(exc: BaseException) -> str:
    tb = exc.__traceback__
    # drop this module's own frames so the traceback starts in the user's code
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - the user may have replaced or closed them
            pass


def _call(fn: Any, accepts_spec: bool, req: dict) -> tuple[dict, list[np.ndarray]]:
    params, X, Y = req["params"], req["X"], req["Y"]
    meta: dict = {"status": "ok"}
    result: Any = None
    t0 = time.perf_counter()
    try:
        result = fn(params, X, Y, spec=req["spec"]) if accepts_spec else fn(params, X, Y)
    except MemoryError as e:
        meta = {"status": "memory", "message": _safe_str(e), "traceback": _user_traceback(e)}
    except SystemExit as e:
        meta = {"status": "exit", "message": f"sys.exit({e.code!r})", "code": repr(e.code)}
    except BaseException as e:  # noqa: BLE001 - everything the user's code raises is reported
        meta = {"status": "raised", "message": _safe_str(e), "traceback": _user_traceback(e)}
    meta["elapsed"] = time.perf_counter() - t0
    meta["id"] = req.get("id")
    _flush()
    arrays: list[np.ndarray] = []
    try:
        if meta["status"] == "ok":
            meta["result"] = encode(result, arrays)
        meta["inputs_after"] = encode([params, X, Y], arrays)
    except MemoryError as e:
        return {"status": "memory", "message": f"{type(e).__name__} while returning the result",
                "id": req.get("id")}, []
    return meta, arrays


def main(argv: list[str]) -> int:
    rfd, wfd = int(argv[1]), int(argv[2])
    init = recv(rfd)
    if init is None:
        return 0
    for p in init.get("sys_path", []):
        if p not in sys.path:
            sys.path.append(p)
    target = init["target"]
    if not target.get("attr"):  # a whole module: the layer API, functions called by name
        return _serve_namespace(rfd, wfd, target, init)
    try:
        if target["kind"] == "file":
            fn = _load_file(target["path"], target["attr"], target.get("module_name"))
        else:
            fn = _load_module(target["module"], target["attr"], target.get("file"))
    except _UsageProblem as e:
        send(wfd, {"status": "usage", "message": str(e)}, [])
        return 0
    except BaseException as e:  # noqa: BLE001 - importing the user's module failed: report it
        _flush()
        send(wfd, {"status": "import", "message": _safe_str(e), "traceback": _user_traceback(e)}, [])
        return 0
    accepts_spec = _accepts_spec(fn)
    _limit_memory(init.get("memory_mb"))
    _flush()
    send(wfd, {"status": "ready", "accepts_spec": accepts_spec}, [])
    while True:
        req = recv(rfd)
        if req is None or req.get("op") != "call":
            return 0
        meta, arrays = _call(fn, accepts_spec, req)
        send(wfd, meta, arrays)



# ---- the layer API: a module's functions called by name, non-array results kept here -------------
# ``{"op": "invoke", "name": F, "args": [...], "keep": [i, ...]}`` calls ``module.F(*args)``. Arguments
# are arrays, numbers, strings and dicts/lists/tuples of them (bn_param, conv_param, ...) or handles
# ``{HANDLE_KEY: k}`` of earlier results. Items ``keep`` of a returned tuple, and any returned value that
# is not a number, array or container of them, stay here under a new key (CS231n's ``cache``); the
# reply carries the rest as arrays, and the arguments as they are after the call (running statistics
# written into bn_param, inputs mutated by mistake).

def _import_target_module(target: dict) -> Any:
    if target["kind"] == "file":
        return _import_file(target["path"], target.get("module_name"))
    return _import_module(target["module"], target.get("file"), target["module"])


def _public_functions(module: Any) -> list[str]:
    return sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                  and not isinstance(v, type))


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


def _invoke(module: Any, handles: dict[int, Any], req: dict) -> tuple[dict, list[np.ndarray]]:
    meta: dict = {"status": "ok", "id": req.get("id")}
    name = req.get("name")
    fn = getattr(module, name, None) if isinstance(name, str) else None
    if not callable(fn):
        meta.update(status="missing", message=f"{name!r} is not a function of the module")
        return meta, []
    try:
        args = _with_handles(req.get("args", []), handles)
    except KeyError:
        meta.update(status="missing", message="a kept value this call refers to is gone")
        return meta, []
    t0 = time.perf_counter()
    result: Any = None
    try:
        result = fn(*args)
    except MemoryError as e:
        meta = {"status": "memory", "message": _safe_str(e), "traceback": _user_traceback(e), "id": req.get("id")}
    except SystemExit as e:
        meta = {"status": "exit", "message": f"sys.exit({e.code!r})", "code": repr(e.code), "id": req.get("id")}
    except BaseException as e:  # noqa: BLE001 - everything the user's code raises is reported
        meta = {"status": "raised", "message": _safe_str(e), "traceback": _user_traceback(e), "id": req.get("id")}
    meta["elapsed"] = time.perf_counter() - t0
    _flush()
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


def _serve_namespace(rfd: int, wfd: int, target: dict, init: dict) -> int:
    try:
        module = _import_target_module(target)
    except _UsageProblem as e:
        send(wfd, {"status": "usage", "message": str(e)}, [])
        return 0
    except BaseException as e:  # noqa: BLE001 - importing the user's module failed: report it
        _flush()
        send(wfd, {"status": "import", "message": _safe_str(e), "traceback": _user_traceback(e)}, [])
        return 0
    _limit_memory(init.get("memory_mb"))
    _flush()
    send(wfd, {"status": "ready", "accepts_spec": False, "functions": _public_functions(module)}, [])
    handles: dict[int, Any] = {}
    while True:
        req = recv(rfd)
        if req is None or req.get("op") != "invoke":
            return 0
        if req.get("release"):
            for key in req["release"]:
                handles.pop(key, None)
        meta, arrays = _invoke(module, handles, req)
        send(wfd, meta, arrays)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
