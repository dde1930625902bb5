"""The sandbox worker: a separate process that imports the implementation under test and calls it.

``crosscheck.sandbox`` starts it as ``python -I -B -u -c BOOT READ_FD WRITE_FD`` in a private empty
directory with a scrubbed environment (as an unprivileged user when crosscheck runs as root). The
package is never on its path: BOOT reads this file's text and ``protocol``'s from the pipe and runs
them in one fresh namespace (``__name__ == "_crosscheck_worker"``), so nothing here can import
crosscheck, and an audit hook refuses ``crosscheck`` and every ``--forbid-import`` module for the
whole run.

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

import importlib
import importlib.util
import inspect
import os
import sys
import time
import traceback
from typing import Any

import numpy as np

if __name__ != "_crosscheck_worker":  # imported from the package (tests); in the worker, BOOT runs protocol first
    from crosscheck.sandbox.adapters import packed_function
    from crosscheck.sandbox.filters import seccomp_deny
    from crosscheck.sandbox.protocol import HANDLE_KEY, MAX_DEPTH, encode, recv, send

FILE_LIMIT = 64 * 2**20  # bytes of stdout/stderr per call (RLIMIT_FSIZE); the parent truncates between calls
OPEN_FILES = 256  # RLIMIT_NOFILE: enough for torch or JAX, not for exhausting the machine's descriptors
TASKS = 512  # RLIMIT_NPROC (counted per user, threads included): a fork bomb stops here
_OWN = "<crosscheck"  # co_filename prefix of the code BOOT runs (this file and protocol)


class _UsageProblem(Exception):
    """TARGET names a module, file or attribute that does not exist, or is not callable."""


class ForbiddenImport(ImportError):
    """An import the check forbids (``--forbid-import``, or crosscheck itself)."""


# ---- the import guard -----------------------------------------------------------------------------

def _is_own(filename: str) -> bool:
    return filename.startswith(_OWN) or filename.startswith("<frozen importlib") \
        or os.sep + "importlib" + os.sep in filename


def _where() -> str:
    """file:line of the user's code that asked for the import (frames of importlib and this file skipped)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if not _is_own(name):
            return f"{name}:{frame.f_lineno}"
        frame = frame.f_back
    return "unknown location"


def _locations(name: str) -> list[str]:
    """Where module ``name`` would be loaded from, found without importing anything."""
    parts = name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])  # a top-level name: finders only, nothing executed
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    out = []
    for base in list(spec.submodule_search_locations or []) or ([spec.origin] if spec.origin else []):
        path = os.path.join(base, *parts[1:]) if len(parts) > 1 else base
        for candidate in (path, path + ".py"):
            if os.path.exists(candidate):
                out.append(os.path.realpath(candidate))
    return out


def install_guard(forbidden: list[str], hidden: list[str]) -> dict:
    """Refuse ``forbidden`` modules and their submodules for the rest of the process (audit hooks
    cannot be removed): the ``import`` event catches import statements, and the ``open`` event any
    other way in (``importlib.import_module``, a loader, reading the files), since every route to a
    module's code opens its files. The first refused ``--forbid-import`` module is kept in the
    returned dict: it decides the verdict (exit 3) even if the implementation catches the ImportError.
    crosscheck itself (and the ``hidden`` directories, its package) is refused as not importable."""
    state: dict[str, Any] = {"violation": None}
    names = tuple(forbidden)
    prefixes = tuple(n + "." for n in names)
    located = [(d, "crosscheck") for d in hidden]
    for n in names:
        located += [(loc, n) for loc in _locations(n)]
    blocked: list[tuple[str, str]] = []  # (path prefix, module): a package's folder, a module's file and its .pyc
    for path, top in located:
        path = os.path.realpath(path)
        if os.path.isdir(path):
            blocked.append((os.path.join(path, ""), top))
        else:
            stem = os.path.splitext(os.path.basename(path))[0]
            blocked += [(path, top), (os.path.join(os.path.dirname(path), "__pycache__", stem + "."), top)]
    blocked_prefixes = tuple(p for p, _ in blocked)
    blocked_folders = {p: top for p, top in blocked if p.endswith(os.sep)}  # opened as a dir_fd, say

    def refuse(top: str, what: str) -> None:
        where = _where()
        if top == "crosscheck":  # not a teacher's rule: a plain ImportError, with the reason
            raise ForbiddenImport(f"crosscheck is not importable in the sandbox ({what} at {where}): keep the "
                                  "function under test in a module that does not import crosscheck, or import "
                                  "it under `if __name__ == '__main__':`")
        if state["violation"] is None:
            state["violation"] = {"module": top, "name": what, "where": where}
        raise ForbiddenImport(f"forbidden import: {top} ({what} at {where}; crosscheck --forbid-import)")

    def hook(event: str, args: tuple) -> None:
        if event == "import":
            name = args[0]
            if isinstance(name, str) and (name in names or name.startswith(prefixes)):
                refuse(next(n for n in names if name == n or name.startswith(n + ".")), f"import of {name}")
        elif event == "open" and blocked:
            path = args[0]
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if isinstance(path, str):
                real = os.path.realpath(path)
                if real.startswith(blocked_prefixes):
                    refuse(next(top for prefix, top in blocked if real.startswith(prefix)), f"reading {path}")
                if os.path.join(real, "") in blocked_folders:
                    refuse(blocked_folders[os.path.join(real, "")], f"opening {path}")
        elif event in ("os.listdir", "os.scandir") and blocked_folders and isinstance(args[0], str):
            # a package folder hidden by an empty mount imports as a namespace package; its submodules
            # are looked up by listing it: refused here with the reason, not "No module named ..."
            folder = os.path.join(os.path.realpath(args[0]), "")
            if folder in blocked_folders:
                refuse(blocked_folders[folder], f"listing {args[0]}")

    sys.addaudithook(hook)
    return state


