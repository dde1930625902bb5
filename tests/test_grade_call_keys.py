"""`crosscheck grade` with the keys issue 20 added to `crosscheck check`: ``params_attr`` and ``returns`` for a
course's ``TwoLayerNet.loss``, ``flat_order``, ``args``, ``label_base`` and ``returns`` for Ng's ex4
``nnCostFunction`` (--params flat, --bias first_column), ``min_depth`` and ``max_width = 1`` for single-output
code, and ``grads`` for layer classes: full marks for the right submission, the mistakes named for the wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crosscheck.cli import main
from crosscheck.grade import grade_submission
from crosscheck.grade.config import ConfigError, parse_config

IMPLEMENTATIONS = Path(__file__).resolve().parent / "implementations"

CONFIG = """
[grade]
examples = 8
timeout = 10

[[check]]
name = "TwoLayerNet"
target = "classifiers.py:TwoLayerNet.loss"
preset = "cs231n"
penalty_form = "full"
l2 = 0.3
params_attr = "params"
returns = ["loss", "grads"]
points = 4

[[check]]
name = "ex4"
target = "ex4.py:nnCostFunction"
preset = "ng-ex4"
flat_order = "C"
args = "params,n_in,n_hidden,n_out,X,y,l2"
points = 4

[[check]]
name = "ex4 octave"
target = "ex4.py:nnCostFunction_octave"
preset = "ng-ex4"
label_base = 1
returns = "loss,grads"
points = 2

[[check]]
name = "single output"
target = "single_output.py:l_model_backward"
preset = "deeplearning.ai"
output_width = 1
max_width = 1
min_depth = 2
max_depth = 3
points = 2

[[check]]
name = "layers"
target = "layers.py"
api = "module"
layers = ["Linear"]
grads = "dW=gw,db=gb,dx=gx"
points = 2
"""

LAYERS = '''
import numpy as np


class Linear:
    def __init__(self, in_features, out_features):
        self.W = np.zeros((in_features, out_features))
        self.b = np.zeros(out_features)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.gw = self.x.T @ dout
        self.gb = dout.sum(axis=0)
        self.gx = dout @ self.W.T
        return self.gx
'''


def _submission(tmp_path: Path, *, wrong: bool = False) -> tuple[Path, Path]:
    sub = tmp_path / "submission"
    sub.mkdir()
    classifiers = (IMPLEMENTATIONS / "classifiers.py").read_text()
    ex4 = (IMPLEMENTATIONS / "ng_ex4.py").read_text()
    if wrong:  # TwoLayerNet's penalty counted twice; ex4's bias column regularised
        classifiers = classifiers.replace("class TwoLayerNet:", "class _Right:").replace(
            "class TwoLayerNetRegOnce(TwoLayerNet):", "class TwoLayerNet(_Right):")
        ex4 = ex4.replace("lambda_)\n\n\ndef nnCostFunction_octave", "lambda_, mistake=\"regularises_bias\")"
                          "\n\n\ndef nnCostFunction_octave")
    (sub / "classifiers.py").write_text(classifiers)
    (sub / "ex4.py").write_text(ex4)
    (sub / "single_output.py").write_text((IMPLEMENTATIONS / "single_output.py").read_text())
    (sub / "layers.py").write_text(textwrap.dedent(LAYERS))
    path = tmp_path / "grading.toml"
    path.write_text(textwrap.dedent(CONFIG))
    return path, sub


def test_the_call_keys_grade_a_right_submission_to_full_marks(tmp_path, capsys):
    path, sub = _submission(tmp_path)
    report = grade_submission(path, sub, seed=0)
    scores = {p.name: (p.score, p.verdict) for p in report.parts}
    assert report.score == report.max_score == 14, scores
    assert set(scores) == {"TwoLayerNet", "ex4", "ex4 octave", "single output: depth 2",
                           "single output: depth 3", "layers: Linear"}
    ex4 = next(p for p in report.parts if p.name == "ex4")
    assert "--args params,n_in,n_hidden,n_out,X,y,l2" in ex4.reproduce and "--flat-order C" in ex4.reproduce
    assert "first_column/flat(C)" in ex4.output
    octave = next(p for p in report.parts if p.name == "ex4 octave")
    assert "--label-base 1" in octave.reproduce and "--returns loss,grads" in octave.reproduce
    net = next(p for p in report.parts if p.name == "TwoLayerNet")
    assert "--returns loss,grads" in net.reproduce
    assert main(["grade", str(path), "--submission", str(sub), "--out", str(tmp_path / "r.txt")]) == 0


def test_the_call_keys_grade_a_wrong_submission_with_the_mistakes_named(tmp_path):
    path, sub = _submission(tmp_path, wrong=True)
    report = grade_submission(path, sub, seed=0)
    by_name = {p.name: p for p in report.parts}
    assert by_name["TwoLayerNet"].verdict == "fail" and by_name["TwoLayerNet"].reason.startswith("regularization")
    assert by_name["ex4"].verdict == "fail" and by_name["ex4"].reason.startswith("regularization at db")
    assert by_name["ex4 octave"].verdict == "pass" and report.score == 14 - 8


@pytest.mark.parametrize("change, key, words", [
    ('params_attr = "params"', "params_attr", "Class.method"),  # on the ex4 function
    ('returns = "loss"', "returns", "no 'grads'"),
    ('args = "params,X,Q"', "args", "unknown 'Q'"),
    ('label_base = -1', "label_base", ">= 0"),
    ('flat_order = "Z"', "flat_order", "C, F"),
    ('min_depth = 0', "min_depth", ">= 1"),
    ('max_width = 0', "max_width", ">= 1"),
    ('grads = "dW=x"', "grads", "layer checks"),
])
def test_bad_call_keys_are_one_line_config_errors(change, key, words):
    ex4 = 'flat_order = "C"\nargs = "params,n_in,n_hidden,n_out,X,y,l2"'
    kept = [line for line in ex4.split("\n") if not line.startswith(key + " ")]
    text = CONFIG.replace(ex4, "\n".join(kept + [change]), 1)
    with pytest.raises(ConfigError, match=f"ex4.*key '{key}'.*{words}"):
        parse_config(textwrap.dedent(text))
