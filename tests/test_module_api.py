"""``--api module`` (issue 20): layers written as classes, forward(x) / backward(dout) with the
gradients kept in attributes. nnfs's Layer_Dense and activations, a Module/Sequential mini-framework
(examples/objects/), each class checked alone and the Sequential stack as one; wrong classes named;
other attribute names with ``--grads``. The example classes are verified against torch.autograd first."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from crosscheck.cli import main
from crosscheck.layers import check_layers

NNFS, MINI, WRONG = "examples/objects/nnfs_layers.py", "examples/objects/minitorch.py", \
    "tests/implementations/object_layers.py"
torch = pytest.importorskip("torch")


def test_the_example_frameworks_agree_with_torch():
    sys.path.insert(0, "examples/objects")
    import minitorch
    import nnfs_layers

    rng = np.random.default_rng(0)
    x, dout = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    dense, act = nnfs_layers.Layer_Dense(3, 4), nnfs_layers.Activation_ReLU()
    dense2 = nnfs_layers.Layer_Dense(4, 2)
    dense.forward(x)
    act.forward(dense.output)
    dense2.forward(act.output)
    dense2.backward(dout)
    act.backward(dense2.dinputs)
    dense.backward(act.dinputs)
    seq = minitorch.Sequential(minitorch.Linear(3, 4), minitorch.ReLU(), minitorch.Linear(4, 2))
    seq.layers[0].W, seq.layers[0].b = dense.weights.copy(), dense.biases.ravel().copy()
    seq.layers[2].W, seq.layers[2].b = dense2.weights.copy(), dense2.biases.ravel().copy()
    seq.forward(x)
    dx = seq.backward(dout)
    t = [torch.tensor(a, requires_grad=True) for a in (x, dense.weights, dense.biases, dense2.weights, dense2.biases)]
    out = torch.relu(t[0] @ t[1] + t[2]) @ t[3] + t[4]
    out.backward(torch.tensor(dout))
    for got, want in ((dense.dinputs, t[0]), (dense.dweights, t[1]), (dense.dbiases, t[2]), (dense2.dweights, t[3]),
                      (dx, t[0]), (seq.layers[0].dW, t[1]), (seq.layers[2].db, t[4].grad.reshape(-1))):
        want = want.grad if isinstance(want, torch.Tensor) and want.grad is not None else want
        np.testing.assert_allclose(got, np.asarray(want).reshape(np.shape(got)), rtol=1e-12)


@pytest.mark.parametrize("path, classes", [
    (NNFS, ["Layer_Dense", "Activation_ReLU", "Activation_Sigmoid"]),
    (MINI, ["Linear", "ReLU", "Tanh", "Sequential"]),
])
def test_correct_layer_classes_pass(path, classes):
    report = check_layers(path, api="module", examples=8)
    assert [v.name for v in report.layers] == classes  # only the classes the file defines
    assert report.exit_code == 0, report.summary()


def test_wrong_layer_classes_are_named():
    report = check_layers(WRONG, api="module", layers="Layer_Dense,Activation_ReLU,Activation_Sigmoid", examples=10)
    first = {v.name: v.diagnosis[0]["id"] for v in report.layers}
    assert first == {"Layer_Dense": "db_not_summed", "Activation_ReLU": "relu_mask_missing",
                     "Activation_Sigmoid": "derivative_at_input"}, report.summary()


def test_other_gradient_names_and_torch_layout_with_grads(capsys):
    report = check_layers(WRONG, api="module", layers="Linear", grads="dW=wgrad,db=bgrad", examples=10)
    assert report.exit_code == 0, report.summary()
    assert "--grads dW=wgrad,db=bgrad" in report.layers[0].reproduce
    unnamed = check_layers(WRONG, api="module", layers="Linear", examples=5)  # wgrad is not a name it knows
    assert unnamed.exit_code == 1 and unnamed.layers[0].diagnosis[0]["id"] == "not_implemented"
    assert main(["check", WRONG, "--api", "module", "--grads", "dW=1x"]) == 2
    assert main(["check", WRONG, "--api", "module", "--layers", "Conv2d"]) == 2


def test_a_sequential_whose_linear_keeps_a_transposed_gradient_is_named(tmp_path):
    bad = tmp_path / "mini_bad.py"
    bad.write_text(Path(MINI).read_text() + textwrap.dedent("""

        class Linear(Linear):
            def backward(self, dout):
                dx = super().backward(dout)
                self.dW = dout.T @ self.x  # (out, in): the weights' shape transposed
                return dx
        """))
    report = check_layers(str(bad), api="module", layers="Linear,Sequential", examples=10)
    assert report.layer("Linear").diagnosis[0]["id"] == "transposed_dw"
    assert report.layer("Sequential").verdict == "fail"
