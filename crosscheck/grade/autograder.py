"""A Gradescope autograder bundle: ``crosscheck grade --autograder OUT.zip GRADING.toml``.

Laid out as Gradescope's autograder specification says
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): a zip with, at its root,

- ``setup.sh``, run once as root when Gradescope builds the image (Ubuntu): makes a virtual
  environment and installs crosscheck **from the bundle** (``wheels/``: the running crosscheck as a
  wheel, ``bundle``) with every dependency pinned to the teacher's versions (``constraints.txt``);
  torch (CPU build) and other packages only where ``[autograder] requirements`` lists them;
  with ``[autograder] offline = true`` the dependencies' wheels are in ``wheels/`` too (downloaded
  when the zip is written, for Gradescope's platform: manylinux x86_64 and the teacher's Python),
  and setup.sh installs with ``--no-index``: no package index is needed to build the image;
- ``run_autograder``, run for every submission with the working directory ``/autograder``: grades
  ``/autograder/submission`` and writes ``/autograder/results/results.json``, a valid one whatever
  happens: if crosscheck itself fails, the score is 0, the student reads that the autograder failed,
  and the error goes to the log and to a hidden test (teachers see both);
- ``grading.toml``, the config, verbatim, and the teacher's files beside it at the same relative
  paths: every adapter's folder and ``[autograder] files`` (Gradescope unpacks the zip into
  ``/autograder/source``).

The zip is byte-for-byte reproducible (fixed timestamps, sorted entries).
"""

from __future__ import annotations

import glob
import os
import shlex
import zipfile

from ..errors import UsageError
from .config import GradeConfig

__all__ = ["write_autograder", "SETUP_SH", "RUN_AUTOGRADER", "TORCH_CPU_INDEX", "MAX_FILES_BYTES"]

ROOT = "/autograder"
VENV = f"{ROOT}/crosscheck-venv"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"  # Gradescope has no GPU: the CPU build, not CUDA's
MAX_FILES_BYTES = 100 * 2**20  # the teacher's files: Gradescope's own upload limit is of this order

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
# Written by `crosscheck grade --autograder`: crosscheck comes from this bundle (wheels/), every
# dependency pinned to the versions the teacher ran (constraints.txt, made with Python {python}).
set -euo pipefail
SOURCE=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt-get update
    apt-get install -y --no-install-recommends python3 python3-venv python3-pip
fi
python3 -c 'import sys; v = "%d.%d" % sys.version_info[:2]; v == "{python}" or print(
    "crosscheck autograder: this image has Python " + v + ", the bundle was made with {python}; the pinned "
    "versions may not exist for it (choose a base image with Python {python})")'
python3 -m venv {venv}
{venv}/bin/python -m pip install --no-cache-dir -c "$SOURCE/constraints.txt" {index}{install}
{venv}/bin/crosscheck --version
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission, in /autograder. Written by `crosscheck grade --autograder`.
# crosscheck grade writes results.json whatever the score (exit 0); each check's parts run in a
# confined worker process, so a submission that hangs, crashes or imports a forbidden module
# loses the points of that check and the rest is still graded. If crosscheck itself fails, a
# results.json with score 0 is written all the same, with the error for the instructor.
set -uo pipefail
ROOT={root}
CROSSCHECK={venv}/bin/crosscheck
PYTHON={venv}/bin/python
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
# grade a copy any user can read: the worker may drop to an unprivileged user, and /autograder
# need not be readable by one (results name files relative to the submission, so nothing changes)
SUBMISSION=$(mktemp -d)
LOG=$(mktemp)
cp -R "$ROOT/submission/." "$SUBMISSION"
chmod -R a+rX "$SUBMISSION"
"$CROSSCHECK" grade "$ROOT/source/grading.toml" --submission "$SUBMISSION" \\
    --format gradescope --out "$RESULTS" 2> "$LOG"
status=$?
cat "$LOG"
rm -rf "$SUBMISSION"
VALID='import json, sys; d = json.load(open(sys.argv[1])); assert isinstance(d["tests"], list)'
SAID="The autograder failed on this submission; your instructor can see why. Score 0 for now."
if [ $status -ne 0 ] || ! "$PYTHON" -c "$VALID" "$RESULTS" 2>/dev/null; then
    echo "crosscheck grade failed (exit $status); writing a results.json with score 0"
    ERROR=$(tail -c 4000 "$LOG") python3 - "$RESULTS" <<'PY' \\
        || printf '{{"score": 0, "output": "%s", "tests": [], "stdout_visibility": "hidden"}}' "$SAID" > "$RESULTS"
import json, os, sys
error = os.environ.get("ERROR", "") or "(no output)"
json.dump({{"score": 0, "stdout_visibility": "hidden",
           "output": "The autograder failed on this submission; your instructor can see why. Score 0 for now.",
           "tests": [{{"name": "crosscheck error (instructors only)", "score": 0, "max_score": 0,
                      "status": "failed", "visibility": "hidden", "output_format": "text",
                      "output": "crosscheck grade failed:\\n" + error}}]}}, open(sys.argv[1], "w"), indent=2)
