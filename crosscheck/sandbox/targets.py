"""What the sandbox loads: a ``Target`` (a file, a module or code sent as text, and the attribute it
names), parsed from a TARGET string or a function, and the module names an import may be forbidden.

Separate from ``client`` (the running worker) because naming the code under test is checked here,
in the parent, before any process starts, and is what the check and grade jobs, the pytest plugin
and the layer check need without a sandbox: a mistyped TARGET is a one-line ``UsageError`` from here.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from ..errors import UsageError
from .notebook import function_chunks, notebook_chunks

__all__ = ["Target", "parse_target", "parse_forbidden", "target_search_dirs", "find_target_file", "bind_method"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


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

