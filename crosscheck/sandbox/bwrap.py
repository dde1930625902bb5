"""bubblewrap (``isolation="bwrap"``), parent side: whether it can run here, and its command line.

The worker runs bwrap after dropping to its unprivileged uid (as root) with ``no_new_privs``, so the
probe runs it the same way: a bwrap that works for root only (or a setuid one, which ``no_new_privs``
disarms) is not used by ``auto``. Under bwrap the worker sees a read-only root, private ``/dev``,
``/proc``, ``/tmp``, ``/var/tmp`` and ``/run``, its home writable, and crosscheck's package and the
forbidden modules emptied; bwrap's own exit code turns a death by signal N into 128+N, which
``boot.BOOT`` works around (docs/sandbox.md).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys

__all__ = ["bwrap_problem", "bwrap_works", "bwrap_argv", "PRIVATE", "PROBE_UID"]

PROBE_UID = 1_600_000_000  # an unprivileged uid of the sandbox's range (isolation._UID_RANGE)


def bwrap_problem() -> str | None:
    """Why ``isolation="bwrap"`` cannot run here, in a few words; None when it can."""
    if not sys.platform.startswith("linux"):
        return "bubblewrap is Linux's"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    if not bwrap_works(bwrap):
        return (f"{bwrap} cannot create namespaces here (a container without the capability, or "
                "unprivileged user namespaces turned off)")
    return None


_WORKS: dict[str, bool] = {}


def _as_the_worker() -> None:
    """In the probe's child: what the worker is when it runs bwrap, an unprivileged uid (when we are
    root) with ``no_new_privs``, so a setuid bwrap or unprivileged user namespaces are tried as it will be."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(PROBE_UID)
        os.setuid(PROBE_UID)
    ctypes.CDLL(None, use_errno=True).prctl(38, ctypes.c_ulong(1), 0, 0, 0)  # PR_SET_NO_NEW_PRIVS


def bwrap_works(bwrap: str) -> bool:
    """bwrap may be installed where it cannot create namespaces (a container without the capability,
    unprivileged user namespaces turned off): tried once, as the worker will run it."""
    if bwrap not in _WORKS:
        try:
            r = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
                               capture_output=True, timeout=20, cwd="/", preexec_fn=_as_the_worker)
            _WORKS[bwrap] = r.returncode == 0
        except (OSError, subprocess.SubprocessError):  # not runnable by the worker, a hang, a failed preexec
            _WORKS[bwrap] = False
    return _WORKS[bwrap]


# what bubblewrap covers with a fresh tmpfs (as the supervisor's PRIVATE); /var/run is a link to /run
PRIVATE = ("/tmp", "/var/tmp", "/run")


def bwrap_argv(bwrap: str, argv: list[str], home: str, keep: list[str], hide: list[str]) -> list[str]:
    """``argv`` under ``bwrap``: a read-only root, private /dev, /proc and ``PRIVATE``, ``home`` writable,
    the ``keep`` paths that a private tmpfs covers (the target, the interpreter or a venv in /tmp) bound
    back read-only, then the ``hide`` paths (folders emptied, files replaced by /dev/null) on top."""
    out = [bwrap, "--die-with-parent", "--unshare-all", "--new-session", "--ro-bind", "/", "/",
           "--dev", "/dev", "--proc", "/proc"]
    private = [p for p in PRIVATE if os.path.isdir(p) and not os.path.islink(p)]
    for point in private:
        out += ["--tmpfs", point]
    out += ["--bind", home, home]
    covered = sorted({p for p in keep if os.path.exists(p) and any(p.startswith(q + "/") for q in private)})
    for path in [p for p in covered if not any(p != q and p.startswith(q + "/") for q in covered)]:
        out += ["--ro-bind", path, path]
    for path in dict.fromkeys(hide):
        if os.path.isdir(path):
            out += ["--tmpfs", path, "--remount-ro", path]
        elif os.path.exists(path):
            out += ["--ro-bind", "/dev/null", path]
    out += ["--chdir", home, "--"]
    return out + argv
