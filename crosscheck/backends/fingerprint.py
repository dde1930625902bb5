"""What a Python function computes, as text that is the same in every process: its code, not a trace.

The padded program is stored under a key that changes whenever one of the tables' JAX natives
changes (``crosscheck.backends.programs``). Tracing every native's gradient to a jaxpr gives such a
key, but costs a process 0.1 s of JAX tracing at its start, before a sweep can fork its jobs
(docs/measurements.md, issue 23). ``fingerprint`` reads the same information from the functions
themselves: their bytecode and constants, their closures, default arguments and the globals their
code names, followed into every function of ours they reach. What belongs to JAX or NumPy (e.g.
``jax.nn.relu``) is named by its module and name: the library's version is part of the stored
program's key.

Anything it cannot read exactly (an object whose text would hold an address, an unknown type)
makes it return None, and the caller traces the natives as before: a fingerprint is a shortcut,
never a looser key. The one change it does not see is a library function patched at run time
(``jax.nn.relu = ...``); a native of the tables patched or replaced (the tests do both) is seen.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import types
from typing import Any

import numpy as np

__all__ = ["fingerprint"]

# objects of these libraries are named, not read: their version is part of every stored key
_LIBRARIES = ("jax", "jaxlib", "numpy", "math", "builtins", "operator", "functools")
_SCALARS = (type(None), type(Ellipsis), bool, int, float, complex, str, bytes)


class _Unreadable(Exception):
    """An object whose behaviour this module cannot put into text."""


def fingerprint(*objects: Any) -> str | None:
    """A SHA-256 digest of what ``objects`` compute (functions, tables of them, constants), or None
    where one of them cannot be read exactly (the caller then falls back to tracing)."""
    digest = hashlib.sha256(sys.version.encode())
    try:
        for obj in objects:
            digest.update(_text(obj, set()).encode())
    except (_Unreadable, RecursionError):
        return None
    return digest.hexdigest()


def _library(obj: Any) -> str | None:
    module = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", "")
    if isinstance(module, str) and module.split(".")[0] in _LIBRARIES:
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if isinstance(name, str):
            return f"lib:{module}.{name}"
    return None


def _text(obj: Any, seen: set[int]) -> str:
    if isinstance(obj, _SCALARS):
        return f"{type(obj).__name__}:{obj!r}"
    if isinstance(obj, types.ModuleType):
        if obj.__name__.split(".")[0] in _LIBRARIES:  # what code reads through it is in its text
            return f"module:{obj.__name__}"
        raise _Unreadable(f"module {obj.__name__}")  # its attributes could change unseen
    if isinstance(obj, (tuple, list, frozenset, set)):
        items = [_text(x, seen) for x in obj]
        return f"{type(obj).__name__}({','.join(sorted(items) if isinstance(obj, (set, frozenset)) else items)})"
    if isinstance(obj, dict):
        return "dict(" + ",".join(f"{_text(k, seen)}={_text(v, seen)}" for k, v in obj.items()) + ")"
    if isinstance(obj, np.ndarray):
        return f"array:{obj.dtype.str}{obj.shape}:{hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest()}"
    if isinstance(obj, slice):
        return f"slice({_text(obj.start, seen)},{_text(obj.stop, seen)},{_text(obj.step, seen)})"
    if isinstance(obj, np.generic):
        return f"{type(obj).__name__}:{obj!r}"
    if isinstance(obj, functools.partial):
        return f"partial({_text(obj.func, seen)},{_text(obj.args, seen)},{_text(obj.keywords, seen)})"
    if isinstance(obj, types.FunctionType):
        named = _library(obj)
        if named is not None:
            return named
        if id(obj) in seen:  # recursion: named, read once
            return f"again:{obj.__module__}.{obj.__qualname__}"
        seen.add(id(obj))
        return _function(obj, seen)
    if isinstance(obj, types.CodeType):
        return _code(obj, seen)
    named = _library(obj)  # a library's callable object (custom_jvp, ufunc, builtin) or class
    if named is not None:
        return named
    # an object of ours (its methods' code is not read) or of another library: not readable here
    raise _Unreadable(type(obj).__qualname__)


def _function(fn: types.FunctionType, seen: set[int]) -> str:
    code = fn.__code__
    parts = [f"fn:{fn.__module__}.{fn.__qualname__}", _code(code, seen),
             _text(fn.__defaults__, seen), _text(fn.__kwdefaults__, seen)]
    if fn.__closure__:
        try:
            parts.append(_text([cell.cell_contents for cell in fn.__closure__], seen))
        except ValueError:  # an empty cell: the function cannot run as it is
            raise _Unreadable("empty closure cell") from None
    # the globals its code names (its nested functions' too), read as they are now: a patched
    # helper or constant is a different function
    for name in sorted(_names(code)):
        if name in fn.__globals__:
            parts.append(f"{name}={_text(fn.__globals__[name], seen)}")
    return "{" + ";".join(parts) + "}"


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _code(code: types.CodeType, seen: set[int]) -> str:
    consts = ",".join(_code(c, seen) if isinstance(c, types.CodeType) else _text(c, seen) for c in code.co_consts)
    return (f"code:{code.co_code.hex()}:{code.co_argcount}:{code.co_kwonlyargcount}:{code.co_flags}:"
            f"[{consts}]:{code.co_names}:{code.co_varnames}:{code.co_freevars}")
