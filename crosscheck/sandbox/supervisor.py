"""The sandbox's supervisor: the trusted process between crosscheck and the worker.

``crosscheck.sandbox`` runs this file's text, with ``namespaces``' (its kernel calls), as ``python -I -B
-c SUPERVISOR_BOOT CONFIG SOURCES`` (``crosscheck.sandbox.boot``: the package is never on its
path) before any untrusted code exists. It

1. makes itself non-dumpable and a child subreaper, so every orphan of the worker's tree, even one
   started in a new session, becomes its child instead of escaping to init;
2. puts the worker in new PID, mount and network namespaces where the kernel allows it (as root,
   or through a user namespace): when the namespace's first process exits, the kernel kills every
   process in it; the worker then sees its own /proc only, and no network;
3. as root, reveals the interpreter to an unprivileged user when a parent directory hides it
   (a private tmpfs over that directory with only the needed paths bound back), then forks the
   worker, which drops to the unprivileged ``uid``/``gid`` with no supplementary groups, no
   capabilities and ``no_new_privs`` (a setuid binary cannot give root back) before ``exec``;
4. when the worker exits, or when crosscheck closes the control pipe (a kill request, or crosscheck
   itself died), kills the whole tree: the namespace, or every process of the worker's unique uid
   (``kill(-1)`` as that uid), or its tracked descendants (the subreaper's children, until none are
   left); and exits only after that, mirroring the worker's exit status (the same code, or death by
   the same signal), so crosscheck's ``wait()`` returning means the tree is gone.

It writes one JSON line on the info pipe before starting the worker: the mode it got and notes.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time

if __name__ != "_crosscheck_supervisor":  # imported from the package (tests); as the supervisor, the boot runs both
    from crosscheck.sandbox.namespaces import (
        MS_NODEV,
        MS_NOEXEC,
        MS_NOSUID,
        PR_SET_CHILD_SUBREAPER,
        PR_SET_DUMPABLE,
        PR_SET_NO_NEW_PRIVS,
        PR_SET_PDEATHSIG,
        blocker,
        enter_namespaces,
        hide,
        libc,
        mount,
        prctl,
        private_mounts,
        read_only,
        reveal,
    )


# ---- the worker ----------------------------------------------------------------------------------

def exec_worker(cfg: dict) -> None:
    """In the forked child: close what the worker must not hold, drop privileges, exec. Never returns."""
    try:
        keep = sorted({0, 1, 2, *cfg["keep_fds"]})
        for lo, hi in zip(keep, keep[1:] + [65536]):
            os.closerange(lo + 1, hi)
        os.setpgid(0, 0)  # its own process group, killed as a whole at the end wherever /proc is missing
        uid, gid = cfg.get("uid"), cfg.get("gid")
        if uid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)  # from root: every capability goes with it
        prctl(PR_SET_NO_NEW_PRIVS, 1)  # no setuid binary can give privileges back
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the supervisor gone, the worker goes (set after setuid)
        os.chdir(cfg["cwd"])
        os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
    except BaseException as e:  # noqa: BLE001 - anything here means the worker cannot start
        os.write(2, f"crosscheck: the sandbox could not start the worker: {e}\n".encode())
    os._exit(127)


def _sweep_uid(uid: int) -> None:
    """Kill every process of ``uid`` (the worker's own, unique to this sandbox) until none is left."""
    for _ in range(50):
        pid = os.fork()
        if pid == 0:
            try:
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)  # every process this uid may signal: exactly the uid's own
                os._exit(1)
            except ProcessLookupError:
                os._exit(0)
            except BaseException:  # noqa: BLE001
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        _reap()
        if os.waitstatus_to_exitcode(status) != 1:
            return
        time.sleep(0.01)


def _children() -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children") as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


def _reap() -> list[tuple[int, int]]:
    done = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done.append((pid, status))


def _sweep_children() -> None:
    """The subreaper's children (orphans of the worker's tree land here), killed until none is left."""
    for _ in range(200):
        _reap()
        kids = _children()
        if not kids:
            return
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)


def _own(base: str, uid: int) -> None:
    """``base``'s tree (the private directory and the target's copy, made for the unprivileged user)
    to ``uid``, links not followed: the worker falls back to running as root."""
    for folder, dirs, files in os.walk(base):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            try:
                os.chown(name, uid, uid, follow_symlinks=False)
            except OSError:
                pass


