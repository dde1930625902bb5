"""A Gradescope autograder bundle: ``crosscheck grade --autograder OUT.zip GRADING.toml``.

Laid out as Gradescope's autograder specification says
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): a zip with, at its root,

- ``setup.sh``, run once as root when Gradescope builds the image (Ubuntu): installs Python and
  crosscheck from the package index into a virtual environment;
- ``run_autograder``, run for every submission with the working directory ``/autograder``: grades
  ``/autograder/submission`` and writes ``/autograder/results/results.json``;
- ``grading.toml``, the config, verbatim (Gradescope unpacks the zip into ``/autograder/source``).

The zip is byte-for-byte reproducible (fixed timestamps, sorted entries).
"""

from __future__ import annotations

import os
import shlex
import zipfile

from .config import GradeConfig

__all__ = ["write_autograder", "SETUP_SH", "RUN_AUTOGRADER", "default_requirement"]

ROOT = "/autograder"
VENV = f"{ROOT}/crosscheck-venv"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
# Written by `crosscheck grade --autograder`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
python3 -m venv {venv}
{venv}/bin/python -m pip install --upgrade pip
{venv}/bin/python -m pip install {requirement}
{venv}/bin/crosscheck --version
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission, in /autograder. Written by `crosscheck grade --autograder`.
# crosscheck grade writes results.json whatever the score (exit 0); each check's parts run in a
# confined worker process, so a submission that hangs, crashes or imports a forbidden module
# loses the points of that check and the rest is still graded.
set -uo pipefail
ROOT={root}
CROSSCHECK={venv}/bin/crosscheck
mkdir -p "$ROOT/results"
# grade a copy any user can read: the worker may drop to an unprivileged user, and /autograder
# need not be readable by one (results name files relative to the submission, so nothing changes)
SUBMISSION=$(mktemp -d)
cp -R "$ROOT/submission/." "$SUBMISSION"
chmod -R a+rX "$SUBMISSION"
"$CROSSCHECK" grade "$ROOT/source/grading.toml" --submission "$SUBMISSION" \\
    --format gradescope --out "$ROOT/results/results.json"
status=$?
rm -rf "$SUBMISSION"
exit $status
"""

_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the same bytes on every run


def default_requirement() -> str:
    """This crosscheck's exact version: the autograder grades with what the teacher tried.
    (The name on the public index must resolve to this project; pass ``--install`` otherwise.)"""
    from ..version import __version__

    return f"crosscheck=={__version__}"


def write_autograder(config: GradeConfig, out: str | os.PathLike, *, requirement: str | None = None) -> list[str]:
    """Write the bundle for ``config`` (already validated) to ``out``; returns the entry names."""
    req = requirement or default_requirement()
    files = {
        "grading.toml": (config.text.encode("utf-8"), 0o644),
        "run_autograder": (RUN_AUTOGRADER.format(root=ROOT, venv=VENV).encode(), 0o755),
        "setup.sh": (SETUP_SH.format(venv=VENV, requirement=shlex.quote(req)).encode(), 0o755),
    }
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
