"""Trust, round two (issue 19): what the OS hides, and what a worker leaves behind.

Fast tests run the sandbox in-process as the current user (root in CI); the same attacks through
`crosscheck check`, as root and as an ordinary user, in every isolation mode, are the slow ones
(``test_sandbox_attacks``' runner). Each attack hands back the right gradients only when it got
what it must not get, so a hole is a PASS the student did not earn.
"""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest
from test_sandbox_attacks import ATTACKS, check, isolation, runner  # noqa: F401 - fixtures

import crosscheck
from crosscheck.sandbox import Sandbox

LINUX = os.uname().sysname == "Linux" if hasattr(os, "uname") else False
PACKAGE = os.path.dirname(os.path.realpath(crosscheck.__file__))
FORBID = ["crosscheck", "torch", "jax"]

# the right gradients (torch's layout, identity hidden, half-SSE mean): what a cheat hands back once
# the reference (or torch) told it the answer; written out so an attack needs nothing else
RIGHT = '''
import numpy as np

def right(params, X, Y):
    A = [X]
    for W, b in params:
        A.append(A[-1] @ W.T + b)
    delta = (A[-1] - Y) / X.shape[0]
    grads = []
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads.append((delta.T @ A[i], delta.sum(axis=0)))
        delta = delta @ W
    return grads[::-1]
'''

# each: the attack on the side, returning True when it reached what is forbidden
PROBES = {
    # a child interpreter has no audit hook: it imports crosscheck (or torch) and could compute anything
    "child_interpreter": '''
import os, subprocess, sys

def probe():
    code = "import crosscheck.reference.recursive, sys; print('GOT-IT')"
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           env={{"PYTHONPATH": os.pathsep.join([{package_parent!r}] + sys.path)}})
    except OSError as e:
        print("no child:", e)
        return False
    return "GOT-IT" in r.stdout
''',
    # the audit hook sees only the name of a file opened relative to a directory descriptor
    "dir_fd": '''
import os

def probe():
    try:
        fd = os.open(os.path.dirname({package!r}), os.O_RDONLY)
        f = os.open(os.path.join(os.path.basename({package!r}), "reference", "recursive.py"), os.O_RDONLY,
                    dir_fd=fd)
        return b"def " in os.read(f, 1 << 20)
    except OSError as e:
        print("refused:", e)
        return False
''',
    # the package folder itself as the directory descriptor
    "package_dir_fd": '''
import os

def probe():
    try:
        fd = os.open({package!r}, os.O_RDONLY)
        f = os.open(os.path.join("reference", "recursive.py"), os.O_RDONLY, dir_fd=fd)
        return b"def " in os.read(f, 1 << 20)
    except OSError as e:
        print("refused:", e)
        return False
''',
}


def _student(path, probe: str, **fmt) -> str:
    fmt.setdefault("package", PACKAGE)
    fmt.setdefault("package_parent", os.path.dirname(PACKAGE))
    text = RIGHT + textwrap.dedent(PROBES[probe]).format(**fmt) + textwrap.dedent('''
        def attack(params, X, Y):
            if probe():
                print("CHEATED")
                return right(params, X, Y)
            raise RuntimeError("the attack found nothing")
    ''')
    path.write_text(text)
    os.chmod(path, 0o644)
    os.chmod(path.parent, 0o755)
    return f"{path}:attack"


def _params():
    rng = np.random.default_rng(0)
    return [(rng.normal(size=(2, 3)), rng.normal(size=2))], rng.normal(size=(4, 3)), rng.normal(size=(4, 2))


def _outcome(target: str, **kw) -> str:
    """"cheated" when the attack got through, else the failure's kind."""
    with Sandbox(target, timeout=60, **kw) as sb:
        try:
            r = sb.call(*_params())
        except crosscheck.ImplementationError as e:
            assert "CHEATED" not in (e.output or "")
            return e.kind
        return "cheated" if "CHEATED" in r.output else "returned"


def _namespaces() -> list[str]:
    with Sandbox("tests.implementations.correct:torch_style") as sb:
        return sb.info.get("namespaces", [])


# ---- 1. forbidden modules hidden by the OS --------------------------------------------------------

@pytest.mark.skipif(not LINUX, reason="seccomp and mount namespaces are Linux's")
@pytest.mark.parametrize("namespaces", ["1", "0"])
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_forbidden_module_is_out_of_reach_by_any_route(tmp_path, monkeypatch, probe, namespaces):
    monkeypatch.setenv("CROSSCHECK_SANDBOX_NAMESPACES", namespaces)
    assert _outcome(_student(tmp_path / "student.py", probe), forbid_imports=FORBID) != "cheated"


