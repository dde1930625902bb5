"""Worker side: the import guard, an audit hook that refuses crosscheck and every ``--forbid-import`` module.

Separate from ``worker`` because it is one concern with its own reasoning (which events reveal an
import, how a hidden folder is told apart), installed before the target's first line runs. Like
every worker-side file, the parent sends its text (``crosscheck.sandbox.boot.WORKER_SOURCES``)
and BOOT runs it in the worker's one namespace, so it imports nothing of crosscheck.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

OWN_CODE = "<crosscheck"  # co_filename prefix of the code BOOT runs (every worker-side file)


class ForbiddenImport(ImportError):
    """An import the check forbids (``--forbid-import``, or crosscheck itself)."""


def _is_own(filename: str) -> bool:
    return filename.startswith(OWN_CODE) or filename.startswith("<frozen importlib") \
        or os.sep + "importlib" + os.sep in filename


def _where() -> str:
    """file:line of the user's code that asked for the import (frames of importlib and the worker's own skipped)."""
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


def already_imported(forbidden: list[str]) -> list[str]:
    """Forbidden names the worker itself has already imported (an audit hook cannot refuse those)."""
    return [n for n in forbidden if any(m == n or m.startswith(n + ".") for m in list(sys.modules))]

