"""What the autograder bundle carries so that its image builds from the bundle: the running crosscheck
as a wheel, and a constraints file pinning every dependency to the version the teacher runs.

The wheel is made from the package files this process imported (a source checkout, an editable
install or an installed wheel alike), with the distribution's metadata (``crosscheck-grad``: on
the package index the name ``crosscheck`` belongs to another project): what the teacher tried is
what Gradescope grades with, whether or not that version was ever published.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import sys
import zipfile
from importlib import metadata

from ..errors import UsageError

__all__ = ["DISTRIBUTION", "build_wheel", "wheel_name", "requirements", "constraints"]

DISTRIBUTION = "crosscheck-grad"
_PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
_EPOCH = (1980, 1, 1, 0, 0, 0)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
ENTRY_POINTS = ("[console_scripts]\ncrosscheck = crosscheck.cli:main\n\n"
                "[pytest11]\ncrosscheck = crosscheck.pytest_plugin\n")  # as pyproject.toml declares them


def _version() -> str:
    from ..version import __version__

    return __version__


def wheel_name() -> str:
    return f"{DISTRIBUTION.replace('-', '_')}-{_version()}-py3-none-any.whl"


def _installed_metadata() -> metadata.PackageMetadata | None:
    """This distribution's metadata, when the running package is the installed one."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != _version():
        return None
    return dist.metadata


def _pyproject() -> dict | None:
    path = os.path.join(os.path.dirname(_PACKAGE), "pyproject.toml")
    if not os.path.isfile(path):
        return None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    project = data.get("project", {})
    return project if project.get("name") == DISTRIBUTION else None


def requirements() -> tuple[list[str], dict[str, list[str]], str, str]:
    """(requirements, {extra: requirements}, summary, requires-python) of this distribution."""
    meta = _installed_metadata()
    if meta is not None:
        reqs, extras = [], {}
        for r in meta.get_all("Requires-Dist") or []:
            m = re.search(r"""extra\s*==\s*["']([^"']+)["']""", r)
            if m:
                extras.setdefault(m.group(1), []).append(re.sub(r";?\s*extra\s*==\s*[\"'][^\"']+[\"']", "", r)
                                                          .rstrip(" ;"))
            else:
                reqs.append(r)
        return reqs, extras, meta.get("Summary") or "", meta.get("Requires-Python") or ""
    project = _pyproject()
    if project is None:
        raise UsageError(f"cannot find the metadata of {DISTRIBUTION} {_version()} (neither installed nor a source "
                         "checkout): give --install REQUIREMENT")
    return (list(project.get("dependencies", [])), dict(project.get("optional-dependencies", {})),
            project.get("description", ""), project.get("requires-python", ""))


def _metadata_text() -> str:
    reqs, extras, summary, python = requirements()
    lines = ["Metadata-Version: 2.1", f"Name: {DISTRIBUTION}", f"Version: {_version()}", f"Summary: {summary}",
             "License-Expression: MIT"]
    if python:
        lines.append(f"Requires-Python: {python}")
    lines += [f"Requires-Dist: {r}" for r in reqs]
    for extra, items in sorted(extras.items()):
        lines.append(f"Provides-Extra: {extra}")
        for r in items:
            req, _, marker = r.partition(";")
            cond = f"({marker.strip()}) and extra == \"{extra}\"" if marker.strip() else f"extra == \"{extra}\""
            lines.append(f"Requires-Dist: {req.strip()}; {cond}")
    return "\n".join(lines) + "\n\n"


def _package_files() -> list[tuple[str, str]]:
    """(path in the wheel, file on disk) of every file of the running package (no caches)."""
    out = []
    for folder, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")) or name.startswith("."):
                continue
            path = os.path.join(folder, name)
            out.append((os.path.relpath(path, os.path.dirname(_PACKAGE)).replace(os.sep, "/"), path))
    return out


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel() -> tuple[str, bytes]:
    """(file name, bytes) of a wheel of the running crosscheck; byte-for-byte reproducible."""
    info = f"{DISTRIBUTION.replace('-', '_')}-{_version()}.dist-info"
    entries: list[tuple[str, bytes]] = []
    for arcname, path in _package_files():
        with open(path, "rb") as fh:
            entries.append((arcname, fh.read()))
    entries.append((f"{info}/METADATA", _metadata_text().encode()))
    entries.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: crosscheck grade --autograder\n"
                                     b"Root-Is-Purelib: true\nTag: py3-none-any\n\n"))
    entries.append((f"{info}/entry_points.txt", ENTRY_POINTS.encode()))
    record = "".join(f"{name},{_digest(data)},{len(data)}\n" for name, data in entries) + f"{info}/RECORD,,\n"
    entries.append((f"{info}/RECORD", record.encode()))
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zi = zipfile.ZipInfo(name, date_time=_EPOCH)
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
    return wheel_name(), buf.getvalue()


def _requirement_name(req: str) -> str | None:
    m = _NAME.match(req)
    return m.group(1) if m else None


def _applies(req: str) -> bool:
    """Whether a dependency's marker holds here (extras of the dependency never apply)."""
    _, _, marker = req.partition(";")
    if not marker.strip():
        return True
    if "extra" in marker:
        return False
    try:
        from packaging.markers import Marker
    except ImportError:  # pragma: no cover - without packaging: pin it if it is installed
        return True
    try:
        return Marker(marker).evaluate()
    except Exception:  # noqa: BLE001 - a marker this packaging cannot read: pin it if installed
        return True


def constraints(extra: list[str]) -> tuple[str, list[str]]:
    """(constraints.txt, missing): ``name==version`` for every dependency of crosscheck and of the
    ``extra`` packages (transitively) as installed here; ``missing``: the ``extra`` ones not installed."""
    base, _, _, _ = requirements()
    todo = [r for r in base if _applies(r)] + list(extra)
    pins: dict[str, str] = {}
    missing = []
    while todo:
        req = todo.pop()
        name = _requirement_name(req)
        if name is None:
            continue
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in pins:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if req in extra:
                missing.append(name)
            continue
        pins[key] = f"{dist.metadata['Name']}=={dist.version}"
        todo += [r for r in dist.requires or [] if _applies(r)]
    head = (f"# Written by `crosscheck grade --autograder` (crosscheck {_version()}, Python "
            f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}):\n"
            "# every dependency pinned to the version the teacher ran.\n")
    return head + "".join(f"{pins[k]}\n" for k in sorted(pins)), missing
