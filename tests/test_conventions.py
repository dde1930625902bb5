"""Conventions as laws: exact round trips, transposes between layouts, gradients that are the
derivatives with respect to the user's own entries, affine = homogeneous (seed 000 section 3),
Vec(ABC) = (C^T (x) A) Vec(B), and clear errors for arrays that do not fit."""

from __future__ import annotations

import numpy as np
import pytest
from _draw import law_cases, random_params
from hypothesis import given, settings
from hypothesis import strategies as st

from crosscheck.errors import ConventionError
from crosscheck.model.conventions import BIAS, Convention, all_conventions
from crosscheck.model.network import Network
from crosscheck.reference import get_route
from crosscheck.reference.forward import forward, loss_value
from crosscheck.reference.jacobian import unvec, vec

LAWS = settings(max_examples=40, deadline=None, database=None)
FORMULA_ROUTES = ("recursive", "explicit", "kronecker", "jacobian")
SMALL = {"depth": (1, 4), "widths": (1, 7)}


def fitting(network: Network) -> list[Convention]:
    """Every convention whose bias layout fits the network (bias 'none' iff no bias)."""
    return [c for c in all_conventions() if c.has_bias == network.bias]


def assert_canonical_equal(a, b) -> None:
    assert len(a) == len(b)
    for (Wa, ba), (Wb, bb) in zip(a, b):
        assert Wa.dtype == Wb.dtype and np.array_equal(Wa, Wb)
        assert (ba is None) == (bb is None)
        if ba is not None:
            assert ba.dtype == bb.dtype and np.array_equal(ba, bb)


# ---- exact round trips ---------------------------------------------------------------------------

@LAWS
@given(law_cases(**SMALL))
def test_params_and_gradients_round_trip_exactly_in_every_convention(case):
    net = case.network
    grads = get_route("recursive")(net, case.params, case.X, case.Y)
    for conv in fitting(net):
        assert_canonical_equal(conv.params_from_user(conv.params_to_user(case.params, net), net), case.params)
        user_grads = conv.params_to_user(grads, net, gradient=True)
        assert_canonical_equal(conv.params_from_user(user_grads, net, gradient=True), grads)
        if conv.params == "dict":
            assert all(key.startswith("d") for key in user_grads)
            # gradients may come back under the parameters' own names
            renamed = {key[1:]: v for key, v in user_grads.items()}
            assert_canonical_equal(conv.params_from_user(renamed, net, gradient=True), grads)


@LAWS
@given(law_cases(dtype="float32", **SMALL))
def test_round_trips_keep_float32(case):
    for conv in fitting(case.network):
        back = conv.params_from_user(conv.params_to_user(case.params, case.network), case.network)
        assert_canonical_equal(back, case.params)
        assert conv.x_to_user(case.X).dtype == np.float32


@LAWS
@given(law_cases(**SMALL))
def test_rows_and_columns_are_transposes(case):
    X, Y = case.X, case.Y
    for bias in BIAS:
        rows, cols = Convention("rows", bias=bias), Convention("columns", bias=bias)
        np.testing.assert_array_equal(rows.x_to_user(X), cols.x_to_user(X).T)
        if Y is not None:
            np.testing.assert_array_equal(rows.y_to_user(Y), cols.y_to_user(Y).T)
        for conv in (rows, cols):
            np.testing.assert_array_equal(conv.x_from_user(conv.x_to_user(X), case.network), X)
    if case.batch_size == 1:
        single = Convention("single")
        np.testing.assert_array_equal(single.x_to_user(X), Convention("columns").x_to_user(X))
        assert single.x_to_user(X).shape == (case.network.n_in, 1)


@LAWS
@given(law_cases(**SMALL))
def test_out_in_and_in_out_weights_and_gradients_are_transposes(case):
    net = case.network
    grads = get_route("recursive")(net, case.params, case.X, case.Y)
    for bias in [b for b in BIAS if (b != "none") == net.bias]:
        out_in, in_out = Convention(weights="out_in", bias=bias), Convention(weights="in_out", bias=bias)
        for tree, gradient in ((case.params, False), (grads, True)):
            a = out_in.params_to_user(tree, net, gradient=gradient)
            b = in_out.params_to_user(tree, net, gradient=gradient)
            for item_a, item_b in zip(a, b):
                Wa, Wb = (item_a[0], item_b[0]) if isinstance(item_a, tuple) else (item_a, item_b)
                np.testing.assert_array_equal(Wa, Wb.T)
                if isinstance(item_a, tuple):  # a separate bias has one layout for both
                    np.testing.assert_array_equal(item_a[1], item_b[1])


# ---- a user-layout gradient is the derivative with respect to the user's entries ---------------

