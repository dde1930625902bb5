"""``file.py:Class.method`` targets (issue 20): a course's network class is built per call with
constructor arguments read off the generated parameters, the parameters written into ``self.params``,
and the gradients picked from ``--returns loss,grads``. The classes (tests/implementations/classifiers.py)
are first verified against torch.autograd in float64."""

from __future__ import annotations

import shlex

import numpy as np
import pytest
from implementations import classifiers as cl

from crosscheck.check.job import check_implementation
from crosscheck.cli import main
from crosscheck.errors import GradientMismatch, ImplementationError

torch = pytest.importorskip("torch")
FILE = "tests/implementations/classifiers.py"


def _torch_truth(params: dict, X: np.ndarray, y: np.ndarray, reg: float, scale: float) -> dict:
    """softmax cross-entropy of a relu stack, averaged, plus scale * reg * sum(W^2), by autograd."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    out = torch.tensor(X)
    L = len(params) // 2
    for i in range(1, L + 1):
        out = out @ t[f"W{i}"] + t[f"b{i}"]
        out = torch.relu(out) if i < L else out
    loss = torch.nn.functional.cross_entropy(out, torch.tensor(y))
    loss = loss + scale * reg * sum((t[f"W{i}"] ** 2).sum() for i in range(1, L + 1))
    loss.backward()
    return {k: v.grad.numpy() for k, v in t.items()}


def _params(widths, seed=0):
    rng = np.random.default_rng(seed)
    return {k: v for i in range(1, len(widths)) for k, v in
            ((f"W{i}", rng.normal(size=(widths[i - 1], widths[i]))), (f"b{i}", rng.normal(size=widths[i])))}


@pytest.mark.parametrize("make, reg, scale", [
    (lambda: cl.TwoLayerNet(4, 5, 3), 0.3, 1.0),
    (lambda: cl.FcTwoLayerNet(4, 5, 3, reg=0.3), 0.3, 0.5),
    (lambda: cl.FullyConnectedNet([5, 6], input_dim=4, num_classes=3, reg=0.3), 0.3, 0.5),
])
def test_the_classes_agree_with_torch(make, reg, scale):
    net = make()
    widths = [4, 5, 3] if len(net.params) == 4 else [4, 5, 6, 3]
    net.params.update(_params(widths))
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(7, 4)), rng.integers(0, 3, size=7)
    _, grads = net.loss(X, y, reg=reg) if isinstance(net, cl.TwoLayerNet) else net.loss(X, y)
    truth = _torch_truth(net.params, X, y, reg, scale)
    for k, v in truth.items():
        np.testing.assert_allclose(grads[k], v, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("target, options", [
    ("TwoLayerNet.loss", {"preset": "cs231n", "penalty_form": "full", "l2": 0.3}),
    ("FcTwoLayerNet.loss", {"preset": "cs231n", "l2": 0.2}),
    ("FullyConnectedNet.loss", {"preset": "cs231n-fc", "min_depth": 2, "l2": 0.1}),
])
def test_a_class_method_target_passes(target, options):
    report = check_implementation(f"{FILE}:{target}", returns="loss,grads", examples=15, **options)
    assert report.verdict == "pass" and report.examples == 15
    assert report.target == f"{FILE}:{target}"
    assert "--returns loss,grads" in report.reproduce


@pytest.mark.parametrize("target, options, mistake", [
    ("TwoLayerNetRegOnce.loss", {"preset": "cs231n", "penalty_form": "full", "l2": 0.3}, "regularization"),
    ("FullyConnectedNetNoRelu.loss", {"preset": "cs231n-fc", "min_depth": 2}, "missing_activation_derivative"),
])
def test_a_wrong_class_method_is_named(target, options, mistake):
    with pytest.raises(GradientMismatch) as info:
        check_implementation(f"{FILE}:{target}", returns="loss,grads", examples=15, **options)
    assert info.value.report.diagnosis[0].id == mistake
    argv = shlex.split(info.value.report.reproduce)
    assert argv[2] == f"{FILE}:{target}" and "--returns" in argv


def test_an_undeclared_tuple_return_and_a_missing_constructor_value_are_clear(tmp_path, capsys):
    with pytest.raises(ImplementationError, match="expected a dict of gradients"):
        check_implementation(f"{FILE}:TwoLayerNet.loss", preset="cs231n", examples=3)
    odd = tmp_path / "odd.py"
    odd.write_text("class Net:\n    def __init__(self, widths_please):\n        self.params = {}\n"
                   "    def loss(self, X, y):\n        return 0.0, {}\n")
    assert main(["check", f"{odd}:Net.loss", "--preset", "cs231n", "--returns", "loss,grads", "--examples",
                 "2"]) == 3
    assert "no value for its parameter 'widths_please'" in capsys.readouterr().out
    # --params-attr is for a Class.method (--returns now also reads a function's return: tests/test_flat_params.py)
    assert main(["check", "implementations.correct:torch_style", "--params-attr", "params"]) == 2


def test_an_input_gradient_entry_is_checked():
    """dX (the gradient with respect to the input) is dA0 by another name: checked when returned."""
    target = "implementations.classifiers:"
    report = check_implementation(target + "two_layer_with_dx", preset="cs231n", examples=10)
    assert any("dX" in n for n in report.notes), report.notes
    with pytest.raises(GradientMismatch) as info:
        check_implementation(target + "two_layer_with_dx_unmasked", preset="cs231n", examples=10)
    first = info.value.report.diagnosis[0]
    assert first.id == "activation_gradient" and first.parameter == "dX"
    # torch's word for it: the gradient of the mean loss with respect to X
    rng = np.random.default_rng(2)
    params, X, y = _params([4, 5, 3]), rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    Xt = torch.tensor(X, requires_grad=True)
    t = {k: torch.tensor(v) for k, v in params.items()}
    torch.nn.functional.cross_entropy(torch.relu(Xt @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"],
                                      torch.tensor(y)).backward()
    np.testing.assert_allclose(cl.two_layer_with_dx(params, X, y)["dX"], Xt.grad.numpy(), rtol=1e-10)
