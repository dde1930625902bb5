"""The layer check end to end: CLI, Python API, verdicts per layer, exit codes, JSON, sandbox."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from crosscheck import check_implementation
from crosscheck.cli import main
from crosscheck.errors import GradientMismatch, ImplementationError, UsageError
from crosscheck.layers import check_layers
from crosscheck.layers.api import LAYER_NAMES
from crosscheck.layers.recurrent import RECURRENT_LAYERS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORRECT = os.path.join(ROOT, "examples", "layers", "layers.py")
DROP = os.path.join(ROOT, "tests", "implementations", "layers_drop.py")


def _module(tmp_path, body: str, name: str = "student_layers.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_correct_layers_pass_every_layer_keep_convention(capsys):
    code = main(["check", CORRECT, "--api", "cs231n", "--examples", "8"])
    out = capsys.readouterr().out
    assert code == 0, out
    for name in LAYER_NAMES:  # assignment 2's layers; the recurrent ones are not reported on a layers.py
        assert (f"PASS     {name}:" in out) == (name not in RECURRENT_LAYERS)


def test_drop_convention_passes_with_dropout_p_drop_and_is_named_otherwise():
    report = check_layers(DROP, layers="dropout", dropout_p="drop", examples=8)
    assert report.exit_code == 0, report.summary()
    wrong = check_layers(DROP, layers="dropout", dropout_p="keep", examples=8)
    verdict = wrong.layer("dropout")
    assert verdict.verdict == "fail"
    assert verdict.diagnosis[0]["id"] == "dropout_p_convention", verdict.diagnosis


def test_keep_convention_fails_under_dropout_p_drop():
    report = check_layers(CORRECT, layers="dropout", dropout_p="drop", examples=8)
    assert report.layer("dropout").diagnosis[0]["id"] == "dropout_p_convention"


def test_one_function_checks_its_layer_only(capsys):
    code = main(["check", f"{CORRECT}:batchnorm_backward_alt", "--api", "cs231n", "--examples", "5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "PASS     batchnorm_alt" in out and "affine" not in out


def test_missing_layers_are_listed_and_do_not_change_the_exit_code(tmp_path):
    path = _module(tmp_path, """
        import numpy as np
        def relu_forward(x):
            return np.maximum(x, 0), x
        def relu_backward(dout, cache):
            return dout * (cache > 0)
        def affine_forward(x, w, b):
            return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)
    """)
    report = check_layers(path, examples=5)
    assert report.layer("relu").verdict == "pass"
    affine = report.layer("affine")
    assert affine.verdict == "missing" and "affine_backward" in affine.detail
    assert report.exit_code == 0


def test_a_module_with_none_of_the_api_compares_nothing_and_exits_2(tmp_path, capsys):
    path = _module(tmp_path, "def unrelated():\n    return 1\n")
    assert main(["check", path, "--api", "cs231n"]) == 2
    with pytest.raises(UsageError, match="defines none"):
        check_implementation(path, api="cs231n")


def test_a_raising_layer_is_an_error_and_the_others_are_still_checked(tmp_path):
    path = _module(tmp_path, f"""
        import sys
        sys.path.insert(0, {os.path.dirname(CORRECT)!r})
        from layers import *
        def affine_backward(dout, cache):
            raise KeyError("dw")
    """)
    report = check_layers(path, layers="affine,relu", examples=5)
    assert report.layer("affine").verdict == "error"
    assert "KeyError" in report.layer("affine").detail
    assert report.layer("relu").verdict == "pass"
    assert report.exit_code == 3
    with pytest.raises(ImplementationError):
        check_implementation(path, api="cs231n", layers="affine,relu", examples=5)


def test_a_hanging_layer_times_out_in_the_sandbox(tmp_path):
    path = _module(tmp_path, """
        import time
        def relu_forward(x):
            time.sleep(60)
        def relu_backward(dout, cache):
            return dout
    """)
    report = check_layers(path, layers="relu", examples=2, timeout=1.0)
    assert report.layer("relu").verdict == "error"
    assert "timeout" in report.layer("relu").detail


def test_unfilled_todo_is_a_failure_named_not_implemented(tmp_path):
    path = _module(tmp_path, """
        def relu_forward(x):
            out = None
            cache = x
            return out, cache
        def relu_backward(dout, cache):
            return None
    """)
    verdict = check_layers(path, layers="relu", examples=3).layer("relu")
    assert verdict.verdict == "fail"
    assert verdict.diagnosis[0]["id"] == "not_implemented"


def test_mutating_the_input_is_named(tmp_path):
    path = _module(tmp_path, """
        import numpy as np
        def relu_forward(x):
            x[x < 0] = 0
            return x.copy(), x > 0
        def relu_backward(dout, cache):
            return dout * cache
    """)
    verdict = check_layers(path, layers="relu", examples=3).layer("relu")
    assert verdict.verdict == "fail"
    assert "mutates_inputs" in [d["id"] for d in verdict.diagnosis]


def test_json_report_has_one_entry_per_layer(tmp_path, capsys):
    out = tmp_path / "report.json"
    planted = _module(tmp_path, f"""
        import sys
        sys.path.insert(0, {os.path.dirname(CORRECT)!r})
        from layers import *
        def affine_backward(dout, cache):
            x, w, b = cache
            return (dout @ w.T).reshape(x.shape), dout.T @ x.reshape(x.shape[0], -1), dout.sum(0)
    """)
    code = main(["check", planted, "--api", "cs231n", "--layers", "affine,relu", "--examples", "5",
                 "--json", str(out)])
    assert code == 1
    data = json.loads(out.read_text())
    assert [v["name"] for v in data["layers"]] == ["affine", "relu"]
    affine = data["layers"][0]
    assert set(affine) >= {"name", "verdict", "diagnosis", "failing_case", "reproduce"}
    assert affine["verdict"] == "fail"
    assert affine["diagnosis"][0] == {"id": "transposed_dw", "parameter": "dw",
                                      "detail": affine["diagnosis"][0]["detail"]}
    assert affine["failing_case"]["got"]["dw"]
    assert "--layers affine" in affine["reproduce"]
    assert data["layers"][1]["verdict"] == "pass"
    # the reproduction command reproduces the failure
    assert main(affine["reproduce"].split()[1:]) == 1


def test_check_implementation_raises_on_a_failing_layer(tmp_path):
    planted = _module(tmp_path, """
        import numpy as np
        def relu_forward(x):
            return np.maximum(x, 0), x
        def relu_backward(dout, cache):
            return dout
    """)
    with pytest.raises(GradientMismatch, match="relu_mask_missing"):
        check_implementation(planted, api="cs231n", examples=5)
    report = check_implementation(CORRECT, api="cs231n", layers=["relu"], examples=5)
    assert report.passed


@pytest.mark.parametrize("argv, message", [
    (["--api", "cs231n", "--layers", "affine,bogus"], "unknown layer 'bogus'"),
    (["--layers", "affine"], "need --api"),
])
def test_usage_errors_are_one_line_exit_2(argv, message, capsys):
    assert main(["check", CORRECT] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_float32_correct_layers_pass():
    report = check_layers(CORRECT, examples=5, dtype="float32")
    assert report.exit_code == 0, report.summary()


def test_documented_layer_commands_run_as_written(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    # the README shows what a newcomer sees on their own machine: the dev profile, not CI's
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("CROSSCHECK_PROFILE", "dev")
    monkeypatch.setenv("COLUMNS", "100")  # as docs/samples.py runs it (pytest-xdist sets 80)
    assert main(["check", "examples/layers/layers.py", "--api", "cs231n", "--examples", "3"]) == 0
    assert main(["check", "examples/layers/layers.py", "--api", "cs231n", "--layers", "affine,relu,batchnorm",
                 "--dropout-p", "keep", "--examples", "3"]) == 0
    assert main(["check", "examples/layers/layers.py:batchnorm_backward", "--api", "cs231n", "--examples", "3"]) == 0
    capsys.readouterr()
    assert main(["check", "examples/layers/student_layers.py", "--api", "cs231n", "--layers",
                 "affine,relu,batchnorm", "--seed", "0"]) == 1  # without --seed: a fresh one
    out = capsys.readouterr().out
    readme = open(os.path.join(ROOT, "docs", "layers.md")).read()  # the layer report sample lives there
    for line in out.splitlines()[:4] + [ln for ln in out.splitlines() if ln.strip().startswith(("1. ", "2. "))]:
        assert line in readme, line


def test_check_implementation_with_api_in_a_users_pytest_suite(pytester):
    pytester.makepyfile(test_student=f"""
        import crosscheck
        def test_layers_are_right():
            crosscheck.check_implementation({CORRECT!r}, api="cs231n", layers="affine,relu", examples=3)
        def test_wrong_layers_are_named():
            crosscheck.check_implementation({os.path.join(ROOT, "examples", "layers", "student_layers.py")!r},
                                            api="cs231n", layers="affine", examples=3)
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*GradientMismatch*", "*transposed_dw*"])


