"""The loss table: each gradient is the derivative of its value; reductions and constraints."""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck.model.losses import LOSSES, get_loss
from crosscheck.model.network import Network
from crosscheck.reference.forward import loss_value, output_gradient

ALPHA = np.array([1.0, -0.5, 1 / 3])


def sample(name: str, seed: int = 0, m: int = 4, lead: tuple = ()):
    """Canonical (A: (..., n_k, m), Y) in each loss's domain."""
    rng = np.random.default_rng(seed)
    n = 1 if name == "output" else 3
    A = rng.normal(size=lead + (n, m))
    if name == "bce":
        A = rng.uniform(0.05, 0.95, size=lead + (n, m))
        Y = rng.uniform(size=lead + (n, m))
    elif name == "softmax_ce":
        Y = rng.dirichlet(np.ones(n), size=lead + (m,))
        Y = np.swapaxes(Y, -1, -2)
    elif LOSSES[name].needs_target:
        Y = rng.normal(size=lead + (n, m))
    else:
        Y = None
    return A, Y


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradient_matches_a_central_difference_of_the_value(name):
    loss = get_loss(name)
    A, Y = sample(name)
    alpha = ALPHA[: A.shape[0]]
    grad = loss.grad(A, Y, alpha)
    assert grad.shape == A.shape
    h = 1e-6
    for idx in np.ndindex(A.shape):
        plus, minus = A.copy(), A.copy()
        plus[idx] += h
        minus[idx] -= h
        # per-sample loss: only the sample (column) of the entry moves
        fd = (loss.value(plus, Y, alpha) - loss.value(minus, Y, alpha)) / (2 * h)
        assert fd[idx[1]] == pytest.approx(grad[idx], rel=1e-7, abs=1e-8), (name, idx)
        others = np.delete(fd, idx[1])
        assert np.all(others == 0.0)


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradient_matches_the_complex_step_of_the_value(name):
    loss = get_loss(name)
    A, Y = sample(name, seed=1)
    alpha = ALPHA[: A.shape[0]]
    grad = loss.grad(A, Y, alpha)
    h = 1e-30
    for idx in np.ndindex(A.shape):
        Ac = A.astype(complex)
        Ac[idx] += 1j * h
        cs = np.imag(loss.value(Ac, Y, alpha))[idx[1]] / h
        assert cs == pytest.approx(grad[idx], rel=1e-13, abs=1e-15), (name, idx)


@pytest.mark.parametrize("name", list(LOSSES))
def test_leading_draw_axes_broadcast(name):
    loss = get_loss(name)
    A, Y = sample(name, seed=2, lead=(5,))
    alpha = ALPHA[: A.shape[-2]]
    values, grads = loss.value(A, Y, alpha), loss.grad(A, Y, alpha)
    assert values.shape == (5, A.shape[-1]) and grads.shape == A.shape
    for d in range(5):
        Yd = None if Y is None else Y[d]
        np.testing.assert_allclose(values[d], loss.value(A[d], Yd, alpha), rtol=1e-15)
        np.testing.assert_allclose(grads[d], loss.grad(A[d], Yd, alpha), rtol=1e-15)


def test_bce_through_a_sigmoid_is_a_minus_y():
    # seed 003's simplification dL/dZ = A - Y (per sample), with the correct sigmoid' = A (1 - A)
    A, Y = sample("bce", seed=3)
    np.testing.assert_allclose(get_loss("bce").grad(A, Y, None) * A * (1 - A), A - Y, rtol=1e-13, atol=1e-15)


def test_softmax_cross_entropy_gradient_columns_sum_to_zero_for_distributions():
    A, Y = sample("softmax_ce", seed=4)
    np.testing.assert_allclose(get_loss("softmax_ce").grad(A, Y, None).sum(axis=0), 0.0, atol=1e-15)


def test_readout_is_alpha_transpose_z():
    A, _ = sample("readout", seed=5)
    loss = get_loss("readout")
    np.testing.assert_allclose(loss.value(A, None, ALPHA), ALPHA @ A)
    np.testing.assert_array_equal(loss.grad(A, None, ALPHA), np.repeat(ALPHA[:, None], A.shape[1], axis=1))


@pytest.mark.parametrize("name", list(LOSSES))
def test_mean_is_the_sum_divided_by_the_batch_size(name):
    k = 1 if name == "output" else 3
    last = "sigmoid" if name == "bce" else "tanh"
    nets = {red: Network((2, k), (last,), loss=name, reduction=red) for red in ("sum", "mean")}
    rng = np.random.default_rng(6)
    params = ((rng.normal(size=(k, 2)), rng.normal(size=k)),)
    X = rng.normal(size=(2, 5))
    _, Y = sample(name, seed=6, m=5)
    L = {red: loss_value(net, params, X, Y) for red, net in nets.items()}
    assert L["mean"] == pytest.approx(L["sum"] / 5, rel=1e-15)
    A = rng.uniform(0.1, 0.9, size=(k, 5))
    np.testing.assert_allclose(output_gradient(nets["mean"], A, Y), output_gradient(nets["sum"], A, Y) / 5,
                               rtol=1e-15)


def test_losses_state_what_they_need():
    with pytest.raises(ValueError, match="needs output width 1"):
        Network((2, 2), ("identity",), loss="output")
    with pytest.raises(ValueError, match="needs output activation 'sigmoid'"):
        Network((2, 1), ("tanh",), loss="bce")
    with pytest.raises(ValueError, match="needs output width >= 2"):
        Network((2, 1), ("identity",), loss="softmax_ce")
    with pytest.raises(ValueError, match="unknown loss 'mse'"):
        get_loss("mse")
    assert not get_loss("output").needs_target and not get_loss("readout").needs_target
