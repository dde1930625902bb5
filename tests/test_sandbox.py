"""The sandbox: a worker process that survives whatever the implementation does, reports how it
failed, and hands back plain arrays only."""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest

from crosscheck.errors import ImplementationError, UsageError
from crosscheck.sandbox.client import Opaque, Sandbox, Target, parse_target, trim_output

# isort: split
from _modes import MODES  # after crosscheck: a test below names the line of its first crosscheck import

IMPL = '''
import os, sys, time, signal
import numpy as np

def double(params, X, Y):
    print("working on", X.shape)
    return [(2 * W, b) for W, b in params]

def takes_spec(params, X, Y, spec=None):
    return {"seen": spec["network"]["widths"]}

def raises(params, X, Y):
    raise KeyError("W3")

def hangs(params, X, Y):
    time.sleep(3600)

def os_exit(params, X, Y):
    os._exit(0)

def sys_exit(params, X, Y):
    sys.exit(4)

def segfault(params, X, Y):
    os.kill(os.getpid(), signal.SIGSEGV)

def killed(params, X, Y):
    os.kill(os.getpid(), signal.SIGKILL)

def hog(params, X, Y):
    return np.ones((64, 2**20))  # 512 MB

def noise(params, X, Y):
    sys.stdout.write("x" * 3_000_000 + "END")
    return params

def mutates(params, X, Y):
    params[0][0][0, 0] += 1
    X *= 2
    return params

def swaps_container(params, X, Y):
    params.append("extra")
    return params

def odd_values(params, X, Y):
    return [object(), "text", np.array(["a"]), {1: 2}, 3, 2.5, None, (np.float32(1),)]

class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + os.environ["EVIL_MARKER"],))

def evil(params, X, Y):
    return [Evil()]

def forges(params, X, Y):
    # writes a well-formed frame claiming success to every pipe it can find
    import json, struct
    head = json.dumps({"status": "ok", "id": 1, "result": {"t": "none"}, "arrays": []}).encode()
    for fd in range(3, 64):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                os.write(fd, struct.pack(">QQ", len(head), 0) + head)
        except OSError:
            pass
    return [(W, b) for W, b in params]

NOT_CALLABLE = 3
'''


@pytest.fixture(scope="module")
def impl(tmp_path_factory):
    d = tmp_path_factory.mktemp("impl")
    path = d / "student.py"
    path.write_text(textwrap.dedent(IMPL))
    (d / "broken.py").write_text("import numpy\nraise RuntimeError('broken at import')\n")
    (d / "imports_missing.py").write_text("import a_module_that_does_not_exist\ndef f(p, X, Y):\n    return p\n")
    return d


def target(impl, name):
    return f"{impl / 'student.py'}:{name}"


def inputs():
    return [(np.arange(6.0).reshape(2, 3), np.zeros(2))], np.ones((3, 4)), None


def test_a_call_returns_plain_arrays_output_and_timing(impl):
    with Sandbox(target(impl, "double")) as sb:
        params, X, Y = inputs()
        r = sb.call(params, X, Y)
        np.testing.assert_array_equal(r.value[0][0], 2 * params[0][0])
        assert isinstance(r.value, list) and isinstance(r.value[0], tuple)
        assert r.stdout.strip() == "working on (3, 4)" and r.mutated == () and r.elapsed >= 0
        # the worker is kept: a second call reuses it, and its output is that call's alone
        r2 = sb.call(params, X, Y)
        assert r2.stdout.strip() == "working on (3, 4)" and sb.starts == 1


def test_spec_is_passed_only_to_functions_that_take_it(impl):
    with Sandbox(target(impl, "takes_spec")) as sb:
        assert sb.accepts_spec
        r = sb.call(*inputs(), spec={"network": {"widths": [3, 2]}})
        np.testing.assert_array_equal(r.value["seen"][0], 3)
    with Sandbox(target(impl, "double")) as sb:
        assert not sb.accepts_spec


@pytest.mark.parametrize("name, kind, words", [
    ("raises", "raised", "KeyError: 'W3'"),
    ("hangs", "timeout", "did not return within 0.5 s"),
    ("os_exit", "exit", "exited with status 0"),
    ("sys_exit", "exit", "sys.exit(4)"),
    ("segfault", "crash", "SIGSEGV"),
    ("killed", "memory", "SIGKILL"),
    ("hog", "memory", "memory cap of 100 MB"),
])
@pytest.mark.parametrize("isolation", MODES)  # bubblewrap reports a signal as exit 128+N: told apart still
def test_failures_are_told_apart_and_the_next_call_gets_a_fresh_worker(impl, name, kind, words, isolation):
    with Sandbox(target(impl, name), timeout=0.5, memory=100, isolation=isolation) as sb:
        first = sb._worker.proc
        with pytest.raises(ImplementationError, match=words.replace("(", r"\(").replace(")", r"\)")) as e:
            sb.call(*inputs())
        assert e.value.kind == kind
        assert first.poll() is not None, "the failed worker is gone"
        with pytest.raises(ImplementationError):
            sb.call(*inputs())
        assert sb.starts == 2


def test_a_traceback_is_part_of_the_error_output(impl):
    with Sandbox(target(impl, "raises")) as sb, pytest.raises(ImplementationError) as e:
        sb.call(*inputs())
    assert "Traceback" in e.value.output and "student.py" in e.value.output and "_worker" not in e.value.output