@pytest.mark.skipif(not LINUX, reason="mount namespaces are Linux's")
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_with_a_mount_namespace_crosscheck_is_hidden_even_with_no_forbid_list(tmp_path, probe):
    if "hidden" not in _namespaces():
        pytest.skip("no mount namespace here: --forbid-import is best-effort (docs/sandbox.md)")
    assert _outcome(_student(tmp_path / "student.py", probe)) != "cheated"


def test_the_report_says_whether_forbidding_is_best_effort(monkeypatch):
    monkeypatch.setenv("CROSSCHECK_SANDBOX_NAMESPACES", "0")
    with Sandbox("tests.implementations.correct:torch_style", forbid_imports="torch") as sb:
        assert sb.info["forbid"].startswith("best-effort")


# the same attacks through `crosscheck check`, as root and as an ordinary user, every isolation mode
ATTACKS["child_interpreter"] = "\n".join(
    [RIGHT, textwrap.dedent(PROBES["child_interpreter"]),
     "def attack(params, X, Y):\n    return right(params, X, Y) if probe() else wrong(params, X, Y)\n"])
ATTACKS["dir_fd"] = "\n".join(
    [RIGHT, textwrap.dedent(PROBES["package_dir_fd"]).replace("{package!r}", "{package_parent!r} + '/crosscheck'"),
     "def attack(params, X, Y):\n    return right(params, X, Y) if probe() else wrong(params, X, Y)\n"])


@pytest.mark.slow
@pytest.mark.parametrize("attack", ["child_interpreter", "dir_fd"])
def test_check_gives_no_pass_to_a_child_interpreter_or_a_dir_fd(runner, attack):  # noqa: F811
    code, report, r = check(runner, attack, "--forbid-import", "crosscheck,torch,jax")
    assert report["verdict"] != "pass" and code in (1, 3), r.stdout + r.stderr


# ---- 4. the parent's memory is bounded by what the worker sent ------------------------------------

FORGER = '''
import json, os, struct

def forge(params, X, Y):
    data = b"\\0" * (1 << 20)
    meta = {meta}
    head = json.dumps(meta).encode()
    for fd in range(3, 64):
        try:
            if os.readlink(f"/proc/self/fd/{{fd}}").startswith("pipe:"):
                os.write(fd, struct.pack(">QQ", len(head), len(data)) + head + data)
        except OSError:
            pass
    os._exit(0)
'''

