"""What the worker must not see, found in the parent before any untrusted code runs.

The worker's audit hook refuses forbidden imports inside its own interpreter, but a child
interpreter has no hook, and ``os.open(name, dir_fd=fd)`` or ctypes pass it by. So the
supervisor mounts an empty read-only tmpfs over each folder listed here (and ``/dev/null``
over each file) inside the worker's mount namespace: crosscheck's package and every
``--forbid-import`` module, wherever a Python could find it:

- each entry of ``sys.path`` and the site directories, and the folders named by their ``.pth``
  files: ``NAME/``, ``NAME.py``, ``NAME.*.so``, ``NAME.libs``, ``NAME-*.dist-info``,
  ``NAME-*.egg-info``, ``NAME.egg-link``;
- ``.pth`` files and setuptools' editable finders that mention ``NAME`` (and the folders an
  editable finder maps ``NAME`` to);
- the folder of ``NAME`` as the parent imported it (``sys.modules``).

``torch/lib``'s shared objects are inside ``torch/``. What the worker itself needs (the
interpreter, the standard library, NumPy, the target's folder) is never hidden: forbidding one
of those is refused in the worker (``cannot forbid``).
"""

from __future__ import annotations

import glob
import os
import re
import site
import sys
import sysconfig
from collections.abc import Iterable

__all__ = ["forbidden_locations", "needed_paths"]


def _dirs() -> list[str]:
    found: list[str] = []
    extra: list[str] = []
    try:
        extra += site.getsitepackages()
    except AttributeError:  # pragma: no cover - a virtualenv's old site.py
        pass
    try:
        extra.append(site.getusersitepackages())
    except AttributeError:  # pragma: no cover
        pass
    extra += [v for k, v in sysconfig.get_paths().items() if k in ("purelib", "platlib")]
    for p in [*sys.path, *extra]:
        if isinstance(p, str) and p and os.path.isdir(p):
            found.append(os.path.realpath(p))
    # folders that .pth files add (a plain line naming a folder; ``import`` lines are code)
    for d in list(found):
        for pth in glob.glob(os.path.join(glob.escape(d), "*.pth")):
            try:
                with open(pth, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        line = line.strip()
                        if line and not line.startswith(("#", "import ", "import\t")):
                            q = line if os.path.isabs(line) else os.path.join(d, line)
                            if os.path.isdir(q):
                                found.append(os.path.realpath(q))
            except OSError:
                continue
    return list(dict.fromkeys(found))


def _mapped(finder: str, name: str) -> list[str]:
    """The folders a setuptools editable finder maps ``name`` to (``MAPPING = {'name': '/path'}``)."""
    try:
        with open(finder, encoding="utf-8", errors="replace") as f:
            text = f.read(200_000)
    except OSError:
        return []
    pattern = r"""['"]NAME['"]\s*:\s*['"]([^'"]+)['"]""".replace("NAME", re.escape(name))
    return re.findall(pattern, text)


def forbidden_locations(names: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """Real paths (folders and files) that hold any of the top-level modules ``names``, plus
    ``extra`` (crosscheck's package folder); sorted, none inside another."""
    tops = sorted({n.split(".")[0] for n in names if n})
    out: set[str] = {os.path.realpath(p) for p in extra if os.path.exists(p)}
    for d in _dirs():
        for top in tops:
            esc = glob.escape(top)
            patterns = [top, top + ".py", esc + ".*.so", esc + ".*.pyd", esc + ".so", top + ".libs",
                        esc + "-*.dist-info", esc + "-*.egg-info", top + ".egg-link", "*" + esc + "*.pth",
                        "__editable__*" + esc + "*", os.path.join("__pycache__", esc + ".*.pyc")]
            for pattern in patterns:
                for p in glob.glob(os.path.join(glob.escape(d), pattern)):
                    if os.path.basename(p).startswith("__editable__") and p.endswith(".py"):
                        out.update(os.path.realpath(m) for m in _mapped(p, top) if os.path.exists(m))
                    out.add(os.path.realpath(p))
    for top in tops:
        mod = sys.modules.get(top)
        for p in list(getattr(mod, "__path__", None) or []) + [getattr(mod, "__file__", None) or ""]:
            if isinstance(p, str) and p and os.path.exists(p):
                out.add(os.path.realpath(p))
    return _outermost(out)


def _outermost(paths: Iterable[str]) -> list[str]:
    kept: list[str] = []
    for p in sorted(paths, key=len):
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in kept):
            kept.append(p)
    return sorted(kept)


def needed_paths() -> list[str]:
    """What the worker's interpreter reads before the target runs: never hidden."""
    import numpy

    here = os.path.dirname(os.path.realpath(numpy.__file__))
    paths = {os.path.realpath(sys.executable), here, here + ".libs"}
    # the standard library where os.py is (a venv's "platstdlib" is its lib/, which holds site-packages)
    paths.update([os.path.dirname(os.__file__), sysconfig.get_config_var("DESTSHARED") or ""])
    return sorted(os.path.realpath(p) for p in paths if p and os.path.exists(p))


def without_needed(hidden: list[str], needed: list[str]) -> list[str]:
    """``hidden`` less any path that is, holds, or lies inside something the worker needs (the
    standard library, NumPy, the interpreter, the target's folder)."""
    def related(p: str, q: str) -> bool:
        return p == q or q.startswith(p.rstrip("/") + "/") or p.startswith(q.rstrip("/") + "/")
    return [p for p in hidden if not any(related(p, q) for q in needed)]