PY
fi
rm -f "$LOG"
exit 0
"""

_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the same bytes on every run


def _teacher_files(config: GradeConfig) -> dict[str, str]:
    """Zip name -> file: every adapter's folder and the config's ``files`` globs, relative to the config."""
    folder = config.folder
    out: dict[str, str] = {}

    def add(path: str) -> None:
        rel = os.path.relpath(path, folder).replace(os.sep, "/")
        if rel.startswith("../") or os.path.basename(path).startswith(".") or "__pycache__" in rel.split("/"):
            return
        if os.path.realpath(path) == os.path.realpath(config.path):
            return
        out[rel] = path

    for spec in config.checks:
        if spec.adapter:
            adapter_dir = os.path.dirname(os.path.join(folder, spec.adapter.partition(":")[0]))
            if os.path.realpath(adapter_dir) == os.path.realpath(folder):  # beside the config: just the file
                add(os.path.join(folder, spec.adapter.partition(":")[0]))
                continue
            for d, dirs, files in os.walk(adapter_dir):
                dirs[:] = [x for x in dirs if not x.startswith(".") and x != "__pycache__"]
                for f in files:
                    add(os.path.join(d, f))
    for pattern in config.autograder.get("files", ()):
        matches = sorted(glob.glob(os.path.join(folder, pattern), recursive=True))
        if not matches:
            raise UsageError(f"{config.path}: [autograder] files: {pattern!r} matches no file in {folder}")
        for m in matches:
            if os.path.isdir(m):
                for d, dirs, files in os.walk(m):
                    dirs[:] = [x for x in dirs if not x.startswith(".") and x != "__pycache__"]
                    for f in files:
                        add(os.path.join(d, f))
            else:
                add(m)
    total = sum(os.path.getsize(p) for p in out.values())
    if total > MAX_FILES_BYTES:
        raise UsageError(f"{config.path}: the teacher's files to ship add up to {total / 2**20:.0f} MiB "
                         f"(more than {MAX_FILES_BYTES // 2**20} MiB); ship less with [autograder] files")
    return out


def _dependency_wheels(pins: str, torch: bool) -> list[tuple[str, bytes]]:
    """The pinned dependencies as wheels for Gradescope's image (Ubuntu, x86_64, this Python), downloaded now."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="crosscheck-wheels-") as tmp:
        reqs = os.path.join(tmp, "requirements.txt")
        with open(reqs, "w") as fh:
            fh.write(pins)
        py = f"{sys.version_info.major}.{sys.version_info.minor}"
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--implementation", "cp",
               "--python-version", py, "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
               "--platform", "manylinux_2_17_x86_64", "-d", os.path.join(tmp, "w"), "-r", reqs]
        if torch:
            cmd += ["--extra-index-url", TORCH_CPU_INDEX]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["pip download failed"])[-1]
            raise UsageError(f"[autograder] offline: cannot download the dependencies' wheels for Gradescope "
                             f"(manylinux x86_64, Python {py}): {last}")
        out = []
        for name in sorted(os.listdir(os.path.join(tmp, "w"))):
            with open(os.path.join(tmp, "w", name), "rb") as fh:
                out.append((name, fh.read()))
        return out


def write_autograder(config: GradeConfig, out: str | os.PathLike, *, requirement: str | None = None) -> list[str]:
    """Write the bundle for ``config`` (already validated) to ``out``; returns the entry names.
    ``requirement`` replaces the bundled wheel with a pip requirement (a URL, a published version)."""
    import sys

    from .bundle import build_wheel, constraints

    extra = list(config.autograder.get("requirements", ()))
    pins, missing = constraints(extra)
    if missing:
        raise UsageError(f"{config.path}: [autograder] requirements: {', '.join(missing)} is not installed here; "
                         "install the version the autograder should use, so that it can be pinned")
    files: dict[str, tuple[bytes, int]] = {
        "grading.toml": (config.text.encode("utf-8"), 0o644),
        "constraints.txt": (pins.encode(), 0o644),
    }
    if requirement:
        install = shlex.quote(requirement)
    else:
        name, data = build_wheel()
        files[f"wheels/{name}"] = (data, 0o644)
        install = f'"$SOURCE/wheels/{name}"'
    install += "".join(" " + shlex.quote(r) for r in extra)
    torch = any(r.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip().lower() == "torch" for r in extra)
    index = f"--extra-index-url {TORCH_CPU_INDEX} " if torch else ""
    if config.autograder.get("offline"):
        for name, data in _dependency_wheels(pins, torch):
            files[f"wheels/{name}"] = (data, 0o644)
        index = '--no-index --find-links "$SOURCE/wheels" '
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    files["run_autograder"] = (RUN_AUTOGRADER.format(root=ROOT, venv=VENV).encode(), 0o755)
    files["setup.sh"] = (SETUP_SH.format(venv=VENV, install=install, index=index, python=python).encode(), 0o755)
    for rel, path in _teacher_files(config).items():
        if rel in files:
            raise UsageError(f"{config.path}: the teacher's file {rel} has the name of a file the bundle writes")
        with open(path, "rb") as fh:
            files[rel] = (fh.read(), 0o644)
    tmp = f"{os.fspath(out)}.tmp{os.getpid()}"
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(files):
                data, mode = files[name]
                info = zipfile.ZipInfo(name, date_time=_EPOCH)
                info.external_attr = (0o100000 | mode) << 16  # a regular file with its permission bits
                info.create_system = 3  # unix, so unzip honours the permissions
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return sorted(files)
