"""Student code that attacks `crosscheck check` to make itself pass, or to learn secrets: each attack
must end in the right verdict. Run as the user running the suite (root in CI) and, when that is root,
again as an ordinary user created for the purpose (what a student's own laptop looks like).

Each implementation returns gradients three times too large (a wrong answer) unless it says
otherwise, and tries one attack on the side; the check must still exit 1 (or 3), and the report
on disk must still say so after every process it started has had time to act.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from _modes import BWRAP

import crosscheck

PACKAGE = os.path.dirname(os.path.realpath(crosscheck.__file__))
# a file target, not `tests.implementations.correct`: a module target is looked up through
# sys.modules, where a pytester run in the same worker may have left another project's `tests` package
CORRECT_TARGET = str(Path(__file__).resolve().parent / "implementations" / "correct.py") + ":torch_style"
USER = "crosscheck-attack"
# the secret, fresh for each check: tests running in parallel as the same ordinary user, without namespaces,
# may read each other's environment before their crosscheck makes itself non-dumpable (README: not root
# and no namespaces, the worker runs as you); what is tested is that this check's own secrets stay out
SECRET = "s3cr3t-token-"

# wrong gradients (3x) in torch's layout, written out so the student file needs nothing else
WRONG = '''
import numpy as np

def wrong(params, X, Y):
    A = [X]
    for W, b in params:
        A.append(A[-1] @ W.T + b)
    delta = (A[-1] - Y) / X.shape[0]
    grads = []
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads.append((3 * delta.T @ A[i], 3 * delta.sum(axis=0)))
        delta = delta @ W
    return grads[::-1]
'''
OPTIONS = ["--preset", "torch", "--hidden", "identity", "--examples", "5", "--timeout", "20"]

ATTACKS = {
    # rewrite crosscheck's reference on disk during the first call (the parent imported it after it)
    "rewrite_reference": '''
def attack(params, X, Y):
    path = {reference!r}
    try:
        with open(path) as f:
            text = f.read()
        if "_forged" not in text:
            text += ("\\n_forged = gradients\\n"
                     "def gradients(*a, **k):\\n"
                     "    return tuple((3 * dW, None if db is None else 3 * db) for dW, db in _forged(*a, **k))\\n")
            with open(path, "w") as f:
                f.write(text)
        print("REWROTE")
    except Exception as e:
        print("could not rewrite:", e)
    return wrong(params, X, Y)
''',
    # raise the parent's float64 tolerance by writing into its memory through /proc/<pid>/mem: the
    # crosscheck process among its ancestors (other checks running on the machine are not this test's)
    "parent_memory": '''
import os, re, struct

def _ancestors():
    pid = os.getpid()
    while pid > 1:
        try:
            with open(f"/proc/{{pid}}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[-1].split()[1])
        except OSError:
            return
        yield pid

def attack(params, X, Y):
    needle, forged = struct.pack("d", 1e-9), struct.pack("d", 1e300)
    for pid in _ancestors():
        try:
            with open(f"/proc/{{pid}}/cmdline", "rb") as f:
                if b"crosscheck\\0check" not in f.read().replace(b"crosscheck/__main__.py", b"crosscheck"):
                    continue
            mem = open(f"/proc/{{pid}}/mem", "r+b", buffering=0)
        except OSError:
            continue
        print("MEM-OPENED", pid)
        with open(f"/proc/{{pid}}/maps") as maps:
            regions = [l.split() for l in maps]
        for r in regions:
            lo, hi = (int(x, 16) for x in r[0].split("-"))
            if r[1].startswith("rw") and hi - lo < 2**28:
                try:
                    mem.seek(lo)
                    data = mem.read(hi - lo)
                except OSError:
                    continue
                for m in re.finditer(re.escape(needle), data):
                    mem.seek(lo + m.start())
                    mem.write(forged)
    return wrong(params, X, Y)
''',
    # a process in its own session that outlives the check and rewrites the --json report to "pass"
    "survivor": '''
import subprocess, sys

def attack(params, X, Y):
    code = ("import json, time\\n"
            "time.sleep(1.5)  # {marker}\\n"
            "open({report!r}, 'w').write(json.dumps({{'verdict': 'pass', 'forged': True}}))\\n")
    subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return wrong(params, X, Y)
''',
    # crosscheck's own reference, called from the student's code: right gradients it did not compute
    "imports_crosscheck": '''
def attack(params, X, Y):
    import importlib
    sys_path = __import__("sys").path
    sys_path.append({package_parent!r})
    recursive = importlib.import_module("crosscheck.reference.recursive")
    print("IMPORTED-CROSSCHECK", recursive)
    return wrong(params, X, Y)
''',
    # torch, which the teacher forbids (--forbid-import torch)
    "imports_torch": '''
def attack(params, X, Y):
    try:
        import torch
        print("IMPORTED-TORCH", torch.__version__)
    except ImportError as e:
        print("refused:", e)
    return wrong(params, X, Y)
''',
    # the parent's environment: its own, and through /proc
    "reads_secrets": '''
import os

def attack(params, X, Y):
    found = [k for k, v in os.environ.items() if {secret!r} in v]
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{{pid}}/environ", "rb") as f:
                if {secret!r}.encode() in f.read():
                    found.append(pid)
        except OSError:
            pass
    print("SECRET-FOUND" if found else "no secret", found)
    return wrong(params, X, Y)
''',
}


# ---- running crosscheck as root or as an ordinary user ------------------------------------------------

def _ordinary_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pass
    if shutil.which("useradd") is None:
        return None
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], capture_output=True)
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        return None


# runs as root: a private mount namespace that shows the user the interpreter (a parent directory such as
# /root may hide it), then drops to the user and runs crosscheck; the supervisor's own reveal() does it
_AS_USER = """import json, os, sys
cfg = json.loads(sys.argv[1])
g = {"__name__": "namespaces"}
exec(compile(open(cfg["namespaces"]).read(), "namespaces", "exec"), g)
if g["libc"].unshare(g["CLONE_NEWNS"]) == 0:
    g["mount"](None, "/", None, g["MS_REC"] | g["MS_PRIVATE"])
    g["reveal"](cfg["reveal"])