def test_megabytes_of_output_are_trimmed_and_do_not_pile_up(impl):
    with Sandbox(target(impl, "noise")) as sb:
        for _ in range(3):
            r = sb.call(*inputs())
            assert len(r.stdout) < 20_000 and r.stdout.endswith("END") and "omitted" in r.stdout
            assert os.fstat(sb._worker.stdout.fileno()).st_size == 0  # truncated after each call


def test_mutation_is_detected_against_the_parents_originals(impl):
    params, X, Y = inputs()
    keep = [(W.copy(), b.copy()) for W, b in params], X.copy()
    with Sandbox(target(impl, "mutates")) as sb:
        r = sb.call(params, X, Y)
        assert r.mutated == ("params[0][0]", "X")
        # the caller's arrays were handed over as copies
        np.testing.assert_array_equal(params[0][0], keep[0][0][0])
        np.testing.assert_array_equal(X, keep[1])
    with Sandbox(target(impl, "swaps_container")) as sb:
        assert sb.call(*inputs()).mutated == ("params (its items)",)


def test_anything_but_numbers_and_containers_comes_back_opaque(impl):
    with Sandbox(target(impl, "odd_values")) as sb:
        v = sb.call(*inputs()).value
    assert [type(x).__name__ for x in v] == ["Opaque", "Opaque", "Opaque", "Opaque", "ndarray", "ndarray",
                                             "NoneType", "tuple"]
    assert "str" in v[1].description and "dict with a key of type int" in v[3].description
    assert v[4].shape == () and v[7][0].dtype == np.float32


def test_the_parent_never_unpickles_what_the_implementation_returns(impl, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARKER", str(marker))
    with Sandbox(target(impl, "evil")) as sb:
        v = sb.call(*inputs()).value
    assert isinstance(v[0], Opaque) and not marker.exists()


def test_a_forged_reply_on_the_protocol_pipe_is_refused(impl):
    with Sandbox(target(impl, "forges")) as sb, pytest.raises(ImplementationError) as e:
        sb.call(*inputs())
    assert e.value.kind == "bad_output" and "private pipe" in str(e.value)


# ---- what to load ------------------------------------------------------------------------------------

def test_targets_are_parsed_and_checked_cheaply(impl):
    assert parse_target("pkg.mod:fn") == Target("module", "fn", module="pkg.mod")
    t = parse_target(target(impl, "double"))
    assert t.kind == "file" and t.attr == "double" and t.display.endswith("student.py:double")
    for bad, words in [("nocolon", "TARGET must be"), ("pkg.mod:", "TARGET must be"),
                       ("a/missing.py:f", "no such file"), ("pkg.mod:not-a-name", "not a function name"),
                       ("1pkg:f", "neither")]:
        with pytest.raises(UsageError, match=words):
            parse_target(bad)
    with pytest.raises(UsageError):
        parse_target(42)


def module_level(params, X, Y):
    return params


def test_callables_are_loaded_by_module_and_qualname():
    from tests.implementations.correct import torch_style

    assert parse_target(module_level).attr == "module_level"
    with pytest.raises(UsageError, match="lambda"):
        parse_target(lambda p, X, Y: p)

    def nested(params, X, Y):
        return params
    with pytest.raises(UsageError, match="nested"):
        parse_target(nested)
    params = [(np.ones((2, 3)), np.zeros(2))]
    with Sandbox(torch_style) as sb:
        got = sb.call(params, np.ones((4, 3)), np.ones((4, 2))).value
        assert got[0][0].shape == (2, 3)


def test_a_callable_whose_module_imports_crosscheck_is_refused_with_the_reason():
    # this test module imports crosscheck, which the sandbox cannot import
    first = next(n for n, line in enumerate(open(__file__), start=1) if line.startswith("from crosscheck"))
    words = f"crosscheck is not importable in the sandbox .*test_sandbox.py:{first}"
    with pytest.raises(ImplementationError, match=words) as e:
        Sandbox(module_level).start()
    assert e.value.kind == "import" and "does not import crosscheck" in str(e.value)


@pytest.mark.parametrize("spec, error, words", [
    ("student.py:missing", UsageError, "has no attribute 'missing'; callables defined there: "),
    ("student.py:NOT_CALLABLE", UsageError, "is a int, not a callable"),
    ("broken.py:f", ImplementationError, "RuntimeError: broken at import"),
    ("imports_missing.py:f", ImplementationError, "a_module_that_does_not_exist"),
])
def test_what_is_missing_is_a_usage_error_and_what_raises_on_import_is_not(impl, spec, error, words):
    with pytest.raises(error, match=words) as e:
        Sandbox(str(impl / spec)).start()
    if error is ImplementationError:
        assert e.value.kind == "import"


def test_a_missing_module_is_a_usage_error():
    with pytest.raises(UsageError, match="no module named 'no_such_package_xyz'"):
        Sandbox("no_such_package_xyz.sub:fn").start()


def test_bad_limits_are_usage_errors(impl):
    with pytest.raises(UsageError):
        Sandbox(target(impl, "double"), timeout=0)
    with pytest.raises(UsageError):
        Sandbox(target(impl, "double"), memory=0)


def test_close_ends_the_worker(impl):
    sb = Sandbox(target(impl, "double"))
    sb.start()
    proc = sb._worker.proc
    sb.close()
    assert proc.poll() is not None and sb._worker is None


def test_trim_output_keeps_both_ends():
    text = "a" * 10 + "b" * 100 + "c" * 10
    t = trim_output(text, keep=10)
    assert t.startswith("a" * 10) and t.endswith("c" * 10) and "100 characters omitted" in t
    assert trim_output("short") == "short"
