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

from crosscheck._protocol import encode, recv, send

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
    return _resolve(module, qualname, path)


def _load_module(module_name: str, qualname: str, fallback_file: str | None) -> Any:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = e.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            if fallback_file:
                return _load_file(fallback_file, qualname, None)
            raise _UsageProblem(f"no module named {missing!r} (TARGET {module_name}:{qualname}; "
                                f"is it installed, or on the path of the current directory?)") from None
        raise
    return _resolve(module, qualname, f"module {module_name!r}")


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


if __name__ == "__main__":
    sys.exit(main(sys.argv))