def _user_entries(conv: Convention, network: Network, user) -> list[tuple]:
    """(getter path, index) of every free entry of the user's parameters (not the fixed rows)."""
    items = list(user.items()) if isinstance(user, dict) else list(enumerate(user))
    out = []
    for key, item in items:
        parts = [(key, None)] if not isinstance(item, tuple) else [(key, 0), (key, 1)]
        for path in parts:
            arr = item if path[1] is None else item[path[1]]
            for idx in np.ndindex(arr.shape):
                layer = (int(str(key).lstrip("dWb")) if isinstance(key, str) else key + 1)
                fixed_row = conv.augmented and layer < network.depth and (
                    (conv.weights == "out_in" and idx[0] == arr.shape[0] - 1)
                    or (conv.weights == "in_out" and idx[1] == arr.shape[1] - 1))
                if not fixed_row:
                    out.append((path, idx))
    return out


def _get(user, path):
    key, slot = path
    return user[key] if slot is None else user[key][slot]


@pytest.mark.parametrize("conv", all_conventions(batch=("columns",)), ids=lambda c: c.describe())
def test_user_gradient_is_the_derivative_with_respect_to_the_user_entries(conv):
    net = Network((3, 4, 2), ("tanh", "sigmoid"), loss="half_sse", reduction="mean", bias=conv.has_bias)
    params, X, Y = random_params(net, 20, 5)
    user = conv.params_to_user(params, net)
    user_grad = conv.params_to_user(get_route("explicit")(net, params, X, Y), net, gradient=True)
    h = 1e-6

    def loss_at(u):
        return float(loss_value(net, conv.params_from_user(u, net), X, Y))

    for path, idx in _user_entries(conv, net, user):
        def shifted(delta, path=path, idx=idx):
            u = conv.params_to_user(params, net)  # fresh copies of every array
            _get(u, path)[idx] += delta
            return u

        fd = (loss_at(shifted(h)) - loss_at(shifted(-h))) / (2 * h)
        key, slot = path
        got = _get(user_grad, ("d" + key if isinstance(key, str) else key, slot))[idx]
        assert abs(fd - got) <= 1e-8, (conv.describe(), path, idx, fd, got)


# ---- affine = homogeneous (seed 000 section 3) ----------------------------------------------------

def homogeneous(network: Network) -> Network:
    """The augmented homogeneous network: one more input (the constant 1) and, in every hidden
    layer, one more "formal" neuron whose activation is the identity."""
    k = network.depth
    acts = []
    for layer, a in enumerate(network.activations, start=1):
        names = (a,) * network.widths[layer] if isinstance(a, str) else tuple(a)
        acts.append(a if layer == k else names + ("identity",))
    widths = tuple(w + 1 for w in network.widths[:-1]) + (network.n_out,)
    return Network(widths, tuple(acts), loss=network.loss, reduction=network.reduction, bias=False,
                   alpha=network.alpha)


@LAWS
@given(law_cases(bias=True, **SMALL))
def test_affine_network_equals_its_homogeneous_network(case):
    net = case.network
    hom = homogeneous(net)
    conv = Convention("columns", "out_in", "augmented", "pairs")
    W_aug = conv.params_to_user(case.params, net)  # [W | b] with fixed last rows [0 ... 0, 1]
    hom_params = tuple((W, None) for W in W_aug)
    X_aug = conv.x_to_user(case.X)  # constant-1 last input
    _, A = forward(hom, hom_params, X_aug)
    for layer in range(0, net.depth):
        np.testing.assert_array_equal(A[layer][-1], 1.0)  # the formal neuron carries exactly 1
    assert loss_value(hom, hom_params, X_aug, case.Y) == pytest.approx(
        loss_value(net, case.params, case.X, case.Y), rel=1e-13, abs=1e-13)
    for route in FORMULA_ROUTES:
        hom_grads = get_route(route)(hom, hom_params, X_aug, case.Y)
        affine = get_route(route)(net, case.params, case.X, case.Y)
        for layer, ((dW_aug, none), (dW, db)) in enumerate(zip(hom_grads, affine), start=1):
            assert none is None
            n_out = net.widths[layer]
            kept = dW_aug[:n_out]  # drop the fixed row of a hidden layer
            expected = np.concatenate([dW, db[:, None]], axis=1)
            assert kept.shape == expected.shape
            err = np.linalg.norm(kept - expected)
            assert err <= 1e-10 * max(np.linalg.norm(expected), 1e-300) + 1e-15, (route, layer, err)