def _remove(base: str, parent_fd: int) -> None:
    import shutil

    try:
        if sys.version_info >= (3, 11):
            shutil.rmtree(os.path.basename(base), dir_fd=parent_fd)
        else:  # pragma: no cover - no dir_fd: works where the mount is still writable here
            shutil.rmtree(base)
    except OSError:
        pass  # crosscheck removes it too


# ---- what a worker without namespaces leaves behind -------------------------------------------------

_SHARED = ("/dev/shm", "/dev/mqueue")


def _snapshot() -> set:
    """What exists before the worker starts (kept: another process of the same user may own it)."""
    out: set = set()
    for d in _SHARED:
        try:
            out.update((d, e) for e in os.listdir(d))
        except OSError:
            pass
    for kind in ("shm", "sem", "msg"):
        out.update((kind, r.get("id")) for r in _sysv(kind))
    return out


def _sysv(kind: str) -> list[dict]:
    try:
        with open(f"/proc/sysvipc/{kind}") as f:
            lines = f.read().split("\n")
    except OSError:
        return []
    head = lines[0].split()
    rows = [dict(zip(head, line.split())) for line in lines[1:] if line.strip()]
    for r in rows:
        r["id"] = r.get("shmid") or r.get("semid") or r.get("msqid")
    return rows


def clean_shared(uid: int, before: set, *, files: bool, sysv: bool) -> list[str]:
    """Remove what ``uid`` created in /dev/shm, /dev/mqueue (``files``) and SysV IPC (``sysv``) since
    ``before``: the worker's, as no other process of that uid was started since (a unique uid as root;
    as an ordinary user, anything new of the same user, see docs/sandbox.md). Returns what went."""
    gone: list[str] = []
    for d in _SHARED if files else ():
        try:
            entries = os.listdir(d)
        except OSError:
            continue
        for e in entries:
            path = os.path.join(d, e)
            try:
                if (d, e) in before or os.lstat(path).st_uid != uid:
                    continue
                if os.path.isdir(path) and not os.path.islink(path):
                    import shutil

                    shutil.rmtree(path)
                else:
                    os.unlink(path)
                gone.append(path)
            except OSError:
                pass
    rmid = {"shm": lambda i: libc.shmctl(i, 0, None), "sem": lambda i: libc.semctl(i, 0, 0),
            "msg": lambda i: libc.msgctl(i, 0, None)}  # IPC_RMID
    for kind in rmid if sysv else ():
        for r in _sysv(kind):
            if (kind, r["id"]) in before or r.get("cuid") != str(uid) and r.get("uid") != str(uid):
                continue
            try:
                if rmid[kind](int(r["id"])) == 0:
                    gone.append(f"SysV {kind} {r['id']}")
            except (ValueError, TypeError):
                pass
    return gone