def _preloaded(forbidden: list[str]) -> list[str]:
    """Forbidden names the worker itself has already imported (an audit hook cannot refuse those)."""
    return [n for n in forbidden if any(m == n or m.startswith(n + ".") for m in list(sys.modules))]


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
    return _resolve(_import_file(path, module_name), qualname, path)


def _import_file(path: str, module_name: str | None) -> Any:
    if not os.path.isfile(path):
        raise _UsageProblem(f"no such file: {path}")
    if os.path.dirname(path) not in sys.path:
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
    while tb is not None and (tb.tb_frame.f_code.co_filename.startswith(_OWN)
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


def op_call(state: dict, req: dict) -> tuple[dict, list[np.ndarray]]:
    """``fn(params, X, Y[, spec=])``; replies the result and the inputs as they are afterwards."""
    if "fn" not in state:
        return {"status": "missing", "message": "this target is a module, not a function"}, []
    fn, params, X, Y = state["fn"], req["params"], req["X"], req["Y"]
    meta: dict = {"status": "ok"}
    result: Any = None
    t0 = time.perf_counter()
    try:
        result = fn(params, X, Y, spec=req["spec"]) if state["accepts_spec"] else fn(params, X, Y)
    except MemoryError as e:
        meta = {"status": "memory", "message": _safe_str(e), "traceback": _user_traceback(e)}
    except SystemExit as e:
        meta = {"status": "exit", "message": f"sys.exit({e.code!r})", "code": repr(e.code)}
    except BaseException as e:  # noqa: BLE001 - everything the user's code raises is reported
        meta = {"status": "raised", "message": _safe_str(e), "traceback": _user_traceback(e)}
    meta["elapsed"] = time.perf_counter() - t0
    _flush()
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

def _import_source(target: dict) -> Any:
    """Code sent as text (a notebook's cells, a ``__main__`` function), each statement compiled under its
    cell's name so that a traceback names the cell."""
    import linecache
    import types

    module = types.ModuleType(target.get("module_name") or "__crosscheck_notebook__")
    module.__file__ = target.get("path") or "<__main__>"
    sys.modules[module.__name__] = module
    for filename, source, cell in target["chunks"]:
        linecache.cache[filename] = (len(cell), None, cell.splitlines(True), filename)
        exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)  # noqa: S102 - the user's code
    return module


# constructor parameters a course's network class takes, by what crosscheck fills them with
_INIT_NAMES = {"input": ("input_dim", "input_size", "n_inputs", "n_input", "n_in", "D"),
               "hidden": ("hidden_dim", "hidden_size", "n_hidden", "H"),
               "hiddens": ("hidden_dims", "hidden_sizes", "hidden_layers", "layer_sizes"),
               "output": ("num_classes", "output_size", "output_dim", "n_outputs", "n_output", "n_out", "C"),
               "reg": ("reg", "lambd", "reg_lambda", "l2")}


