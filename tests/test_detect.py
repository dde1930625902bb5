"""Detection (``crosscheck.check.detect``) of what no declaration names: an undeclared penalty (strength,
form, bias), the Y-free losses, and what it must not claim: a penalty on one layer only, the output loss
from probs/N's coincidence on one output unit, a declared convention the code does not follow.

Each function here is written the way the code it stands for is written (numpy, columns layout, W: (n_out,
n_in), b: (n_out,)); their gradients are compared in the tests with crosscheck's own reference, which
tests/fresh/verify.py checks against torch.autograd.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from fresh import CORRECT  # noqa: E402
from fresh.verify import load  # noqa: E402

from crosscheck.check.detect import detect  # noqa: E402
from crosscheck.check.job import run_check  # noqa: E402
from crosscheck.model.presets import resolve_options  # noqa: E402


def _forward(params, X):
    """tanh hidden layers, identity output; columns: X (n_0, m), W (n_out, n_in), b (n_out,)."""
    A, Z = [X], []
    for i, (W, b) in enumerate(params):
        z = W @ A[-1] + b[:, None]
        Z.append(z)
        A.append(z if i == len(params) - 1 else np.tanh(z))
    return A, Z


def _backward(params, A, dA_out):
    grads = [None] * len(params)
    delta = dA_out
    for i in range(len(params) - 1, -1, -1):
        grads[i] = (delta @ A[i].T, delta.sum(axis=1))
        if i > 0:
            delta = (params[i][0].T @ delta) * (1 - A[i] ** 2)
    return grads


def half_sse_mean(params, X, Y, lambd=0.0, layers=None):
    A, _ = _forward(params, X)
    grads = _backward(params, A, (A[-1] - Y) / X.shape[1])
    for i, (W, _b) in enumerate(params):
        if layers is None or i in layers:
            grads[i] = (grads[i][0] + lambd * W, grads[i][1])
    return grads


def l2_over_m_with_bias(params, X, Y):
    """lambda/(2m) (sum W^2 + sum b^2), lambda = 0.3: the bias penalised too."""
    m = X.shape[1]
    grads = half_sse_mean(params, X, Y)
    return [(dW + 0.3 / m * W, db + 0.3 / m * b) for (dW, db), (W, b) in zip(grads, params)]


def l2_on_the_last_layer_only(params, X, Y):
    """A penalty added to one layer's dW: no declarable penalty does that."""
    return half_sse_mean(params, X, Y, lambd=0.1, layers={len(params) - 1})


def softmax_probs_over_n(params, X, Y):
    """A softmax student who forgot to subtract the one-hot: dscores = probs / N, no Y at all. On one output
    unit probs is 1 and probs / N is exactly the gradient of the output loss averaged over the batch."""
    A, _ = _forward(params, X)
    e = np.exp(A[-1] - A[-1].max(axis=0, keepdims=True))
    return _backward(params, A, e / e.sum(axis=0, keepdims=True) / X.shape[1])


def output_of_the_first_unit(params, X, Y):
    """The network function f = A_k[0] (Mishachev's output loss), summed over samples; Y unused."""
    A, _ = _forward(params, X)
    dA = np.zeros_like(A[-1])
    dA[0] = 1.0
    return _backward(params, A, dA)


def test_an_undeclared_penalty_on_weights_and_biases_is_fitted_with_its_form():
    found = detect(l2_over_m_with_bias)
    assert found is not None and found.exact, found
    assert found.network["penalty_form"] == "half_over_m" and found.network["penalty_bias"] is True
    assert found.network["l2"] == pytest.approx(0.3, rel=1e-9) and "l1" not in found.network
    assert "--l2 0.3 --penalty-form half_over_m --penalty-bias" in found.flags()
    # over_m with half the strength gives the same gradients: said, and true (the penalty adds 0.3/m W)
    assert found.penalty_note() == " (the same gradients as --l2 0.15 --penalty-form over_m)"
    from crosscheck.diagnosis.mistakes import backprop
    from crosscheck.draws import draw
    from crosscheck.model.network import Network

    net = Network((4, 5, 3), ("tanh", "identity"), loss="half_sse", reduction="mean", l2=0.15,
                  penalty_form="over_m", penalty_bias=True)
    params, X, Y = draw(net, 3, batch_size=6).one(0)
    got = l2_over_m_with_bias([(W, b) for W, b in params], X, Y)
    for (dW, db), (eW, eb) in zip(got, backprop(net, params, X, Y)[0]):
        assert np.allclose(dW, eW, rtol=1e-12, atol=1e-14) and np.allclose(db, eb, rtol=1e-12, atol=1e-14)


def test_a_penalty_on_one_layer_only_is_not_fitted():
    found = detect(l2_on_the_last_layer_only)
    assert found is not None and not found.exact
    assert "l2" not in found.network


def test_a_declared_penalty_is_kept_and_not_refitted():
    fn = lambda p, X, Y: half_sse_mean(p, X, Y, lambd=0.1)  # noqa: E731
    right = detect(fn, fixed={"l2": 0.1, "penalty_form": "half"})
    assert right is not None and right.exact and right.network["l2"] == 0.1
    wrong = detect(fn, fixed={"l2": 0.2, "penalty_form": "half"})  # declared twice the code's strength
    assert wrong is not None and not wrong.exact


def test_a_declared_strength_with_its_form_left_open_finds_the_form():
    """deeplearning.ai's lambd/(2m) sum W^2 declared as --l2 0.3 only: the form and the bias are found."""
    found = detect(l2_over_m_with_bias, fixed={"l2": 0.3})
    assert found is not None and found.exact, found
    assert (found.network["penalty_form"], found.network["penalty_bias"]) == ("half_over_m", True)
    assert detect(l2_over_m_with_bias, fixed={"l2": 0.3, "penalty_form": "half"}).exact is False  # declared: kept


def test_probs_over_n_is_not_taken_for_the_output_loss():
    """Y-free like the output loss, and on one output unit the output loss's gradient exactly: on three
    outputs it is neither the sum of the outputs' gradient nor the first's, so nothing is claimed."""
    found = detect(softmax_probs_over_n)
    assert found is not None and not found.exact
    assert found.network.get("loss") not in ("output", "readout")


def test_the_output_loss_is_found_from_code_that_reads_the_first_output():
    found = detect(output_of_the_first_unit)
    assert found is not None and found.exact, found
    assert (found.network["loss"], found.network["reduction"], found.network["hidden"]) == ("output", "sum", "tanh")
    assert found.convention.describe() == "columns/out_in/vector/pairs"


def test_the_check_under_a_declared_reduction_still_fails_code_that_sums(monkeypatch):
    """With no flags a sum-reduction code is checked as --reduction sum (what it computes); with --detect
    and --reduction mean declared, the mismatch is reported."""
    monkeypatch.chdir(TESTS)
    target = CORRECT["cols_tanh_base"].target
    assert CORRECT["cols_tanh_base"].options["reduction"] == "sum"
    auto = run_check(target, resolve_options(), examples=8, seed=0, detect="auto")
    assert auto.verdict == "pass" and "--reduction sum" in auto.detected, auto.summary()
    declared = run_check(target, resolve_options(reduction="mean"), examples=8, seed=0, detect=True)
    assert declared.verdict == "fail", declared.summary()
    assert "--reduction sum" not in (declared.detected or ""), declared.detected
    assert load(target) is not None
