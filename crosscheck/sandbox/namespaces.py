"""Supervisor side: the kernel calls (``ctypes`` on libc) that confine the worker: the namespaces it
gets, and what the file system looks like in its mount namespace (private tmpfs, hidden folders,
read-only mounts, the interpreter revealed to an unprivileged user).

Separate from ``supervisor`` (the process's order of events and the tree kill) because each of these
is a self-contained mount operation with its own kernel rules. The parent sends this file's text
with the supervisor's (``crosscheck.sandbox.boot.SUPERVISOR_SOURCES``) and runs both in one
fresh namespace, so it imports nothing of crosscheck.
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
CLONE_NEWIPC = 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
# per-mount flags a remount must repeat (in a user namespace they are locked: leaving one out is EPERM)
_KEEP_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024, "nodiratime": 2048,
               "relatime": 1 << 21, "strictatime": 1 << 24}
_STAY_WRITABLE = ("/proc", "/dev/shm", "/dev/pts", "/dev/mqueue")  # shared memory (torch), terminals
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38

libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


LINUX = sys.platform.startswith("linux")


def prctl(option: int, value: int) -> None:
    if not LINUX:  # elsewhere: no subreaper, no dumpable flag; the process group is what is left
        return
    _check(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


# ---- namespaces ----------------------------------------------------------------------------------

def enter_namespaces(root: bool) -> list[str]:
    """Unshare what the kernel allows; returns the namespaces obtained (may be empty)."""
    if not LINUX:
        return []
    uid, gid = os.getuid(), os.getgid()
    for names in (("pid", "mount", "net", "ipc"), ("pid", "mount", "net"), ("pid", "mount"), ("pid",)):
        flags = CLONE_NEWPID if "pid" in names else 0
        flags |= CLONE_NEWNS if "mount" in names else 0
        flags |= CLONE_NEWNET if "net" in names else 0
        flags |= CLONE_NEWIPC if "ipc" in names else 0
        if not root:
            flags |= CLONE_NEWUSER
        if libc.unshare(flags) != 0:
            continue
        got = list(names)
        if not root:  # map our own uid and gid only: nothing in there is root outside
            try:
                _write("/proc/self/setgroups", "deny")
                _write("/proc/self/uid_map", f"{uid} {uid} 1")
                _write("/proc/self/gid_map", f"{gid} {gid} 1")
            except OSError:  # a restricted user namespace (AppArmor): no mounts in it
                got = [n for n in got if n != "mount"]
        if "mount" in got:
            try:
                mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here propagates to the machine
            except OSError:
                got.remove("mount")  # shared propagation: mount nothing
        return got
    return []


def blocker(path: str) -> str | None:
    """The highest directory on ``path`` that others cannot enter, or None."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        d = "/" + "/".join(parts[:i])
        try:
            if not os.stat(d).st_mode & stat.S_IXOTH:
                return d
        except OSError:
            return None
    return None


def reveal(paths: list[str]) -> list[str]:
    """Make ``paths`` reachable by an unprivileged user inside this mount namespace: a tmpfs (mode 755)
    over each directory that hides one, with just those paths bound back. Returns what was covered."""
    groups: dict[str, list[str]] = {}
    for p in paths:
        b = blocker(p)
        if b is not None and os.path.exists(p):
            groups.setdefault(b, []).append(p)
    for b in sorted(groups, key=len):
        if blocker(b) is not None:  # a path already covered by an outer tmpfs is bound back there
            continue
        wanted = sorted(set(groups[b]))
        wanted = [p for p in wanted if not any(p != q and p.startswith(q + "/") for q in wanted)]  # inside another
        _tmpfs_keeping(b, wanted, "mode=755,size=64k")
    return sorted(groups)


def _tmpfs_keeping(point: str, wanted: list[str], options: str) -> None:
    """A fresh tmpfs on ``point`` with only the ``wanted`` paths under it bound back."""
    held = [(p, os.open(p, os.O_PATH | os.O_CLOEXEC)) for p in wanted]
    try:
        mount("tmpfs", point, "tmpfs", MS_NOSUID | MS_NODEV, options)
        for p, fd in held:
            os.makedirs(os.path.dirname(p), mode=0o755, exist_ok=True)
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(p, mode=0o755, exist_ok=True)
            else:
                open(p, "a").close()
            mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC)
    finally:
        for _, fd in held:
            os.close(fd)


# what a fresh tmpfs covers in the worker's mount namespace: nothing the worker leaves there outlives it,
# and no path-based unix socket of the host (/tmp/.X11-unix, /run/dbus, /run/user/...) can be reached
PRIVATE = ("/tmp", "/var/tmp", "/run", "/var/run", "/dev/shm", "/dev/mqueue")


def private_mounts(keep: list[str], shm_mb: int) -> tuple[list[str], list[str]]:
    """A private tmpfs on each of ``PRIVATE`` that exists here (a symlink such as /var/run -> /run is
    covered through its target), with the ``keep`` paths under it bound back; ``/dev/shm`` and
    ``/dev/mqueue`` are size-limited. Returns (covered, failures)."""
    done: list[str] = []
    failed: list[str] = []
    for point in PRIVATE:
        if os.path.islink(point) or not os.path.isdir(point):
            continue
        inside = sorted({p for p in keep if p.startswith(point + "/") and os.path.exists(p)})
        inside = [p for p in inside if not any(p != q and p.startswith(q + "/") for q in inside)]
        size = f"{max(1, shm_mb)}m" if point in ("/dev/shm", "/dev/mqueue") else "256m"
        try:
            _tmpfs_keeping(point, inside, f"mode=1777,size={size}")
            done.append(point)
        except OSError as e:
            failed.append(f"{point} ({e.strerror})")
    return done, failed


def hide(paths: list[str]) -> tuple[list[str], list[str]]:
    """An empty read-only tmpfs over each folder of ``paths`` and ``/dev/null`` over each file:
    nothing in this mount namespace (a child interpreter, ``dir_fd``, ctypes) can read them.
    Returns (hidden, failures); a path absent here (under a private tmpfs) is already hidden."""
    done: list[str] = []
    failed: list[str] = []
    for p in paths:
        try:
            if not os.path.lexists(p):
                done.append(p)
            elif os.path.isdir(p) and not os.path.islink(p):
                mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=555,size=4k")
                done.append(p)
            else:
                mount("/dev/null", p, None, MS_BIND)
                mount(None, p, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
                done.append(p)
        except OSError as e:
            failed.append(f"{p} ({e.strerror})")
    return done, failed


def read_only(writable: list[str]) -> list[str]:
    """Every mount read-only in this mount namespace except ``writable`` (bound onto themselves first,
    so they are mounts of their own) and ``_STAY_WRITABLE``: the worker can change no file outside its
    private directory, whoever owns it. Returns the mount points it could not change."""
    for path in writable:
        mount(path, path, None, MS_BIND | MS_REC)
    failed = []
    with open("/proc/self/mountinfo") as f:
        entries = [line.split() for line in f]
    for e in entries:
        point = e[4].replace("\\040", " ")
        if point in writable or any(point == w or point.startswith(w.rstrip("/") + "/")
                                    for w in (*writable, *_STAY_WRITABLE)):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for opt in e[5].split(","):
            flags |= _KEEP_FLAGS.get(opt, 0)
        try:
            mount(None, point, None, flags)
        except OSError:
            failed.append(point)
    return failed