def _mirror(status: int) -> None:
    """Leave the way the worker left: its exit code, or death by its signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig != signal.SIGKILL:
            try:
                signal.signal(sig, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
            except (OSError, ValueError):
                pass
        try:
            os.kill(os.getpid(), sig)
            time.sleep(0.1)
        except OSError:
            pass
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _init(cfg: dict, report_fd: int, namespaces: list[str]) -> None:
    """PID 1 of the new namespace: its own /proc, the worker, then the worker's status up a pipe.
    Its exit makes the kernel kill everything left in the namespace."""
    if "mount" in namespaces:
        try:
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except OSError:
            pass
    worker = os.fork()
    if worker == 0:
        os.close(report_fd)
        exec_worker(cfg)
    for fd in cfg["keep_fds"]:
        os.close(fd)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:  # pragma: no cover
            os._exit(0)
        if pid == worker:
            os.write(report_fd, status.to_bytes(4, "little", signed=True))
            os._exit(0)


def main(argv: list[str]) -> int:
    cfg = json.loads(argv[1])
    ctl, info = cfg["ctl_fd"], cfg["info_fd"]
    notes: list[str] = []
    os.set_inheritable(ctl, False)
    # the sandbox directory's parent, opened before the mount namespace makes it read-only here: the
    # directory is removed at the end even when crosscheck was killed and cannot do it
    base = os.path.dirname(cfg["cwd"])
    base_parent = os.open(os.path.dirname(base), os.O_RDONLY | os.O_DIRECTORY)
    try:
        prctl(PR_SET_CHILD_SUBREAPER, 1)
    except OSError as e:
        notes.append(f"no child subreaper ({e})")
    root = os.geteuid() == 0
    # before PR_SET_DUMPABLE: a non-dumpable process may not write its own uid_map
    namespaces = enter_namespaces(root) if cfg.get("namespaces", True) else []
    prctl(PR_SET_DUMPABLE, 0)  # the worker (same uid when not root) cannot ptrace or read our memory
    dropping = cfg.get("uid") is not None
    if cfg.get("uid") is not None and cfg.get("reveal"):
        if "mount" in namespaces:
            try:
                reveal(cfg["reveal"])
            except OSError as e:
                notes.append(f"could not reveal the interpreter to the unprivileged user ({e}); running as root")
                cfg["uid"] = cfg["gid"] = None
        elif any(blocker(p) for p in cfg["reveal"]):
            notes.append("the interpreter is not readable by an unprivileged user and mount namespaces are "
                         "unavailable; the worker runs as root")
            cfg["uid"] = cfg["gid"] = None
        if dropping and cfg["uid"] is None:  # its private directory back to root (bubblewrap drops root's DAC override)
            _own(os.path.dirname(cfg["cwd"]), os.getuid())
    if "mount" in namespaces:
        covered, failed = private_mounts(cfg.get("keep", []), int(cfg.get("shm_mb", 64)))
        if failed:
            notes.append(f"no private tmpfs on {', '.join(failed)}")
        if covered:
            namespaces.append("private-tmp")
        hidden, failed = hide(cfg.get("hide", []))
        if failed:
            notes.append(f"could not hide {', '.join(failed[:3])}")
        else:
            namespaces.append("hidden")
    if "mount" in namespaces and cfg.get("read_only"):
        failed = read_only(cfg["read_only"])
        if failed:
            notes.append(f"could not make read-only: {', '.join(failed[:5])}")
        namespaces.append("read-only")
    mode = "namespace" if "pid" in namespaces else "subreaper"
    before = _snapshot() if "ipc" not in namespaces or "private-tmp" not in namespaces else set()
    os.write(info, (json.dumps({"mode": mode, "namespaces": namespaces, "uid": cfg.get("uid"),
                                "notes": notes}) + "\n").encode())
    os.close(info)

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *a: None)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *a: None)  # only crosscheck ends us, through the control pipe
    report_r = None
    if "pid" in namespaces:
        report_r, report_w = os.pipe()
        first = os.fork()
        if first == 0:
            os.close(report_r)
            os.close(ctl)
            _init(cfg, report_w, namespaces)
        os.close(report_w)
    else:
        first = os.fork()
        if first == 0:
            exec_worker(cfg)
    for fd in cfg["keep_fds"]:
        os.close(fd)

    status: int | None = None
    killed = False
    while status is None:
        readable, _, _ = select.select([ctl, wake_r], [], [], 1.0)
        if ctl in readable:  # a kill request, or crosscheck is gone: either way, end the tree now
            killed = True
            try:
                os.kill(first, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if wake_r in readable:
            os.read(wake_r, 4096)
        for pid, st in _reap():
            if pid == first:
                status = st
        if status is None and killed:
            _, status = os.waitpid(first, 0)
    if report_r is not None and not killed:
        data = os.read(report_r, 4)
        status = int.from_bytes(data, "little", signed=True) if len(data) == 4 else status
    if cfg.get("status_fd") is not None and not killed:  # bubblewrap's exit code hides a signal: the worker's own
        os.set_blocking(cfg["status_fd"], False)
        try:
            data = os.read(cfg["status_fd"], 4)
        except OSError:  # nothing written: bwrap itself failed before the worker ran
            data = b""
        status = int.from_bytes(data, "little", signed=True) if len(data) == 4 else status
    if "pid" not in namespaces:
        try:  # the worker's process group (children that did not start a session of their own)
            os.killpg(first, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if cfg.get("uid") is not None and "pid" not in namespaces:  # a namespace died with its first process
        _sweep_uid(cfg["uid"])
    _sweep_children()
    if "ipc" not in namespaces or "private-tmp" not in namespaces:
        clean_shared(cfg["uid"] if cfg.get("uid") is not None else os.getuid(), before,
                     files="private-tmp" not in namespaces, sysv="ipc" not in namespaces)
    if "read-only" in namespaces:  # the private directory is a mount point here: rmdir would be EBUSY
        libc.umount2(cfg["cwd"].encode(), 2)  # MNT_DETACH
    _remove(base, base_parent)
    _mirror(signal.SIGKILL if killed or status is None else status)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
