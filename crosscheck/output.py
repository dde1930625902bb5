"""Writing reports: checked before any work, written atomically, ``-`` meaning stdout.

A report path that cannot be written is a usage error found before anything runs (exit 2), never
a traceback after the verdict. A report is written to a temporary file in the same directory and
renamed over the target (``os.replace``), so a reader sees the old file or the whole new one, and
``check`` writes only after the sandbox's whole process tree is gone, so nothing the implementation
started can overwrite it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import UsageError

__all__ = ["require_writable", "write_atomic", "write_text", "format_array", "plural", "stamp", "SCHEMA_VERSION"]

# The JSON reports' schema version (docs/json.md): raised when a key is renamed or removed or changes
# meaning; adding a key keeps it.
SCHEMA_VERSION = 1


def stamp(kind: str, data: dict) -> dict:
    """``data`` with ``schema`` (``"crosscheck.<kind>/<version>"``) and ``crosscheck`` (the release) first."""
    from .version import __version__

    return {"schema": f"crosscheck.{kind}/{SCHEMA_VERSION}", "crosscheck": __version__, **data}


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``"1 example"``, ``"2 examples"``; ``many`` for irregular plurals."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"


def require_writable(path: str | None, option: str) -> None:
    """Raise UsageError unless ``path`` (a report to write later) can be created or replaced."""
    if not path or path == "-":
        return
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a directory")
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: no such directory {folder}")
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"{option} {path}: not writable")
    check_name_length(path, option)


# what a temporary name beside the report adds to its name: "." + name + "." + 8 random + ".tmp" + suffix
_TMP_EXTRA = 32


def check_name_length(path: str, option: str) -> None:
    """A report name (and the temporary name written before it) the file system can hold: checked before
    any work, so a long name is exit 2 now, not a lost report after the verdict."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
        path_max = os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        name_max, path_max = 255, 4096
    name = len(os.fsencode(os.path.basename(path)))
    if name + _TMP_EXTRA > name_max or len(os.fsencode(os.path.abspath(path))) + _TMP_EXTRA > path_max:
        raise UsageError(f"{option}: the file name is too long ({name} bytes; at most {name_max - _TMP_EXTRA} "
                         "here, room left for the temporary name written first)")


def write_atomic(path: str, write: Callable[[str], None], *, suffix: str = "") -> None:
    """``write(tmp_path)`` into a temporary file beside ``path``, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=suffix + ".tmp" if not suffix
                               else ".tmp" + suffix, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_text(path: str, text: str) -> None:
    """``text`` to ``path`` atomically, or to stdout when ``path`` is ``-``."""
    if path == "-":
        import sys

        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        return

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")

    write_atomic(path, write)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def format_array(a: Any, name: str, *, limit: int = 12) -> str:
    """An array for a report: its name, shape and values, or only its shape when it is too large to read."""
    if a is None:
        return f"{name} = None"
    arr = np.asarray(a)
    if arr.size > limit * limit:
        return f"{name}: shape {arr.shape} (too large to print)"
    body = np.array2string(arr, precision=4, suppress_small=True, max_line_width=100)
    return f"{name} {arr.shape} =\n" + "\n".join("  " + ln for ln in body.splitlines())
