"""Worker side: the target loaded in the worker: a file, a module or code sent as text, and the
attribute it names (a function, or a ``Class.method`` bound as ``fn(params, X, Y)``).

Separate from ``worker`` (the request loop) because finding and importing the user's code is its own
concern, and the part a new kind of TARGET changes. Like every worker-side file, the parent sends
its text (``crosscheck.sandbox.boot.WORKER_SOURCES``) and BOOT runs it in the worker's one
namespace, so it imports nothing of crosscheck.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from typing import Any


class UsageProblem(Exception):
    """TARGET names a module, file or attribute that does not exist, or is not callable."""


def _resolve(module: Any, qualname: str, where: str) -> Any:
    obj = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                           and getattr(v, "__module__", None) == module.__name__)
            hint = f"; callables defined there: {', '.join(names)}" if names else ""
            raise UsageProblem(f"{where} has no attribute {qualname!r}{hint}") from None
    if not callable(obj):
        raise UsageProblem(f"{where}:{qualname} is a {type(obj).__name__}, not a callable")
    return obj


def _load_file(path: str, qualname: str, module_name: str | None) -> Any:
    return _resolve(_import_file(path, module_name), qualname, path)


def _import_file(path: str, module_name: str | None) -> Any:
    if not os.path.isfile(path):
        raise UsageProblem(f"no such file: {path}")
    if os.path.dirname(path) not in sys.path:
        sys.path.insert(0, os.path.dirname(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    name = module_name or (stem if stem.isidentifier() and stem not in sys.modules else "_crosscheck_target")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageProblem(f"cannot import {path} as a Python module")
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
            raise UsageProblem(f"no module named {missing!r} (TARGET {display}; "
                                f"is it installed, or on the path of the current directory?)") from None
        raise


def accepts_spec(fn: Any) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return any(p.name == "spec" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               or p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


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
    if not isinstance(cls, type):
        raise UsageProblem(f"{cls!r} is not a class (Class.method targets name a class and its method)")
    method_name, attr, returns = bind["method"], bind.get("params_attr", "params"), list(bind.get("returns", []))
    if not callable(getattr(cls, method_name, None)):
        raise UsageProblem(f"class {cls.__name__} has no method {method_name!r}")
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


def load_target(target: dict) -> Any:
    if target["kind"] == "source":
        return _resolve(_import_source(target), target["attr"], target.get("path") or "__main__")
    if target["kind"] == "file":
        return _load_file(target["path"], target["attr"], target.get("module_name"))
    return _load_module(target["module"], target["attr"], target.get("file"))


def import_target_module(target: dict) -> Any:
    if target["kind"] == "source":
        return _import_source(target)
    if target["kind"] == "file":
        return _import_file(target["path"], target.get("module_name"))
    return _import_module(target["module"], target.get("file"), target["module"])


def public_functions(module: Any) -> list[str]:
    return sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                  and (not isinstance(v, type) or getattr(v, "__module__", None) == module.__name__))

