"""How the worker is confined: who it runs as, where, with what, and how its process tree ends.

``crosscheck.sandbox`` speaks the protocol; this module starts the processes. Before the first
untrusted instruction exists:

- the parent makes itself non-dumpable (:func:`make_undumpable`);
- the code of the supervisor and the worker is read once, when this module is imported, and handed
  over as text (``python -I``: no PYTHONPATH, no user site, no current directory; ``boot``), so
  crosscheck's package is never on the worker's path and rewriting its files later changes nothing;
- the worker gets a private empty directory as working directory, HOME and TMPDIR, and an
  environment built from an allowlist (``ENV_ALLOW``): none of the parent's secrets;
- as root, it runs as a fresh unprivileged uid/gid unique to this sandbox (``choose_uid``); a target
  the unprivileged user could not read is copied (read-only) next to that directory, and messages
  name the original paths again;
- ``crosscheck.sandbox.supervisor`` then does namespaces, privileges and the tree kill (its docstring).

With bubblewrap (``isolation="bwrap"``, or ``"auto"`` where ``bwrap`` is installed) the worker also
sees the file system read-only, crosscheck's package directory empty, and no network.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from .boot import BOOT, SUPERVISOR_BOOT, SUPERVISOR_SOURCES
from .bwrap import bwrap_argv, bwrap_problem, bwrap_works
from .hiding import forbidden_locations, needed_paths, without_needed

__all__ = ["ISOLATION_MODES", "ENV_ALLOW", "Launch", "make_undumpable", "resolve_isolation", "launch",
           "default_forbidden", "set_default_forbidden", "bwrap_problem"]

ISOLATION_MODES = ("auto", "bwrap", "process")
# the whole crosscheck package is hidden from the worker, not just this wing
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))

# what the worker's environment may inherit; everything else (tokens, keys, CI secrets) stays out
ENV_ALLOW = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_MESSAGES", "TZ", "TERM",
             "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES")
_UID_RANGE = (1_600_000_000, 1_700_000_000)  # far from any passwd entry (bwrap.PROBE_UID is its first)
_COPY_FILES, _COPY_BYTES = 5000, 64 * 2**20


_DEFAULT_FORBIDDEN: list[str] = []


def set_default_forbidden(modules: Any) -> None:
    """What ``check_implementation`` forbids when its caller says nothing (the pytest plugin's option)."""
    _DEFAULT_FORBIDDEN[:] = [] if not modules else (modules.split(",") if isinstance(modules, str)
                                                     else list(modules))


def default_forbidden() -> list[str]:
    return list(_DEFAULT_FORBIDDEN)


def make_undumpable() -> None:
    """``prctl(PR_SET_DUMPABLE, 0)``: a process of the same uid that is not root can no longer ptrace
    this one or open /proc/<pid>/mem (or environ, maps, fd/) to read or write its memory, so the
    implementation (as the same user when crosscheck is not root) cannot change the verdict there.
    Linux only; elsewhere a no-op. Side effect: no core dumps, no same-user debugger attach."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, ctypes.c_ulong(0), 0, 0, 0)  # PR_SET_DUMPABLE
    except (OSError, AttributeError):  # pragma: no cover
        pass


def resolve_isolation(isolation: str) -> str:
    """``auto``: bubblewrap where installed, else ``process``. Raises UsageError."""
    if isolation not in ISOLATION_MODES:
        raise UsageError(f"isolation must be one of {', '.join(ISOLATION_MODES)}, got {isolation!r}")
    if sys.platform != "linux" and isolation != "process":
        return "process"
    bwrap = shutil.which("bwrap")
    if isolation == "bwrap" and bwrap_problem() is not None:
        raise UsageError(f"--isolation bwrap: {bwrap_problem()}; or use --isolation process")
    if isolation == "auto":
        return "bwrap" if bwrap is not None and bwrap_works(bwrap) else "process"
    return isolation


def choose_uid() -> int | None:
    """A fresh uid (and the same gid) for the worker when crosscheck runs as root; None otherwise."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    return random.SystemRandom().randrange(*_UID_RANGE)


def worker_env(home: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(HOME=home, TMPDIR=home, USER="crosscheck", LOGNAME="crosscheck", CROSSCHECK_WORKER="1",
               MPLCONFIGDIR=home)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = os.environ.get(var, "1")  # one BLAS thread: predictable memory, no fight for the cores
    return env


# ---- where the target's code is -----------------------------------------------------------------

def _others_can_read(path: str) -> bool:
    """Whether a user with no relation to the file's owner can reach and read ``path``."""
    path = os.path.realpath(path)
    parts = path.strip("/").split("/")
    try:
        for i in range(1, len(parts)):
            if not os.stat("/" + "/".join(parts[:i])).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(path).st_mode
    except OSError:
        return False
    need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return mode & need == need


def module_root(module: str, file: str | None) -> str | None:
    """The sys.path entry that holds ``module``'s top-level package, found without importing it."""
    parts = module.split(".")
    if file:
        root = os.path.dirname(os.path.realpath(file))
        depth = len(parts) - (0 if os.path.basename(file).startswith("__init__.") else 1)
        for _ in range(depth):
            root = os.path.dirname(root)
        return root
    search = [os.path.realpath(p or os.getcwd()) for p in sys.path if isinstance(p, str)]
    cwd = os.path.realpath(os.getcwd())
    if cwd not in search:  # the console script's sys.path[0] is its bin folder: look here first, as `python -m` does
        search.insert(0, cwd)
    try:
        spec = importlib.machinery.PathFinder.find_spec(parts[0], search)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    location = (list(spec.submodule_search_locations or []) or [spec.origin or ""])[0]
    if not location or not os.path.exists(location):
        return None
    return os.path.dirname(os.path.realpath(location))


def _copy_file(src: str, dst: str, owner: int | None) -> int:
    """``src`` (a regular file, never through a link) to a new ``dst`` readable by ``owner`` only."""
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a fifo or a device swapped in: nothing to copy
            return 0
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            if owner is not None:
                os.fchown(out, owner, owner)
            os.fchmod(out, 0o600)
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                os.write(out, chunk)
        finally:
            os.close(out)
        return st.st_size
    finally:
        os.close(fd)


def _make_dir(path: str, owner: int | None) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    if owner is not None:
        os.chown(path, owner, owner, follow_symlinks=False)
    os.chmod(path, 0o700)


def _copy_tree(src: str, dst: str, *, only_py_at_top: bool, budget: list[int], owner: int | None = None) -> None:
    """Regular files and folders only, links never followed (a link in the student's folder is left
    out); the copy is ``owner``'s, readable by it alone (0700 folders, 0600 files)."""
    _make_dir(dst, owner)
    for entry in os.scandir(src):
        if entry.name.startswith(".") or entry.name == "__pycache__" or entry.is_symlink():
            continue
        if entry.is_dir(follow_symlinks=False):
            if only_py_at_top and not os.path.exists(os.path.join(entry.path, "__init__.py")):
                continue
            _copy_tree(entry.path, os.path.join(dst, entry.name), only_py_at_top=False, budget=budget, owner=owner)
        elif entry.is_file(follow_symlinks=False):
            if only_py_at_top and not entry.name.endswith(".py"):
                continue
            budget[0] -= 1
            budget[1] -= entry.stat(follow_symlinks=False).st_size
            if budget[0] < 0 or budget[1] < 0:
                raise UsageError(f"{src} is too large to copy for the sandbox's unprivileged user; make the "
                                 "implementation readable by others (chmod -R o+rX) or run crosscheck as a "
                                 "non-root user")
            _copy_file(entry.path, os.path.join(dst, entry.name), owner)


def _copy_or_explain(copy: Any, src: str) -> None:
    """Run ``copy()``; any OSError (a link loop, a file that vanished, no permission) is one line."""
    try:
        copy()
    except OSError as e:
        raise UsageError(f"cannot copy {src} for the sandbox's unprivileged user: "
                         f"{e.strerror or e}{f' ({e.filename})' if e.filename else ''}") from None


@dataclass
class Placement:
    """The target as the worker loads it: ``target`` (a Target.to_dict() with absolute paths),
    ``paths`` for its sys.path, and ``renames`` (copy path -> original) for messages."""

    target: dict
    paths: list[str]
    renames: dict[str, str] = field(default_factory=dict)


def _working_folder() -> list[str]:
    """The caller's working directory, bound back under the worker's private /tmp when it lives there (a
    checkout in /tmp: code the implementation imports from it by path); never a whole private point."""
    cwd = os.path.realpath(os.getcwd())
    return [] if cwd in ("/", "/tmp", "/var/tmp", "/run", "/var/run") else [cwd]


def refuse_escaping_link(path: str) -> None:
    """A target that is a link to a file outside its own folder (``nn.py -> ../solution/nn.py``) or to
    nothing is refused with a one-line UsageError: what is checked is the file the folder holds, never
    another one (a link inside the folder is fine). ``grade`` refuses more: any such entry of the
    submission (``crosscheck.grade.submission``)."""
    if not os.path.islink(path):
        return
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    try:
        real = os.path.realpath(path, strict=True)
    except OSError as e:  # a loop, a dangling link
        raise UsageError(f"TARGET {path} is a link that leads nowhere ({e.strerror or e})") from None
    if not real.startswith(folder + os.sep):
        raise UsageError(f"TARGET {path} is a link to {real}, outside its folder {folder}: crosscheck checks "
                         "only a file its folder holds (pass the file's own path)")


def place_target(target: Any, *, copy_to: str | None, owner: int | None = None) -> Placement:
    """Absolute paths for the worker (its working directory is not ours); a copy under ``copy_to``,
    owned by ``owner`` and readable by it alone, when that is given and an unprivileged user could
    not read the original. Raises UsageError (one line) when the copy cannot be made."""
    d = target.to_dict()
    budget = [_COPY_FILES, _COPY_BYTES]
    extra = [os.path.realpath(p) for p in d.get("paths") or ()]
    if d["kind"] == "source" and not d.get("path"):  # a __main__ function: the caller's folder, for its imports
        cwd = os.path.realpath(os.getcwd())
        return Placement(d, extra + ([cwd] if copy_to is None or _others_can_read(cwd) else []))
    if extra:
        return _with_paths(place_target(type(target)(**{**vars(target), "paths": ()}), copy_to=copy_to, owner=owner),
                           extra)
    if d["kind"] in ("file", "source"):
        refuse_escaping_link(d["path"])
        d["path"] = os.path.realpath(d["path"])
        folder = os.path.dirname(d["path"])
        if copy_to is not None and not (_others_can_read(d["path"]) and _others_can_read(folder)):
            dst = os.path.join(copy_to, "src")
            name = os.path.basename(d["path"])

            def copy() -> None:
                _copy_tree(folder, dst, only_py_at_top=True, budget=budget, owner=owner)
                if not os.path.exists(os.path.join(dst, name)):  # a file not named .py
                    _copy_file(d["path"], os.path.join(dst, name), owner)

            _copy_or_explain(copy, folder)
            d["path"] = os.path.join(dst, name)
            return Placement(d, [], {dst: folder})
        return Placement(d, [])
    if d.get("file"):
        d["file"] = os.path.realpath(d["file"])
    root = module_root(d["module"], d.get("file"))
    if root is None:
        return Placement(d, [])
    top = d["module"].split(".")[0]
    here = os.path.join(root, top)
    here = here if os.path.isdir(here) else here + ".py"
    if copy_to is not None and os.path.exists(here) and not (_others_can_read(root) and _others_can_read(here)):
        dst = os.path.join(copy_to, "src")

        def copy_module() -> None:
            if os.path.isdir(here):
                _make_dir(dst, owner)
                _copy_tree(here, os.path.join(dst, top), only_py_at_top=False, budget=budget, owner=owner)
            else:
                _make_dir(dst, owner)
                _copy_file(here, os.path.join(dst, top + ".py"), owner)

        _copy_or_explain(copy_module, here)
        if d.get("file") and d["file"].startswith(os.path.join(root, "")):
            d["file"] = os.path.join(dst, os.path.relpath(d["file"], root))
        return Placement(d, [dst], {dst: root})
    return Placement(d, [root])


def _with_paths(placement: Placement, extra: list[str]) -> Placement:
    placement.paths = placement.paths + [p for p in extra if p not in placement.paths]
    return placement


def interpreter_paths() -> list[str]:
    """What the worker's interpreter reads: for the supervisor to reveal when a parent directory hides it."""
    paths = {sys.base_prefix, sys.prefix, os.path.realpath(sys.executable)}
    paths.update(v for k, v in sysconfig.get_paths().items() if k in ("stdlib", "platstdlib", "purelib", "platlib"))
    return sorted(os.path.realpath(p) for p in paths if p)


# ---- starting and ending -------------------------------------------------------------------------

@dataclass
class Launch:
    """A started supervisor (``proc``) and what belongs to it."""

    proc: subprocess.Popen
    to_worker: int
    from_worker: int
    ctl: int | None
    base: str
    info: dict = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)


_HIDE_CACHE: dict[tuple, list[str]] = {}


def hidden_paths(forbid: list[str], target_paths: list[str]) -> list[str]:
    """crosscheck's package and every forbidden module's files, less what the worker needs to run."""
    key = (tuple(forbid), tuple(p for p in sys.path if isinstance(p, str)))
    if key not in _HIDE_CACHE:
        _HIDE_CACHE[key] = forbidden_locations(["crosscheck", *forbid], [PACKAGE_DIR])
    return without_needed(_HIDE_CACHE[key], needed_paths() + [os.path.realpath(p) for p in target_paths])


def launch(target: Any, *, memory: int | None, forbid: list[str], isolation: str,
           stdout: Any, stderr: Any) -> tuple[Launch, dict]:
    """Start the supervisor and, under it, the worker; returns the launch and the init request."""
    uid = choose_uid()
    base = tempfile.mkdtemp(prefix="crosscheck-sandbox-")
    try:
        os.chmod(base, 0o711)  # the unprivileged worker passes through, cannot list
        home = os.path.join(base, "home")
        os.mkdir(home, 0o700)
        if uid is not None:
            os.chown(home, uid, uid)
        placement = place_target(target, copy_to=base if uid is not None else None, owner=uid)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    ctl_r, ctl_w = os.pipe()
    info_r, info_w = os.pipe()
    argv = [sys.executable, "-I", "-B", "-u", "-c", BOOT, str(to_r), str(from_w)]
    status_r = status_w = None
    if isolation == "bwrap":  # the worker's own wait status, past bwrap's exit code (BOOT)
        status_r, status_w = os.pipe()
        argv.append(str(status_w))
    extra_fds = () if status_r is None else (status_r, status_w)
    keep = [os.path.dirname(placement.target["path"])] if placement.target.get("path") else []
    if placement.target.get("file"):
        keep.append(os.path.dirname(placement.target["file"]))
    keep += placement.paths
    hide = hidden_paths(forbid, keep)
    visible = sorted({*keep, *interpreter_paths(), *needed_paths(), *_working_folder()})
    if isolation == "bwrap":
        argv = bwrap_argv(shutil.which("bwrap") or "bwrap", argv, home, visible, [PACKAGE_DIR, *hide])
    cfg = {"argv": argv, "env": worker_env(home), "cwd": home, "uid": uid, "gid": uid,
           "keep_fds": [to_r, from_w, *extra_fds[1:]], "ctl_fd": ctl_r, "info_fd": info_w, "status_fd": status_r,
           "reveal": interpreter_paths() if uid is not None else [], "read_only": [home],
           "hide": hide, "keep": sorted({home, *visible}),
           "shm_mb": min(memory or 256, 256),
           # CROSSCHECK_SANDBOX_NAMESPACES=0: as on a machine that allows none (debugging, tests of that path)
           "namespaces": os.environ.get("CROSSCHECK_SANDBOX_NAMESPACES", "1") != "0"}
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-B", "-c", SUPERVISOR_BOOT, json.dumps(cfg),
                                 json.dumps(SUPERVISOR_SOURCES)],
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                pass_fds=(to_r, from_w, ctl_r, info_w, *extra_fds), start_new_session=True,
                                env={"PATH": os.environ.get("PATH", os.defpath)}, cwd=home)
    except BaseException:
        for fd in (to_r, to_w, from_r, from_w, ctl_r, ctl_w, info_r, info_w, *extra_fds):
            os.close(fd)
        shutil.rmtree(base, ignore_errors=True)
        raise
    for fd in (to_r, from_w, ctl_r, info_w, *extra_fds):
        os.close(fd)
    info_text = b""
    try:
        while not info_text.endswith(b"\n"):
            chunk = os.read(info_r, 4096)
            if not chunk:
                break
            info_text += chunk
    finally:
        os.close(info_r)
    try:
        info = json.loads(info_text or b"{}")
    except ValueError:
        info = {}
    info["isolation"] = isolation
    hidden = "hidden" in info.get("namespaces", []) or isolation == "bwrap"
    info["forbid"] = ("hidden by the worker's mount namespace" if hidden else
                      "best-effort: no mount namespace here, so only an in-process import hook and a seccomp "
                      "filter keep crosscheck and the forbidden modules out (docs/sandbox.md)")
    init = {"target": placement.target, "paths": placement.paths, "memory_mb": memory,
            "forbid": ["crosscheck", *forbid], "hidden": [PACKAGE_DIR],
            "deny_exec": bool(forbid), "deny_dir_fd": not hidden}
    return Launch(proc, to_w, from_r, ctl_w, base, info, placement.renames), init


def end(launch_: Launch, *, wait: float = 10.0) -> None:
    """Ask the supervisor to kill the tree (closing the control pipe), wait until it has, clean up."""
    if launch_.ctl is not None:
        try:
            os.close(launch_.ctl)
        except OSError:
            pass
        launch_.ctl = None
    try:
        launch_.proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:  # pragma: no cover - a supervisor that hangs: its whole group goes
        try:
            os.killpg(launch_.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            launch_.proc.kill()
        launch_.proc.wait()
    shutil.rmtree(launch_.base, ignore_errors=True)
