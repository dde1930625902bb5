"""Layer checks in `crosscheck grade`: one part per layer, each with its own score and output; a
layer that is wrong, hangs, crashes or is missing scores 0 and the other layers are still graded."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crosscheck.cli import main
from crosscheck.grade import grade_submission

LAYERS = (Path(__file__).resolve().parent.parent / "examples" / "layers" / "layers.py").read_text()


def _grade(tmp_path, config: str, layers_py: str):
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "layers.py").write_text(layers_py)
    (tmp_path / "grading.toml").write_text(textwrap.dedent(config))
    return grade_submission(tmp_path / "grading.toml", sub, seed=0)


LAYER_LIST = 'layers = ["affine", "relu", "softmax_loss", "svm_loss", "layernorm", "batchnorm"]'
SIX = """
[grade]
examples = 8
timeout = 2

[[check]]
name = "Layers"
target = "layers.py"
api = "cs231n"
layers = ["affine", "relu", "softmax_loss", "svm_loss", "layernorm", "batchnorm"]
points = 12
"""


def test_a_correct_layers_py_scores_full_marks_one_part_per_layer(tmp_path):
    report = _grade(tmp_path, SIX, LAYERS)
    assert [(p.label, p.score, p.verdict) for p in report.parts] == [
        ("affine", 2, "pass"), ("relu", 2, "pass"), ("softmax_loss", 2, "pass"), ("svm_loss", 2, "pass"),
        ("layernorm", 2, "pass"), ("batchnorm", 2, "pass")]
    assert report.score == 12
    assert report.parts[0].reproduce == ("crosscheck check layers.py --api cs231n --layers affine --seed 0 "
                                         "--examples 8 --timeout 2")


def test_each_wrong_hanging_crashing_or_missing_layer_loses_only_its_points(tmp_path):
    planted = LAYERS.replace("    db = dout.sum(axis=0)\n", "    db = dout  # not summed over N\n")
    planted = planted.replace("def relu_backward(dout, cache):\n",
                              "def relu_backward(dout, cache):\n    import time\n    time.sleep(3600)\n")
    planted = planted.replace("def svm_loss(x, y):\n",
                              "def svm_loss(x, y):\n    import os, signal\n    os.kill(os.getpid(), signal.SIGSEGV)\n")
    planted = planted.replace("def layernorm_backward(", "def _layernorm_backward(")
    assert planted.count("not summed") == 1 and "_layernorm_backward" in planted
    report = _grade(tmp_path, SIX, planted)
    got = {p.label: (p.score, p.verdict, p.error_kind) for p in report.parts}
    assert got == {"affine": (0, "fail", None), "relu": (0, "error", "timeout"), "softmax_loss": (2, "pass", None),
                   "svm_loss": (0, "error", "crash"), "layernorm": (0, "missing", "missing"),
                   "batchnorm": (2, "pass", None)}
    affine = report.parts[0]
    assert affine.diagnosis[0]["id"] == "db_not_summed" and affine.reason.startswith("db_not_summed at db")
    assert "db = dout is not summed over the N samples" in affine.output
    assert "minimal case:" in affine.output or "case re-drawn where causes differ:" in affine.output
    assert affine.output.endswith("reproduce: crosscheck check layers.py --api cs231n --layers affine --seed 0 "
                                  "--examples 8 --timeout 2")
    assert "layers.py does not define layernorm_backward" in report.parts[4].reason
    assert str(tmp_path) not in "".join(p.output + p.reason for p in report.parts)


def test_without_a_layer_list_every_layer_of_the_api_is_a_part(tmp_path):
    from crosscheck.layers.api import LAYER_NAMES

    config = SIX.replace(LAYER_LIST + "\n", "")
    only_affine = LAYERS[:LAYERS.index("def relu_forward")]
    report = _grade(tmp_path, config.replace("points = 12", f"points = {len(LAYER_NAMES)}"), only_affine)
    assert [p.label for p in report.parts] == list(LAYER_NAMES)
    assert [p.verdict for p in report.parts] == ["pass"] + ["missing"] * (len(LAYER_NAMES) - 1)
    assert report.score == 1


def test_one_function_as_target_grades_its_layer(tmp_path):
    config = SIX.replace('target = "layers.py"', 'target = "layers.py:batchnorm_backward"')
    report = _grade(tmp_path, config.replace(LAYER_LIST + "\n", ""), LAYERS)
    assert [(p.label, p.score) for p in report.parts] == [("batchnorm", 12)]


def test_a_module_that_fails_to_import_scores_0_on_every_layer(tmp_path):
    report = _grade(tmp_path, SIX, "import numpy as np\nraise RuntimeError('half-written')\n")
    assert report.score == 0 and len(report.parts) == 6
    assert all(p.verdict == "error" and "half-written" in p.reason for p in report.parts)


@pytest.mark.parametrize("old, new, key, words", [
    ('api = "cs231n"', 'api = "cs232n"', "api", "unknown api"),
    (LAYER_LIST, 'layers = ["affine", "conv2"]', "layers", "unknown layer 'conv2'"),
    ("points = 12", 'points = 12\ndropout_p = "sometimes"', "dropout_p", "keep, drop"),
    ("points = 12", 'points = 12\npreset = "cs231n"', "preset", "option of function checks"),
    ('target = "layers.py"', 'target = "layers.py:affine_backwards"', "layers", "not both"),
])
def test_bad_layer_options_are_one_line_errors(tmp_path, capsys, old, new, key, words):
    assert old in SIX
    (tmp_path / "g.toml").write_text(SIX.replace(old, new))
    (tmp_path / "sub").mkdir()
    assert main(["grade", str(tmp_path / "g.toml"), "--submission", str(tmp_path / "sub")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"key '{key}'" in err and words in err, err


def test_layer_options_without_api_are_an_error(tmp_path, capsys):
    (tmp_path / "g.toml").write_text('[[check]]\nname = "x"\ntarget = "nn.py:f"\nlayers = ["affine"]\npoints = 1\n')
    (tmp_path / "sub").mkdir()
    assert main(["grade", str(tmp_path / "g.toml"), "--submission", str(tmp_path / "sub")]) == 2
    assert "key 'layers'" in capsys.readouterr().err


def test_a_forbidden_import_scores_0_on_every_layer_of_the_check(tmp_path, monkeypatch, capsys):
    config = SIX.replace("[grade]\n", '[grade]\nforbid_imports = ["torch"]\n')
    sometimes = LAYERS.replace("def relu_backward(dout, cache):\n",
                               "def relu_backward(dout, cache):\n    import torch  # noqa: F401\n")
    report = _grade(tmp_path, config, sometimes)
    assert report.score == 0 and len(report.parts) == 6
    relu = report.parts[1]
    assert relu.reason.startswith("forbidden import: torch")
    for p in report.parts:  # the other layers passed on their own, and still score 0
        assert p.error_kind == "forbidden_import" and "forbidden import: torch" in p.output
    # the student's command shows the same refusal
    assert relu.reproduce.endswith("--forbid-import torch")
    monkeypatch.chdir(tmp_path / "submission")
    assert main(relu.reproduce.split()[1:]) == 3
    assert "forbidden import: torch" in capsys.readouterr().out


def test_isolation_is_not_an_option_of_layer_checks(tmp_path, capsys):
    (tmp_path / "g.toml").write_text(SIX.replace("points = 12", 'points = 12\nisolation = "process"'))
    (tmp_path / "sub").mkdir()
    assert main(["grade", str(tmp_path / "g.toml"), "--submission", str(tmp_path / "sub")]) == 2
    assert "key 'isolation'" in capsys.readouterr().err