def test_a_forbidden_import_fails_that_layer_only(tmp_path):
    path = _module(tmp_path, """
        import numpy as np
        def relu_forward(x):
            import csv  # forbidden below
            return np.maximum(x, 0), x
        def relu_backward(dout, cache):
            return dout * (cache > 0)
        def affine_forward(x, w, b):
            return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)
        def affine_backward(dout, cache):
            x, w, b = cache
            return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)
    """)
    report = check_layers(path, layers="affine,relu", examples=3, forbid_imports=["csv"])
    assert report.layer("affine").verdict == "pass"
    relu = report.layer("relu")
    assert relu.verdict == "error" and "forbidden import: csv" in relu.detail
    assert "--forbid-import csv" in relu.reproduce
    assert report.exit_code == 3


def test_kink_conventions_are_accepted_and_named(tmp_path):
    """relu'(0) = 1 (x >= 0) and a hinge counted at margin 0 are valid subgradients: pass, with a note."""
    path = _module(tmp_path, f"""
        import sys
        sys.path.insert(0, {os.path.dirname(CORRECT)!r})
        from layers import *
        def relu_backward(dout, cache):
            return dout * (cache >= 0)
        def svm_loss(x, y):
            N = x.shape[0]
            margins = x - x[np.arange(N), y][:, None] + 1.0
            margins[np.arange(N), y] = -1.0
            active = (margins >= 0).astype(float)
            dx = active.copy()
            dx[np.arange(N), y] = -active.sum(axis=1)
            return np.maximum(margins, 0).sum() / N, dx / N
    """)
    report = check_layers(path, layers="relu,svm_loss", examples=10)
    assert report.exit_code == 0, report.summary()
    assert any("1 (x >= 0)" in n for n in report.layer("relu").notes)
    assert any("active (margin >= 0)" in n for n in report.layer("svm_loss").notes)
    assert "note:" in report.summary()


def test_routing_dout_to_every_tied_maximum_is_not_a_subgradient(tmp_path):
    path = _module(tmp_path, f"""
        import sys
        sys.path.insert(0, {os.path.dirname(CORRECT)!r})
        from layers import *
        def max_pool_backward_naive(dout, cache):
            x, p = cache
            ph, pw, s = p["pool_height"], p["pool_width"], p["stride"]
            dx = np.zeros_like(x)
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    win = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
                    top = win == win.max(axis=(2, 3), keepdims=True)
                    dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += top * dout[:, :, i, j][:, :, None, None]
            return dx
    """)
    verdict = check_layers(path, layers="max_pool", examples=10).layer("max_pool")
    assert verdict.verdict == "fail"
    assert verdict.diagnosis[0]["id"] == "pool_ties_all_routed", verdict.diagnosis