def bound_method(cls: Any, bind: dict) -> Any:
    """``Class.method`` as ``fn(params, X, Y)``: a fresh instance per call, built with constructor arguments
    read off the parameters' shapes, the parameters written into it, the gradients picked from the return."""
    import inspect

    if not isinstance(cls, type):
        raise _UsageProblem(f"{cls!r} is not a class (Class.method targets name a class and its method)")
    method_name, attr, returns = bind["method"], bind.get("params_attr", "params"), list(bind.get("returns", []))
    if not callable(getattr(cls, method_name, None)):
        raise _UsageProblem(f"class {cls.__name__} has no method {method_name!r}")
    try:
        init = inspect.signature(cls.__init__).parameters
        takes = inspect.signature(getattr(cls, method_name)).parameters
    except (TypeError, ValueError):
        init, takes = {}, {}

    def widths(params: Any) -> list[int]:
        if isinstance(params, dict):
            ws = [params[k] for k in sorted((k for k in params if k[:1] == "W" and k[1:].isdigit()),
                                            key=lambda k: int(k[1:]))]
        else:
            ws = [pair[0] for pair in params]
        shapes = [w.shape if bind.get("weights") == "in_out" else w.shape[::-1] for w in ws]
        return [shapes[0][0]] + [s[1] for s in shapes]

    def fn(params: Any, X: Any, Y: Any) -> Any:
        n = widths(params)
        values = {"input": n[0], "hidden": n[1] if len(n) == 3 else None, "hiddens": list(n[1:-1]),
                  "output": n[-1], "reg": bind.get("reg", 0.0)}
        kwargs = {}
        for name, p in list(init.items())[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            what = next((k for k, names in _INIT_NAMES.items() if name in names), None)
            if what is not None and values[what] is not None:
                kwargs[name] = values[what]
            elif name == "dtype":
                kwargs[name] = X.dtype
            elif p.default is p.empty:
                raise TypeError(f"cannot build {cls.__name__}: crosscheck has no value for its parameter {name!r}")
        obj = cls(**kwargs)
        items = params.items() if isinstance(params, dict) else (
            (f"{w}{i}", a) for i, pair in enumerate(params, start=1) for w, a in zip("Wb", pair))
        store = getattr(obj, attr, None) if attr else None
        for key, value in items:
            if isinstance(store, dict):
                store[key] = value.copy()
            else:
                setattr(obj, key, value.copy())
        method = getattr(obj, method_name)
        extra = {"reg": bind.get("reg", 0.0)} if "reg" in takes else {}
        out = method(X, Y, **extra)
        if len(returns) > 1:
            if not isinstance(out, (tuple, list)) or len(out) != len(returns):
                raise TypeError(f"{cls.__name__}.{method_name} returned {type(out).__name__}, declared "
                                f"--returns {','.join(returns)}")
            out = out[returns.index("grads")]
        return out

    fn.__name__ = method_name
    return fn


def _load(target: dict) -> Any:
    if target["kind"] == "source":
        return _resolve(_import_source(target), target["attr"], target.get("path") or "__main__")
    if target["kind"] == "file":
        return _load_file(target["path"], target["attr"], target.get("module_name"))
    return _load_module(target["module"], target["attr"], target.get("file"))


def main(argv: list[str]) -> int:
    rfd, wfd = int(argv[1]), int(argv[2])
    init = recv(rfd)
    if init is None:
        return 0
    forbidden = list(init.get("forbid", []))
    preloaded = _preloaded([n for n in forbidden if n != "crosscheck"])
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
            fn = _load(target)
            if target.get("bind"):  # file.py:Class.method (crosscheck.sandbox.client.bind_method)
                fn = bound_method(fn, target["bind"])
            if target.get("pack"):  # another signature or parameter layout (crosscheck.sandbox.adapters)
                fn = packed_function(fn, target["pack"])
        else:  # a whole module: the layer API, its functions called by name ("invoke")
            state["module"], state["handles"] = _import_target_module(target), {}
    except _UsageProblem as e:
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
        ready["functions"] = _public_functions(state["module"])
    else:
        state["fn"], state["accepts_spec"] = fn, _accepts_spec(fn)
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

def _import_target_module(target: dict) -> Any:
    if target["kind"] == "source":
        return _import_source(target)
    if target["kind"] == "file":
        return _import_file(target["path"], target.get("module_name"))
    return _import_module(target["module"], target.get("file"), target["module"])


def _public_functions(module: Any) -> list[str]:
    return sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                  and (not isinstance(v, type) or getattr(v, "__module__", None) == module.__name__))


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
