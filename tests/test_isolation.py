"""The worker's confinement: who it runs as, where, with what, what it may import, and that its whole
process tree ends with the sandbox."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest

from crosscheck.errors import ImplementationError, UsageError
from crosscheck.sandbox.client import Sandbox, parse_forbidden

LINUX = sys.platform.startswith("linux")

IMPL = '''
import json, os, subprocess, sys, time
import numpy as np

def where(params, X, Y):
    import resource
    status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l) if os.path.exists("/proc") else {}
    return {"report": np.frombuffer(json.dumps({
        "cwd": os.getcwd(), "listing": os.listdir("."), "env": dict(os.environ), "uid": os.getuid(),
        "groups": os.getgroups(), "cap_eff": status.get("CapEff", "").strip(),
        "no_new_privs": status.get("NoNewPrivs", "").strip(), "path": sys.path, "flags_isolated": sys.flags.isolated,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0], "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0],
        "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0], "modules": sorted(m for m in sys.modules
                                                                    if m.split(".")[0] == "crosscheck"),
    }).encode(), dtype=np.uint8)}

def writes(params, X, Y):
    out = {}
    for name, path in (("home", os.path.join(os.environ["HOME"], "f")), ("shared", os.environ["SHARED_HINT"])):
        try:
            with open(path, "w") as f:
                f.write("x")
            out[name] = np.array(1)
        except OSError:
            out[name] = np.array(0)
    return out

def imports_crosscheck(params, X, Y):
    import crosscheck  # noqa

def imports_by_importlib(params, X, Y):
    import importlib
    importlib.import_module(sys.argv[0] and "colorsys")

def imports_and_catches(params, X, Y):
    try:
        import colorsys  # noqa
    except ImportError:
        pass
    return params

def starts_a_daemon(params, X, Y):
    code = "import time; time.sleep(600)  # " + os.environ["MARKER_HINT"]
    subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    time.sleep(0.5)
    if params == "hang":
        time.sleep(600)
    return params

def forks_forever(params, X, Y):
    n = 0
    try:
        while n < 100000:
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            n += 1
    except OSError as e:
        return {"n": np.array(n), "error": np.array(e.errno)}
    return {"n": np.array(n)}
'''


@pytest.fixture(scope="module")
def impl(tmp_path_factory):
    d = tmp_path_factory.mktemp("isolation")
    (d / "student.py").write_text(textwrap.dedent(IMPL))
    (d / "slow_import.py").write_text("import time\ntime.sleep(60)\ndef f(p, X, Y):\n    return p\n")
    (d / "big_import.py").write_text("import numpy as np\nBIG = np.ones((80, 2**20))\ndef f(p, X, Y):\n    return p\n")
    return d


def run(impl, name, params=None, **kw):
    with Sandbox(f"{impl / 'student.py'}:{name}", **kw) as sb:
        return sb.call(params if params is not None else [(np.ones((2, 3)), np.zeros(2))], np.ones((4, 3)), None)


def report(impl, **kw):
    import json

    return json.loads(bytes(run(impl, "where", **kw).value["report"]).decode())


def _skip_if_the_worker_stays_root() -> None:
    """The documented case where root cannot drop privileges: the interpreter sits under a directory
    other users cannot enter and there is no mount namespace to show it (README: the sandbox)."""
    with Sandbox(f"{os.path.dirname(__file__)}/implementations/correct.py:torch_style") as sb:
        info = sb.info
    if os.geteuid() == 0 and info.get("uid") is None:
        pytest.skip(f"the worker stays root here: {info.get('notes')}")


def test_a_private_empty_directory_and_a_scrubbed_environment(impl, monkeypatch):
    monkeypatch.setenv("CI_DEPLOY_TOKEN", "hunter2")
    monkeypatch.setenv("LANG", "C.UTF-8")
    r = report(impl)
    assert r["listing"] == [] and r["env"]["HOME"] == r["cwd"] == r["env"]["TMPDIR"]
    assert "CI_DEPLOY_TOKEN" not in r["env"] and "hunter2" not in str(r["env"])
    assert r["env"]["LANG"] == "C.UTF-8"  # the allowlist passes what code needs
    assert r["flags_isolated"] == 1 and r["modules"] == []
    assert not os.path.exists(r["cwd"]), "the private directory is removed with the sandbox"


@pytest.mark.skipif(not LINUX, reason="resource limits and /proc are Linux's here")
def test_limits_are_set_before_the_target_is_imported(impl):
    r = report(impl)
    assert r["nofile"] <= 256 and r["fsize"] <= 64 * 2**20 and r["nproc"] <= 100_000
    assert r["no_new_privs"] == "1"


@pytest.mark.skipif(not LINUX or os.geteuid() != 0, reason="privileges are dropped only when crosscheck is root")
def test_as_root_the_worker_is_an_unprivileged_user_with_no_capabilities(impl):
    _skip_if_the_worker_stays_root()
    r = report(impl)
    assert r["uid"] != 0 and r["groups"] in ([], [r["uid"]]) and int(r["cap_eff"], 16) == 0


@pytest.mark.skipif(not LINUX, reason="prctl is Linux's")
def test_the_parent_is_not_dumpable_once_a_worker_exists(impl):
    run(impl, "imports_and_catches")
    libc = ctypes.CDLL(None)
    assert libc.prctl(3, 0, 0, 0, 0) == 0  # PR_GET_DUMPABLE


def test_crosscheck_cannot_be_imported_even_where_it_is_on_disk(impl):
    with pytest.raises(ImplementationError, match="crosscheck is not importable in the sandbox") as e:
        run(impl, "imports_crosscheck")
    assert e.value.kind == "raised" and f"{impl / 'student.py'}:" in str(e.value)  # the user's path, not a copy


@pytest.mark.parametrize("name", ["imports_by_importlib", "imports_and_catches"])
def test_a_forbidden_import_is_refused_by_any_route_even_when_caught(impl, name):
    with pytest.raises(ImplementationError, match="forbidden import: colorsys") as e:
        run(impl, name, forbid_imports="colorsys")
    assert e.value.kind == "forbidden" and f"{impl / 'student.py'}:" in str(e.value)


def test_forbidden_names_are_checked():
    assert parse_forbidden("torch, jax,torch") == ("torch", "jax")
    for bad in ("torch;rm", "1x", ""):
        with pytest.raises(UsageError, match="not a module name"):
            parse_forbidden(bad)


def test_what_the_worker_has_already_imported_cannot_be_forbidden(impl):
    with pytest.raises(UsageError, match="cannot forbid numpy"):
        run(impl, "imports_and_catches", forbid_imports=["numpy"])


def test_the_import_obeys_timeout(impl):
    with pytest.raises(ImplementationError, match="importing .*slow_import.py:f failed to start") as e:
        Sandbox(f"{impl / 'slow_import.py'}:f", timeout=1).start()
    assert e.value.kind == "timeout"


@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS is enforced on Linux")
def test_the_import_obeys_the_memory_cap(impl):
    with pytest.raises(ImplementationError, match="memory cap of 100 MB") as e:
        Sandbox(f"{impl / 'big_import.py'}:f", memory=100).start()
    assert e.value.kind == "memory"


@pytest.fixture
def shared_dir():
    """A folder the worker can write to whoever it runs as (pytest's own are private to this user)."""
    d = tempfile.mkdtemp(prefix="crosscheck-isolation-")
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not LINUX, reason="reads /proc")
@pytest.mark.parametrize("how", ["close", "timeout"])
def test_a_process_started_in_a_new_session_dies_with_the_sandbox(impl, monkeypatch, how):
    marker = f"DAEMON-{os.getpid()}-{how}"
    monkeypatch.setenv("MARKER_HINT", marker)
    monkeypatch.setattr("crosscheck.sandbox.isolation.ENV_ALLOW", ("PATH", "MARKER_HINT"))
    with Sandbox(f"{impl / 'student.py'}:starts_a_daemon", timeout=3) as sb:
        if how == "close":
            sb.call([], np.ones(1), None)
            assert _living(marker), "the daemon runs while the sandbox is open"
        else:
            with pytest.raises(ImplementationError, match="did not return"):
                sb.call("hang", np.ones(1), None)
    assert _living(marker) == []


