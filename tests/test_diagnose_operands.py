"""``crosscheck.diagnosis.operands``: a weight gradient with one ingredient wrong, named exactly.

Each planted gradient is built from the reference's own pieces (delta, the cached forward quantities, the
penalty's gradient), as the slip it stands for computes it; the right gradients explain nothing."""

from __future__ import annotations

import numpy as np

from crosscheck.diagnosis.diagnose import diagnose
from crosscheck.diagnosis.mistakes import backprop
from crosscheck.diagnosis.operands import cached_operand, weight_gradient_terms
from crosscheck.draws import draw
from crosscheck.model.case import Case
from crosscheck.model.conventions import Convention
from crosscheck.model.network import Network
from crosscheck.model.penalties import penalty_gradient
from crosscheck.reference.forward import forward

COLUMNS = Convention("columns", "out_in", "vector", "pairs")


def _case(net: Network, m: int = 4, seed: int = 3) -> Case:
    params, X, Y = draw(net, seed, batch_size=m).one(0)
    return Case(net, COLUMNS, params, X, Y)


def _pieces(case: Case):
    net = case.network
    params = tuple((np.asarray(W, float), None if b is None else np.asarray(b, float)) for W, b in case.params)
    X, Y = np.asarray(case.X, float), np.asarray(case.Y, float)
    grads, deltas = backprop(net, params, X, Y)
    Z, A = forward(net, params, X)
    return params, X, grads, deltas, Z, A


PENALISED = Network((5, 6, 3), ("tanh", "identity"), loss="half_sse", l2=0.3, penalty_form="half_over_m")


def test_the_data_part_divided_by_m_again_is_named_scale_with_the_penalty_part_right():
    case = _case(PENALISED)
    params, X, grads, deltas, _Z, A = _pieces(case)
    m = X.shape[1]
    pen = penalty_gradient(PENALISED, params, m)[1][0]
    dW2 = deltas[2] @ A[1].T / m + pen  # the CS231n slip: dscores /= N once more before dW2
    got = (grads[0], (dW2, grads[1][1]))
    found = weight_gradient_terms(case, got, ["dW2"])
    assert found is not None and found[:3] == ("scale", "dW2", 2)
    assert "1/m (= 1/4)" in found[3] and "penalty part is right" in found[3]
    assert diagnose(case, [(W, b) for W, b in got])[0].id == "scale"


def test_a_penalty_part_with_the_wrong_factor_is_named_regularization():
    case = _case(PENALISED)
    params, X, grads, deltas, _Z, A = _pieces(case)
    pen = penalty_gradient(PENALISED, params, X.shape[1])[1][0]
    dW2 = deltas[2] @ A[1].T + 0.5 * pen  # lambda/(2m) W where lambda/m W belongs
    found = weight_gradient_terms(case, (grads[0], (dW2, grads[1][1])), ["dW2"])
    assert found is not None and found[:3] == ("regularization", "dW2", 2) and "1/2 times" in found[3]


def test_the_layers_own_output_in_place_of_its_input_is_named_with_both_shapes_tried():
    net = Network((5, 6, 4, 3), ("sigmoid", "sigmoid", "identity"), loss="half_sse")
    case = _case(net)
    _params, _X, grads, deltas, _Z, A = _pieces(case)
    got = {"dW2": deltas[2] @ A[2].T}  # (4, 4) where (4, 6) belongs: Nielsen's activations[-l]
    found = cached_operand(case, got, ["dW2"], user_layout=True)
    assert found is not None and found[:3] == ("cached_activation", "dW2", 2)
    assert "delta2 A2^T" in found[3] and "the layer's own output" in found[3]
    assert cached_operand(case, {"dW2": got["dW2"].T}, ["dW2"], user_layout=True) is not None


def test_a_derivative_mask_left_in_the_cache_is_named():
    net = Network((5, 6, 3), ("relu", "identity"), loss="half_sse")
    case = _case(net)
    _params, _X, _grads, deltas, Z, _A = _pieces(case)
    mask = (Z[1] > 0).astype(float)  # relu_derivative(A1) written over A1 in place
    found = cached_operand(case, {"dW2": deltas[2] @ mask.T}, ["dW2"], user_layout=False)
    assert found is not None and found[0] == "cached_activation" and "relu'(Z1)" in found[3]


def test_the_right_gradients_are_explained_by_nothing_here():
    case = _case(PENALISED)
    _params, _X, grads, _deltas, _Z, _A = _pieces(case)
    assert weight_gradient_terms(case, grads, ["dW1", "dW2"]) is None
    assert cached_operand(case, {"dW1": grads[0][0], "dW2": grads[1][0]}, ["dW1", "dW2"], user_layout=True) is None
