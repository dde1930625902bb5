"""What to check: a layer target (``layers.py``, ``layers.py:function``, a module name or object, a
notebook) read into the sandbox's ``Target``, and the layers chosen from the API's table.

Separate from ``crosscheck.layers.check`` because choosing runs nothing: the grader
(``crosscheck.grade.layers``) chooses layers and reads its options against ``APIS`` and ``DROPOUT_P``,
and the layer sweep (``crosscheck.layers.sweep``) chooses layers, without starting a check.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ..errors import UsageError
from ..sandbox.notebook import notebook_chunks
from ..sandbox.targets import Target, find_target_file
from .api import ALIASES, LAYER_NAMES, LAYERS, layer_for_function
from .objects import OBJECT_LAYERS

__all__ = ["parse_layers_target", "select_layers", "APIS", "DROPOUT_P"]

APIS = ("cs231n", "module")  # module: layers written as classes (crosscheck.layers.objects)
DROPOUT_P = ("keep", "drop")
_IDENT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def parse_layers_target(target: Any) -> tuple[Target, str | None]:
    """``layers.py``, ``layers.py:batchnorm_backward``, ``pkg.layers`` or ``pkg.layers:fn``, or a module
    object -> (a whole-module Target, the one function named or None). Raises ``UsageError``."""
    if hasattr(target, "__name__") and hasattr(target, "__dict__") and not callable(target):  # a module object
        file = getattr(target, "__file__", None)
        return Target("module", "", module=target.__name__, file=file), None
    if callable(target):
        module, name = getattr(target, "__module__", None), getattr(target, "__name__", None)
        if not isinstance(module, str) or not isinstance(name, str):
            raise UsageError(f"cannot tell which module {target!r} comes from; pass 'layers.py' or 'layers.py:name'")
        mod = sys.modules.get(module)
        file = getattr(mod, "__file__", None)
        if module == "__main__" and file:
            return Target("file", "", path=file, module_name="__crosscheck_main__"), name
        return Target("module", "", module=module, file=file), name
    if not isinstance(target, str) or not target:
        raise UsageError(f"expected a module path such as layers.py, got {target!r}")
    left, sep, attr = target.rpartition(":")
    if not sep:
        left, attr = target, ""
    if attr and not (attr.isidentifier()):
        raise UsageError(f"{attr!r} in {target!r} is not a function name")
    if left.endswith(".ipynb"):  # the cells that define the notebook's functions, nothing else
        found = find_target_file(left)
        if found is None:
            raise UsageError(f"no such file {left!r}")
        return Target("source", "", path=found, chunks=notebook_chunks(found, None)), attr or None
    if left.endswith(".py") or "/" in left or os.sep in left:
        found = find_target_file(left)  # under pytest also the test file's folder and rootdir
        if found is None:
            raise UsageError(f"no such file {left!r}")
        return Target("file", "", path=found), attr or None
    if not left or not set(left) <= _IDENT_CHARS:
        raise UsageError(f"{left!r} is neither a .py file nor a module name")
    return Target("module", "", module=left), attr or None


def select_layers(layers: Any, function: str | None, api: str = "cs231n") -> list[str]:
    if api == "module":  # the classes of crosscheck.layers.objects, by class name
        names = list(OBJECT_LAYERS)
        wanted = [function] if function else ([s.strip() for s in layers.split(",") if s.strip()]
                                              if isinstance(layers, str) else list(layers or names))
        unknown = [n for n in wanted if n not in OBJECT_LAYERS]
        if unknown:
            raise UsageError(f"unknown layer class {unknown[0]!r} for --api module; known: {', '.join(names)}")
        return wanted
    if function is not None:
        name = layer_for_function(function)
        if name is None:
            raise UsageError(f"{function!r} is not a function of the cs231n layer API; its layers: "
                             f"{', '.join(LAYER_NAMES)}")
        chosen = [name]
        if layers is not None:
            raise UsageError("name one function (layers.py:name) or --layers, not both")
        return chosen
    if layers is None:
        return list(LAYER_NAMES)
    if isinstance(layers, str):
        layers = [s.strip() for s in layers.split(",") if s.strip()]
    out = []
    for name in layers:
        key = ALIASES.get(name, name)
        if key not in LAYERS:
            raise UsageError(f"unknown layer {name!r}; choose from {', '.join(LAYER_NAMES)}")
        if key not in out:
            out.append(key)
    if not out:
        raise UsageError("--layers is empty; give a comma list such as affine,relu")
    return out
