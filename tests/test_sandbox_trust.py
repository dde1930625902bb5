"""Trust, round two (issue 19): what the OS hides, and what a worker leaves behind.

Fast tests run the sandbox in-process as the current user (root in CI); the same attacks through
`crosscheck check`, as root and as an ordinary user, in every isolation mode, are the slow ones
(``test_sandbox_attacks``' runner). Each attack hands back the right gradients only when it got
what it must not get, so a hole is a PASS the student did not earn.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _modes import MODES, WHY_NO_BWRAP
from test_sandbox_attacks import ATTACKS, check, isolation, runner  # noqa: F401 - fixtures

import crosscheck
from crosscheck.sandbox import Sandbox

LINUX = os.uname().sysname == "Linux" if hasattr(os, "uname") else False
PACKAGE = os.path.dirname(os.path.realpath(crosscheck.__file__))
FORBID = ["crosscheck", "torch", "jax"]
# a file target, not `tests.implementations.correct`: a module target is looked up through
# sys.modules, where a pytester run in the same worker may have left another project's `tests` package
CORRECT_TARGET = str(Path(__file__).resolve().parent / "implementations" / "correct.py") + ":torch_style"

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
    with Sandbox(CORRECT_TARGET) as sb:
        return sb.info.get("namespaces", [])


# ---- 1. forbidden modules hidden by the OS --------------------------------------------------------

@pytest.mark.skipif(not LINUX, reason="seccomp and mount namespaces are Linux's")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("namespaces", ["1", "0"])
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_forbidden_module_is_out_of_reach_by_any_route(tmp_path, monkeypatch, probe, namespaces, mode):
    monkeypatch.setenv("CROSSCHECK_SANDBOX_NAMESPACES", namespaces)
    target = _student(tmp_path / "student.py", probe)
    assert _outcome(target, forbid_imports=FORBID, isolation=mode) != "cheated"


@pytest.mark.skipif(not LINUX, reason="mount namespaces are Linux's")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_with_a_mount_namespace_crosscheck_is_hidden_even_with_no_forbid_list(tmp_path, probe, mode):
    if mode == "process" and "hidden" not in _namespaces():
        pytest.skip("no mount namespace here: --forbid-import is best-effort (docs/sandbox.md)")
    assert _outcome(_student(tmp_path / "student.py", probe), isolation=mode) != "cheated"


def test_the_report_says_whether_forbidding_is_best_effort(monkeypatch):
    monkeypatch.setenv("CROSSCHECK_SANDBOX_NAMESPACES", "0")
    with Sandbox(CORRECT_TARGET, forbid_imports="torch", isolation="process") as sb:
        assert sb.info["forbid"].startswith("best-effort")
    if WHY_NO_BWRAP is None:  # bubblewrap brings its own mount namespace
        with Sandbox(CORRECT_TARGET, forbid_imports="torch", isolation="bwrap") as sb:
            assert sb.info["forbid"].startswith("hidden")


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
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("namespaces", ["1", "0"])
def test_shared_memory_and_host_sockets_do_not_outlive_or_escape_the_check(tmp_path, monkeypatch, namespaces, mode):
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
        with Sandbox(f"{path}:leave", timeout=30, isolation=mode) as sb:
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


# ---- 6. dropout's kept fraction judged on the masks the gradients were judged with --------------------

DROPOUT = '''
import numpy as np

def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode != "train":
        return x, (dropout_param, None)
    if {honest} or x.size >= 1000:  # drops as it should only where the kept fraction used to be measured
        mask = (np.random.rand(*x.shape) < p) / p
    else:
        mask = np.ones_like(x) / p
    return x * mask, (dropout_param, mask)

def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout
'''


@pytest.mark.parametrize("honest", [False, True])
def test_a_dropout_that_never_drops_on_the_judged_inputs_fails(tmp_path, honest):
    from crosscheck.layers.check import check_layers

    path = tmp_path / "layers.py"
    path.write_text(textwrap.dedent(DROPOUT).format(honest=honest))
    report = check_layers(str(path), api="cs231n", layers=["dropout"], examples=20, seed=0)
    (verdict,) = report.layers
    assert verdict.verdict == ("pass" if honest else "fail"), verdict


# ---- 6. a layer function that disappears mid-run ----------------------------------------------------

def test_a_layer_function_deleted_by_its_sibling_is_that_layers_error_and_the_others_stand(tmp_path):
    from crosscheck.layers.check import check_layers

    example = os.path.join(os.path.dirname(PACKAGE), "examples", "layers", "layers.py")
    text = open(example).read() + textwrap.dedent('''

        _affine_forward = affine_forward

        def affine_forward(x, w, b):
            globals().pop("relu_backward", None)  # its sibling, gone once affine has run
            return _affine_forward(x, w, b)
    ''')
    path = tmp_path / "layers.py"
    path.write_text(text)
    report = check_layers(str(path), api="cs231n", layers=["affine", "relu"], examples=5, seed=0)
    assert report.layer("affine").verdict == "pass"
    relu = report.layer("relu")
    assert relu.verdict == "error" and "removed" in relu.detail, relu
    assert report.exit_code == 3


# ---- 6. what the student prints or raises reaches no terminal raw, and loses no report -----------------

def test_control_characters_are_escaped_and_a_lone_surrogate_loses_no_report(tmp_path):
    import json
    import subprocess
    import sys

    path = tmp_path / "student.py"
    path.write_text(textwrap.dedent('''
        import sys
        def f(params, X, Y):
            print("\\x1b[2J\\x1b[32mPASS: all gradients agree\\x1b[0m\\x9b\\x07 tab\\there")
            raise ValueError("bad \\ud800 surrogate \\x1b]0;title\\x07")
    '''))
    report = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "crosscheck", "check", f"{path}:f", "--preset", "torch", "--examples",
                        "2", "--json", str(report)], capture_output=True,
                       env={**os.environ, "PYTHONIOENCODING": "ascii"},
                       cwd=os.path.dirname(PACKAGE), timeout=240)
    assert r.returncode == 3, r.stderr.decode(errors="replace")
    out = r.stdout + r.stderr
    assert b"\x1b" not in out and b"\x9b" not in out and b"\x07" not in out
    assert b"\\x1b[32mPASS" in out and b"\\ud800" in out and b"tab\there" in out
    got = json.loads(report.read_text())
    assert got["verdict"] == "error" and "\\x1b" in got["output"] and "surrogate" in got["error"]["message"]


# ---- 6. bad numbers and names: exit 2 with one line, before any work ---------------------------------

@pytest.mark.parametrize("option, value", [("--timeout", "inf"), ("--timeout", "1e300"), ("--timeout", "nan"),
                                           ("--memory", "99999999999999"), ("--l2", "1e308"), ("--l1", "inf"),
                                           ("--budget", "inf"), ("--examples", "99999999999"),
                                           ("--seed", str(2**64)), ("--max-width", "100000000")])
def test_a_number_out_of_range_is_exit_2_with_one_line(capsys, option, value):
    from crosscheck.cli import main

    assert main(["check", "tests/implementations/correct.py:torch_style", "--preset", "torch", option, value]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith(f"crosscheck check: error: argument {option}: expected"), err


@pytest.mark.parametrize("command", ["check", "grade"])
def test_a_report_name_too_long_for_the_file_system_is_exit_2_before_any_work(tmp_path, capsys, command):
    from crosscheck.cli import main

    long = str(tmp_path / ("r" * 240 + ".json"))  # fits NAME_MAX, but not with the temporary name beside it
    if command == "check":
        argv = ["check", "tests/implementations/correct.py:torch_style", "--preset", "torch", "--json", long]
    else:
        (tmp_path / "g.toml").write_text('[[check]]\nname = "n"\ntarget = "nn.py:f"\npoints = 1\n')
        (tmp_path / "sub").mkdir()
        argv = ["grade", str(tmp_path / "g.toml"), "--submission", str(tmp_path / "sub"), "--out", long]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "too long" in err, err


# ---- 7. --budget: the implementation's time over the whole check ----------------------------------------

def test_a_slow_every_call_implementation_cannot_take_examples_times_timeout(tmp_path):
    from crosscheck import ImplementationError, check_implementation

    path = tmp_path / "slow.py"
    path.write_text(RIGHT + "\nimport time\n\ndef slow(params, X, Y):\n    time.sleep(0.4)\n"
                            "    return right(params, X, Y)\n")
    with pytest.raises(ImplementationError) as e:
        check_implementation(f"{path}:slow", preset="torch", hidden="identity", examples=50, timeout=5, budget=1.5,
                             seed=0)
    assert e.value.kind == "timeout" and "budget of 1.5 s (--budget)" in str(e.value)
    assert "--budget 1.5" in e.value.report.reproduce


# ---- the same attacks through `crosscheck check`, as root and as an ordinary user (slow) ----------------

ATTACKS["leaves_shared_memory"] = '''
import ctypes, os

def attack(params, X, Y):
    with open("/dev/shm/{marker}", "wb") as f:
        f.write(b"x" * 4096)
    ctypes.CDLL(None).shmget(0x5EC10000 + int("{marker}"[-4:], 16), 4096, 0o1000 | 0o666)
    return wrong(params, X, Y)
'''
ATTACKS["escape_sequences"] = '''
def attack(params, X, Y):
    print("\\x1b[2J\\x1b[32mPASS: all gradients agree\\x1b[0m")
    return wrong(params, X, Y)
'''
ATTACKS["overlapping_reply"] = textwrap.dedent(FORGER).replace("def forge(", "def attack(").replace(
    "{meta}", repr(FORGED["overlapping"]).replace("{", "{{").replace("}", "}}"))


@pytest.mark.slow
def test_check_leaves_no_shared_memory_behind(runner):  # noqa: F811
    marker = "crosscheck-shm-" + os.urandom(4).hex()
    code, report, r = check(runner, "leaves_shared_memory", marker=marker)
    assert code == 1, r.stdout + r.stderr
    assert not os.path.exists(f"/dev/shm/{marker}")
    assert 0x5EC10000 + int(marker[-4:], 16) not in _sysv_keys()


@pytest.mark.slow
def test_check_output_carries_no_escape_sequence(runner):  # noqa: F811
    code, report, r = check(runner, "escape_sequences")
    assert code == 1 and "\x1b" not in r.stdout + r.stderr and "\x1b" not in report["output"]


@pytest.mark.slow
def test_check_refuses_an_overlapping_reply(runner):  # noqa: F811
    code, report, r = check(runner, "overlapping_reply")
    assert code == 3 and report["error"]["kind"] in ("bad_output", "exit"), r.stdout + r.stderr


# ---- 3. a target that is a link out of its folder (check; grade refuses more: test_grade_trust) ----------

@pytest.mark.parametrize("link", ["outside", "nowhere", "inside"])
def test_check_refuses_a_target_that_links_out_of_its_folder(tmp_path, capsys, link):
    from crosscheck.cli import main

    solution, student = tmp_path / "solution", tmp_path / "student"
    solution.mkdir()
    student.mkdir()
    (solution / "nn.py").write_text(RIGHT)
    (student / "impl").mkdir()
    (student / "impl" / "nn.py").write_text(RIGHT)
    to = {"outside": "../solution/nn.py", "nowhere": "gone.py", "inside": "impl/nn.py"}[link]
    os.symlink(to, student / "nn.py")
    code = main(["check", f"{student / 'nn.py'}:right", "--preset", "torch", "--hidden", "identity",
                 "--examples", "2"])
    out, err = capsys.readouterr()
    if link == "inside":  # a link within the folder is the student's own file
        assert code == 0, out + err
        return
    assert code == 2 and len(err.strip().splitlines()) == 1, out + err
    assert ("is a link to" in err and "outside its folder" in err) if link == "outside" else "no such file" in err