# ---- Vec --------------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None, database=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_vec_of_a_product_is_a_kronecker_product(p, q, r, s, seed):
    rng = np.random.default_rng(seed)
    A, B, C = rng.normal(size=(p, q)), rng.normal(size=(q, r)), rng.normal(size=(r, s))
    np.testing.assert_allclose(vec(A @ B @ C), np.kron(C.T, A) @ vec(B), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(unvec(vec(B), B.shape), B)


def test_vec_stacks_columns():
    M = np.arange(6.0).reshape(2, 3)  # [[0, 1, 2], [3, 4, 5]]
    np.testing.assert_array_equal(vec(M), [0.0, 3.0, 1.0, 4.0, 2.0, 5.0])
    for i, j in np.ndindex(M.shape):
        assert vec(M)[j * 2 + i] == M[i, j]


# ---- clear errors ---------------------------------------------------------------------------------

NET = Network((3, 4, 2), ("tanh", "identity"))
NET_NOBIAS = Network((3, 4, 2), ("tanh", "identity"), bias=False)


def _user(conv, gradient=False):
    net = NET if conv.has_bias else NET_NOBIAS
    params, _, _ = random_params(net, 30, 2)
    return net, conv.params_to_user(params, net, gradient=gradient)


def _replace_weight(conv, user, layer, new, gradient=False):
    prefix = "d" if gradient else ""
    if conv.params == "dict":
        user = dict(user)
        user[f"{prefix}W{layer}"] = new
        return user
    user = list(user)
    item = user[layer - 1]
    user[layer - 1] = (new, item[1]) if isinstance(item, tuple) else new
    return user


@pytest.mark.parametrize("gradient", [False, True])
@pytest.mark.parametrize("conv", all_conventions(batch=("columns",)), ids=lambda c: c.describe())
def test_a_wrong_weight_shape_names_the_parameter_and_the_expected_shape(conv, gradient):
    net, user = _user(conv, gradient)
    expected = conv.user_weight_shape(net, 1)
    wrong = np.zeros((expected[0] + 1, expected[1]))
    with pytest.raises(ConventionError) as info:
        conv.params_from_user(_replace_weight(conv, user, 1, wrong, gradient), net, gradient=gradient)
    name = "dW1" if gradient else "W1"
    assert f"{name} has shape {wrong.shape}" in str(info.value)
    assert str(expected) in str(info.value)


@pytest.mark.parametrize("conv", all_conventions(batch=("columns",)), ids=lambda c: c.describe())
def test_nan_or_infinity_names_the_parameter(conv):
    net, user = _user(conv)
    for bad in (np.nan, np.inf):
        W = conv.user_weight_shape(net, 2)
        broken = np.full(W, bad)
        with pytest.raises(ConventionError, match=r"W2 contains NaN or infinity"):
            conv.params_from_user(_replace_weight(conv, user, 2, broken), net)


@pytest.mark.parametrize("conv", [c for c in all_conventions(batch=("columns",)) if c.params == "dict"],
                         ids=lambda c: c.describe())
def test_a_missing_key_is_named(conv):
    net, user = _user(conv)
    for key in list(user):
        partial = {k: v for k, v in user.items() if k != key}
        with pytest.raises(ConventionError, match=f"missing key '{key}'"):
            conv.params_from_user(partial, net)
    with pytest.raises(ConventionError, match="unexpected keys"):
        conv.params_from_user({**user, "W9": user["W1"]}, net)


@pytest.mark.parametrize("conv", all_conventions(batch=("columns",)), ids=lambda c: c.describe())
def test_a_wrong_container_says_which_container_was_expected(conv):
    net, user = _user(conv)
    other = list(user.values()) if conv.params == "dict" else {f"W{i}": w for i, w in enumerate(user, 1)}
    expected = "a dict" if conv.params == "dict" else "a list"
    with pytest.raises(ConventionError, match=f"expected {expected}"):
        conv.params_from_user(other, net)
    with pytest.raises(ConventionError, match="expected"):
        conv.params_from_user("W1", net)


@pytest.mark.parametrize("bias", ["vector", "column", "row"])
def test_a_wrong_bias_shape_names_the_bias_and_its_expected_shape(bias):
    conv = Convention(bias=bias)
    net, user = _user(conv)
    W, b = user[0]
    wrong = b.reshape(-1, 1) if bias != "column" else b.reshape(-1)
    with pytest.raises(ConventionError) as info:
        conv.params_from_user([(W, wrong), user[1]], net)
    assert "b1 has shape" in str(info.value) and str(conv.user_bias_shape(net, 1)) in str(info.value)


def test_wrong_layer_count_and_broken_pairs_are_explained():
    conv = Convention()
    net, user = _user(conv)
    with pytest.raises(ConventionError, match="expected 2 layers"):
        conv.params_from_user(user[:1], net)
    with pytest.raises(ConventionError, match=r"layer 1: expected a \(W, b\) pair"):
        conv.params_from_user([user[0][0], user[1]], net)
    with pytest.raises(ConventionError, match="X has shape"):
        conv.x_from_user(np.zeros((5, 2)), net)