def _living(text: str) -> list[str]:
    return [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, text) and _alive(int(p))]


def _cmdline_has(pid: str, text: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


def test_with_a_mount_namespace_only_the_private_directory_is_writable(impl, shared_dir, monkeypatch):
    monkeypatch.setenv("SHARED_HINT", os.path.join(shared_dir, "forged.json"))
    monkeypatch.setattr("crosscheck.sandbox.isolation.ENV_ALLOW", ("PATH", "SHARED_HINT"))
    with Sandbox(f"{impl / 'student.py'}:writes") as sb:
        got = sb.call([], np.ones(1), None).value
        confined = "read-only" in sb.info.get("namespaces", []) or sb.info.get("isolation") == "bwrap"
    assert int(got["home"]) == 1
    if not confined:
        pytest.skip(f"no mount namespace here ({sb.info}): the file system is not read-only for the worker")
    assert int(got["shared"]) == 0 and os.listdir(shared_dir) == []


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_a_fork_bomb_is_bounded_and_cleaned_up(impl):
    _skip_if_the_worker_stays_root()  # root is not bound by RLIMIT_NPROC
    r = run(impl, "forks_forever", timeout=20)
    assert int(r.value["n"]) < 100_000 and "error" in r.value


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_a_killed_crosscheck_takes_the_tree_with_it(impl):
    """SIGKILL to crosscheck (no cleanup runs): the supervisor sees its control pipe close and ends the tree."""
    marker = f"DAEMON-{os.getpid()}-killed"
    script = textwrap.dedent(f"""
        import numpy as np, os, crosscheck.sandbox.isolation as iso
        os.environ["MARKER_HINT"] = {marker!r}
        iso.ENV_ALLOW = ("PATH", "MARKER_HINT")
        from crosscheck.sandbox import Sandbox
        sb = Sandbox({str(impl / 'student.py') + ':starts_a_daemon'!r}, timeout=600)
        sb.start()
        print("started", flush=True)
        sb.call("hang", np.ones(1), None)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert p.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 20
    while not _living(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _living(marker)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    deadline = time.monotonic() + 10
    while _living(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _living(marker) == []


def test_no_crosscheck_module_is_first_imported_after_the_implementation_has_run(tmp_path):
    """What the verdict and the reports need is in memory before any untrusted code runs, so rewriting
    crosscheck's files during a check changes nothing (a failing check: diagnosis, JSON and plot)."""
    script = textwrap.dedent(f"""
        import sys
        import crosscheck
        from crosscheck import sandbox

        before = {{}}
        start = sandbox.Sandbox.start

        def snapshot(self):
            before.setdefault("modules", {{m for m in sys.modules if m.split(".")[0] == "crosscheck"}})
            return start(self)

        sandbox.Sandbox.start = snapshot
        try:
            crosscheck.check_implementation("implementations.mistakes:scale", preset="torch", examples=5,
                                            json={str(tmp_path / 'r.json')!r}, plot={str(tmp_path / 'r.png')!r})
        except AssertionError:
            pass
        after = {{m for m in sys.modules if m.split(".")[0] == "crosscheck"}}
        print(sorted(after - before["modules"]), "torch" in sys.modules or "jax" in sys.modules)
    """)
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tests_dir,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join([tests_dir, *sys.path])))
    assert r.returncode == 0, r.stderr
    # nothing first imported after the implementation ran, and pre-importing pulled in no framework
    assert r.stdout.strip() == "[] False" and (tmp_path / "r.png").exists()