elif any(g["blocker"](p) for p in cfg["reveal"]):
    sys.exit(77)  # the interpreter is hidden from other users and no mount namespace can show it
os.setgroups([])
os.setgid(cfg["gid"])
os.setuid(cfg["uid"])
os.chdir(cfg["cwd"])
os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
"""


# "process" also without namespaces (CROSSCHECK_SANDBOX_NAMESPACES=0), as in a container that allows none;
# bubblewrap where it can run (.ci/run installs it where it can), skipped with the reason elsewhere
ISOLATIONS = ["process", "process-no-namespaces", BWRAP]


@pytest.fixture(params=ISOLATIONS)
def isolation(request):
    return request.param


def _mount_namespaces() -> bool:
    """Whether this machine gives the sandbox a mount namespace (a container without CAP_SYS_ADMIN does not)."""
    from crosscheck.sandbox import Sandbox

    with Sandbox(CORRECT_TARGET) as sb:
        return "mount" in sb.info.get("namespaces", [])


def _interpreter_hidden() -> bool:
    """Whether a directory on the way to the interpreter shuts other users out (/root/.pyenv)."""
    from crosscheck.sandbox.isolation import interpreter_paths
    from crosscheck.sandbox.namespaces import blocker

    return any(blocker(p) for p in interpreter_paths())


@pytest.fixture(params=["current", "ordinary"])
def runner(request, isolation):
    """``run(argv, env, cwd) -> CompletedProcess`` as the current user or an ordinary one; a work directory."""
    if request.param == "current" and os.geteuid() == 0 and _interpreter_hidden() and (
            isolation == "process-no-namespaces" or not _mount_namespaces()):
        pytest.skip("root without namespaces, interpreter hidden from other users: the worker stays root "
                    "(README: the sandbox, as root)")
    work = tempfile.mkdtemp(prefix="crosscheck-attack-")
    os.chmod(work, 0o755)
    if request.param == "current":
        yield work, isolation, lambda argv, env: subprocess.run(argv, env=env, cwd=work, capture_output=True, text=True,
                                                     timeout=240)
        shutil.rmtree(work, ignore_errors=True)
        return
    if os.geteuid() != 0:
        shutil.rmtree(work, ignore_errors=True)
        pytest.skip("already an ordinary user: the 'current' run covers it")
    user = _ordinary_user()
    if user is None:
        shutil.rmtree(work, ignore_errors=True)
        pytest.skip("cannot create an ordinary user here (no useradd)")
    os.chown(work, user.pw_uid, user.pw_gid)
    from crosscheck.sandbox.isolation import interpreter_paths

    def run(argv, env):
        cfg = {"namespaces": os.path.join(PACKAGE, "sandbox", "namespaces.py"), "uid": user.pw_uid, "gid": user.pw_gid,
               "cwd": work, "argv": argv, "env": env, "reveal": interpreter_paths() + [work]}
        r = subprocess.run([sys.executable, "-I", "-c", _AS_USER, json.dumps(cfg)], capture_output=True,
                           text=True, timeout=240)
        if r.returncode == 77:
            pytest.skip("the interpreter is hidden from other users and no mount namespace can show it")
        return r

    yield work, isolation, run
    shutil.rmtree(work, ignore_errors=True)


def _chown_tree(path: str, like: str) -> None:
    st = os.stat(like)
    for root, dirs, files in os.walk(path):
        for name in [root, *[os.path.join(root, n) for n in dirs + files]]:
            os.chown(name, st.st_uid, st.st_gid)


def check(runner, attack: str, *extra: str, settle: float = 0.0, **fmt: str):
    """Copy crosscheck into the work directory (the attack may rewrite it), write the student's file,
    run `crosscheck check` on it there; returns (exit code, report on disk ``settle`` seconds after
    the check returned, run)."""
    work, isolation, run = runner
    secret = SECRET + os.urandom(8).hex()
    fmt.setdefault("marker", "ATTACK-SURVIVOR-" + os.urandom(8).hex())  # unique: other runs may be going on
    pkg_parent = os.path.join(work, "pkg")
    shutil.copytree(PACKAGE, os.path.join(pkg_parent, "crosscheck"), ignore=shutil.ignore_patterns("__pycache__"))
    report = os.path.join(work, "report.json")
    fmt = dict(reference=os.path.join(pkg_parent, "crosscheck", "reference", "recursive.py"), report=report,
               package_parent=pkg_parent, secret=secret, **fmt)
    student = os.path.join(work, "student.py")
    with open(student, "w") as f:
        f.write(WRONG + textwrap.dedent(ATTACKS[attack]).format(**fmt))
    _chown_tree(work, work)
    for root, dirs, files in os.walk(work):
        for n in dirs:
            os.chmod(os.path.join(root, n), 0o755)
        for n in files:
            os.chmod(os.path.join(root, n), 0o644)
    env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": pkg_parent, "HOME": work,
           "CROSSCHECK_TEST_SECRET": secret, "CROSSCHECK_PROFILE": "dev"}
    if isolation == "process-no-namespaces":
        env["CROSSCHECK_SANDBOX_NAMESPACES"] = "0"
    r = run([sys.executable, "-m", "crosscheck", "check", f"{student}:attack", *OPTIONS, "--json", report,
             "--isolation", isolation.split("-")[0], *extra], env)
    time.sleep(settle)  # an attack that leaves a process behind: time for it to act, had it survived
    with open(report) as f:
        return r.returncode, json.load(f), r


def _no_process_left(marker: str) -> None:
    left = []
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmd and state != "Z":
            left.append(pid)
    assert not left, f"processes left behind: {left}"


def test_rewriting_the_reference_on_disk_changes_nothing(runner):
    code, report, r = check(runner, "rewrite_reference")
    assert (code, report["verdict"]) == (1, "fail"), r.stdout + r.stderr
    assert report["diagnosis"], r.stdout


def test_the_parents_memory_is_out_of_reach(runner):
    code, report, r = check(runner, "parent_memory")
    assert "MEM-OPENED" not in report["output"]
    assert (code, report["verdict"]) == (1, "fail"), r.stdout + r.stderr


def test_a_process_in_its_own_session_dies_with_the_check_and_cannot_forge_the_report(runner):
    marker = "ATTACK-SURVIVOR-" + os.urandom(8).hex()
    # the survivor writes 1.5 s after it starts: 3 s is time for it to act, were it alive
    code, report, r = check(runner, "survivor", marker=marker, settle=3.0)
    assert (code, report["verdict"]) == (1, "fail") and "forged" not in report, r.stdout + r.stderr
    _no_process_left(marker)


def test_crosscheck_itself_cannot_be_imported(runner):
    code, report, r = check(runner, "imports_crosscheck")
    assert "IMPORTED-CROSSCHECK" not in report["output"]
    assert code == 3 and report["error"]["kind"] == "raised", r.stdout + r.stderr
    assert "crosscheck is not importable in the sandbox" in report["error"]["message"]


def test_a_forbidden_import_is_exit_3_naming_the_module_and_the_line(runner):
    code, report, r = check(runner, "imports_torch", "--forbid-import", "torch,jax")
    assert "IMPORTED-TORCH" not in report["output"]
    assert code == 3 and report["error"]["kind"] == "forbidden", r.stdout + r.stderr
    assert report["error"]["message"].startswith("forbidden import: torch (")
    assert "student.py:" in report["error"]["message"]


def test_the_parents_secrets_are_not_visible(runner):
    code, report, r = check(runner, "reads_secrets")
    assert "SECRET-FOUND" not in report["output"] and "no secret" in report["output"]
    assert code == 1, r.stdout + r.stderr