_MB = 1 << 20
FORGED = {
    # 256 entries over the same megabyte: 256 MB in the parent on today's main
    "overlapping": {"status": "ok", "id": 1, "result": {"t": "list", "v": [{"t": "array", "i": i} for i in range(256)]},
                    "inputs_after": {"t": "none"},
                    "arrays": [{"dtype": "<f8", "shape": [_MB // 8], "offset": 0, "nbytes": _MB}] * 256},
    "huge_shape": {"status": "ok", "id": 1, "result": {"t": "none"}, "inputs_after": {"t": "none"},
                   "arrays": [{"dtype": "<f8", "shape": [2**62, 2**62, 0], "offset": 0, "nbytes": 0}]},
    "shape_overflow": {"status": "ok", "id": 1, "result": {"t": "none"}, "inputs_after": {"t": "none"},
                       "arrays": [{"dtype": "<f8", "shape": [2**70], "offset": 0, "nbytes": _MB}]},
    "bad_dtype": {"status": "ok", "id": 1, "result": {"t": "none"}, "inputs_after": {"t": "none"},
                  "arrays": [{"dtype": "i99999999999999999999", "shape": [1], "offset": 0, "nbytes": 8}]},
    "list_not_list": {"status": "ok", "id": 1, "result": {"t": "list", "v": 5}, "inputs_after": {"t": "none"},
                      "arrays": [{"dtype": "|u1", "shape": [_MB], "offset": 0, "nbytes": _MB}]},
    "elapsed_text": {"status": "ok", "id": 1, "result": {"t": "none"}, "inputs_after": {"t": "none"},
                     "elapsed": "soon", "arrays": [{"dtype": "|u1", "shape": [_MB], "offset": 0, "nbytes": _MB}]},
    "gap": {"status": "ok", "id": 1, "result": {"t": "none"}, "inputs_after": {"t": "none"},
            "arrays": [{"dtype": "|u1", "shape": [8], "offset": 0, "nbytes": 8}]},
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_a_forged_reply_is_bad_output_never_a_traceback_or_a_big_allocation(tmp_path, name):
    path = tmp_path / "forger.py"
    path.write_text(textwrap.dedent(FORGER).format(meta=repr(FORGED[name])))
    with Sandbox(f"{path}:forge", timeout=30) as sb:
        if name == "elapsed_text":  # a well-formed reply but for the worker's own timing: that is ignored
            assert sb.call(*_params()).elapsed >= 0
            return
        with pytest.raises(crosscheck.ImplementationError) as e:
            sb.call(*_params())
    assert e.value.kind in ("bad_output", "exit"), e.value  # "exit": the forgery lost the race to the pipe


def test_decode_arrays_accepts_exactly_a_tiling_of_the_data():
    from crosscheck.sandbox.protocol import ProtocolError, decode_arrays

    data = np.arange(4.0).tobytes() + np.arange(2, dtype=np.int32).tobytes()
    a, b = decode_arrays([{"dtype": "<f8", "shape": [2, 2], "offset": 0, "nbytes": 32},
                          {"dtype": "<i4", "shape": [2], "offset": 32, "nbytes": 8}], data)
    assert a.tolist() == [[0, 1], [2, 3]] and b.tolist() == [0, 1]
    for entries in ([{"dtype": "<f8", "shape": [4], "offset": 0, "nbytes": 32}],  # 8 bytes of nothing
                    [{"dtype": "<f8", "shape": [4], "offset": 0, "nbytes": 32},
                     {"dtype": "<f8", "shape": [1], "offset": 0, "nbytes": 8}],  # overlapping
                    [{"dtype": "<f8", "shape": [4], "offset": 0, "nbytes": 32},
                     {"dtype": "<i4", "shape": [2.0], "offset": 32, "nbytes": 8}],  # a float size
                    [{"dtype": "<f8", "shape": [4], "offset": 0, "nbytes": 32},
                     {"dtype": "O", "shape": [1], "offset": 32, "nbytes": 8}]):
        with pytest.raises(ProtocolError):
            decode_arrays(entries, data)


# ---- 5. nothing outlives the check ----------------------------------------------------------------

LEAVER = '''
import ctypes, os, socket

def leave(params, X, Y):
    with open("/dev/shm/{name}", "wb") as f:  # a channel to the next submission on a shared /dev/shm
        f.write(b"x" * 4096)
    os.chmod("/dev/shm/{name}", 0o666)
    libc = ctypes.CDLL(None, use_errno=True)
    shmid = libc.shmget({key}, 4096, 0o1000 | 0o666)  # IPC_CREAT: SysV memory that outlives processes
    print("shmid", shmid)
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect({sock!r})
        print("CONNECTED")
        return 1
    except OSError as e:
        print("no connect:", e)
        return 0
'''


def _sysv_keys() -> set[int]:
    try:
        with open("/proc/sysvipc/shm") as f:
            return {int(line.split()[0]) for line in f.readlines()[1:] if line.strip()}
    except OSError:
        return set()


@pytest.mark.skipif(not LINUX, reason="/dev/shm, SysV IPC and unix sockets as Linux has them")
@pytest.mark.parametrize("namespaces", ["1", "0"])
def test_shared_memory_and_host_sockets_do_not_outlive_or_escape_the_check(tmp_path, monkeypatch, namespaces):
    import socket
    import tempfile

    monkeypatch.setenv("CROSSCHECK_SANDBOX_NAMESPACES", namespaces)
    name, key = f"crosscheck-leak-{os.getpid()}-{namespaces}", 0x5EC00000 + os.getpid() % 0xFFFF
    folder = tempfile.mkdtemp(prefix="crosscheck-sock-")
    os.chmod(folder, 0o777)
    sock_path = os.path.join(folder, "s")
    server = socket.socket(socket.AF_UNIX)
    server.bind(sock_path)
    os.chmod(sock_path, 0o777)
    server.listen(1)
    path = tmp_path / "leaver.py"
    path.write_text(textwrap.dedent(LEAVER).format(name=name, key=key, sock=sock_path))
    try:
        with Sandbox(f"{path}:leave", timeout=30) as sb:
            r = sb.call(*_params())
            assert "CONNECTED" not in r.output and r.value.tolist() == 0, r.output
            assert "shmid -1" not in r.output, r.output  # the segment was made: its removal is what is tested
        assert not os.path.exists(f"/dev/shm/{name}")
        assert key not in _sysv_keys()
    finally:
        server.close()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        if os.path.exists(f"/dev/shm/{name}"):
            os.unlink(f"/dev/shm/{name}")
