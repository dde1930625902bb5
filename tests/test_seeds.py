"""The seeds' worked examples, each written out by hand as the seed writes it and checked
against the numeric oracles and the reference routes. Never trust a seed's algebra untested:
seed 003's sigmoid' has a sign error and seed 000 (3) drops a transpose, both shown here."""

from __future__ import annotations

import numpy as np
import pytest
from _draw import random_params

from crosscheck.model.activations import get_activation
from crosscheck.model.conventions import Convention
from crosscheck.model.network import Network
from crosscheck.reference import get_route, numeric
from crosscheck.reference.forward import forward, loss_value
from crosscheck.reference.jacobian import unvec, vec

FORMULA_ROUTES = ("recursive", "explicit", "kronecker", "jacobian")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def oracle(net, params, X, Y, which="complex_step"):
    return get_route(which)(net, params, X, Y)


def assert_grads_equal(got, want, rtol=1e-10, atol=1e-13):
    assert len(got) == len(want)
    for (gW, gb), (wW, wb) in zip(got, want):
        np.testing.assert_allclose(gW, wW, rtol=rtol, atol=atol)
        assert (gb is None) == (wb is None)
        if gb is not None:
            np.testing.assert_allclose(np.reshape(gb, np.shape(wb)), wb, rtol=rtol, atol=atol)


def all_routes_equal(net, params, X, Y, want, rtol=1e-10, atol=1e-13):
    for route in FORMULA_ROUTES:
        assert_grads_equal(get_route(route)(net, params, X, Y), want, rtol, atol)


# ---- seed 000: Mishachev, "Backpropagation in matrix notation" -----------------------------------

def test_seed000_one_dimensional_chain_formula_1():
    # n = n_1 = ... = n_k = 1: grad_{w_i} f = Delta_i sigma_{i-1}, Delta_i = Delta_{i+1} w_{i+1} sigma'_i
    acts = ("tanh", "sigmoid", "sin", "softplus")
    net = Network((1, 1, 1, 1, 1), acts, loss="output", bias=False)
    w = [0.7, -1.3, 0.9, 1.1]
    params = tuple((np.array([[v]]), None) for v in w)
    x = 0.8
    N, sig = [None], [x]  # N_i and sigma_i(N_i), sigma_0 = x
    for i, v in enumerate(w):
        N.append(v * sig[-1])
        sig.append(float(get_activation(acts[i]).value(np.array([N[-1]]))[0]))
    k = len(w)
    Delta, w_next, grads = 1.0, 1.0, [None] * k  # Delta_{k+1} = w_{k+1} = 1
    for i in range(k, 0, -1):
        Delta = Delta * w_next * float(get_activation(acts[i - 1]).prime(np.array([N[i]]))[0])
        grads[i - 1] = (np.array([[Delta * sig[i - 1]]]), None)
        w_next = w[i - 1]
    X = np.array([[x]])
    assert_grads_equal(oracle(net, params, X, None), grads, rtol=1e-13)
    all_routes_equal(net, params, X, None, grads, rtol=1e-13)


def _seed000_network():
    acts = ("tanh", ("sin", "sigmoid", "identity", "softplus"), "tanh")  # per-neuron Sigma_2
    net = Network((3, 5, 4, 1), acts, loss="output", bias=False)
    params, X, _ = random_params(net, 100, 1)
    return net, params, X


def test_seed000_formula_5_literally_with_dense_diagonals_and_kron():
    net, params, X = _seed000_network()
    Z, A = forward(net, params, X)
    k = net.depth
    S_hat = [None] + [np.diag(net.sigma_prime(i, Z[i])[:, 0]) for i in range(1, k + 1)]
    want = []
    for layer in range(1, k + 1):
        product = S_hat[layer]
        for i in range(layer + 1, k + 1):
            product = product @ params[i - 1][0].T @ S_hat[i]
        want.append((np.kron(A[layer - 1].T, product), None))  # Sigma_{l-1}^T (x) (...)
    assert_grads_equal(oracle(net, params, X, None), want, rtol=1e-12)
    all_routes_equal(net, params, X, None, want, rtol=1e-12)


def _formula_3(net, params, X, *, transpose_second: bool):
    """grad_{W_1} f by seed 000 (3) for depth 3, optionally with the printed (untransposed) W_2."""
    Z, A = forward(net, params, X)
    S1, S2, S3 = (net.sigma_prime(i, Z[i]) for i in (1, 2, 3))
    W2, W3 = params[1][0], params[2][0]
    column = W3.T @ S3  # Sigma'_3 * W_3^T
    column = (W2.T if transpose_second else W2) @ (column * S2)  # ... o Sigma'_2 * W_2^(T?)
    return (column * S1) @ X.T  # o Sigma'_1 . X^T


def test_seed000_formula_3_needs_the_transpose_its_last_line_drops():
    net = Network((3, 3, 3, 1), ("tanh", "sigmoid", "tanh"), loss="output", bias=False)  # square: both type-check
    params, X, _ = random_params(net, 101, 1)
    truth = oracle(net, params, X, None)[0][0]
    np.testing.assert_allclose(_formula_3(net, params, X, transpose_second=True), truth, rtol=1e-12)
    assert not np.allclose(_formula_3(net, params, X, transpose_second=False), truth, rtol=1e-3)


# ---- seed 001: the 2-3-2 sigmoid network with 1/2 sum (y_hat - y)^2 --------------------------------

SEED001 = Convention("columns", "out_in", "vector", "pairs")


def _seed001(m: int):
    net = Network((2, 3, 2), ("sigmoid", "sigmoid"), loss="half_sse", reduction="sum")
    params, X, Y = random_params(net, 1, m)
    return net, params, X, Y


def _seed001_by_hand(params, X, Y):
    (W2, b2), (W3, b3) = params  # the seed's W^(2): 3x2, W^(3): 2x3; a^(1) = x
    a1 = X
    a2 = sigmoid(W2 @ a1 + b2[:, None])
    a3 = sigmoid(W3 @ a2 + b3[:, None])
    delta3 = (a3 - Y) * a3 * (1 - a3)  # dL/da3 o g'(z3)
    delta2 = (W3.T @ delta3) * a2 * (1 - a2)  # (W^(3)T delta3) o g'(z2): the transpose the asker missed
    return ((delta2 @ a1.T, delta2.sum(1)), (delta3 @ a2.T, delta3.sum(1)))


@pytest.mark.parametrize("m", [1, 4])
def test_seed001_network_against_the_oracles_and_the_routes(m):
    net, params, X, Y = _seed001(m)
    hand = _seed001_by_hand(params, X, Y)
    assert_grads_equal(oracle(net, params, X, Y), hand, rtol=1e-12)
    assert_grads_equal(oracle(net, params, X, Y, "finite_difference"), hand, rtol=1e-6, atol=1e-9)
    all_routes_equal(net, params, X, Y, hand, rtol=1e-12)
    # in the seed's own layout (columns, out_in, vector bias): the gradients have W's shapes
    user = SEED001.params_to_user(get_route("recursive")(net, params, X, Y), net, gradient=True)
    assert [(dW.shape, db.shape) for dW, db in user] == [((3, 2), (3,)), ((2, 3), (2,))]


def test_seed001_the_askers_product_does_not_conform():
    # "I get 2x1 2x3 3x1 1x2": (a3 - y) o a3 o (1 - a3) is 2x1, W^(3) is 2x3
    net, params, X, Y = _seed001(1)
    W3 = params[1][0]
    delta3 = np.ones((2, 1))
    with pytest.raises(ValueError):
        delta3 @ W3
    assert (W3.T @ delta3).shape == (3, 1)  # denominator layout appends on the left, transposed


# ---- seed 002: Wen Sun, relu'(0) = 1, no biases, read-out y_hat = alpha^T z^T -------------------------

def _seed002_by_hand(Ws, alpha, x):
    """The seed's backward procedure for one sample x: (K,), relu with sigma'(a) = 1 for a >= 0."""
    z, u = [x], [None]
    for W in Ws:
        u.append(W @ z[-1])
        z.append(np.maximum(u[-1], 0.0))
    dz = alpha.copy()  # d y_hat / d z^T = alpha
    grads = [None] * len(Ws)
    for t in range(len(Ws), 0, -1):
        du = dz * (u[t] >= 0).astype(float)  # sigma'(a) = 1 for a >= 0
        grads[t - 1] = np.outer(du, z[t - 1])
        dz = Ws[t - 1].T @ du
    return grads


def _seed002(zero_rows: bool):
    K, T = 4, 3
    alpha = np.array([0.9, -1.1, 0.4, 0.7])
    rng = np.random.default_rng(2)
    Ws = [rng.normal(0, 1 / np.sqrt(K), (K, K)) for _ in range(T)]
    if zero_rows:  # u_i^t exactly 0: the kink, where the seed's convention decides
        Ws[0][1] = 0.0
        Ws[1][3] = 0.0
    X = rng.normal(size=(K, 3))
    return K, T, alpha, Ws, X


@pytest.mark.parametrize("zero_rows", [False, True])
def test_seed002_relu1_readout_against_the_seeds_recursion(zero_rows):
    K, T, alpha, Ws, X = _seed002(zero_rows)
    net = Network((K,) * (T + 1), "relu:1", loss="readout", reduction="sum", bias=False, alpha=tuple(alpha))
    params = tuple((W, None) for W in Ws)
    per_sample = [_seed002_by_hand(Ws, alpha, X[:, j]) for j in range(X.shape[1])]
    hand = [(sum(g[t] for g in per_sample), None) for t in range(T)]  # a batch sums the samples
    all_routes_equal(net, params, X, None, hand, rtol=1e-12)
    if not zero_rows:
        assert_grads_equal(oracle(net, params, X, None), hand, rtol=1e-12)


def test_seed002_convention_differs_from_torch_only_at_the_kink():
    K, T, alpha, Ws, X = _seed002(zero_rows=True)
    params = tuple((W, None) for W in Ws)
    seed = Network((K,) * (T + 1), "relu:1", loss="readout", bias=False, alpha=tuple(alpha))
    torch_like = Network((K,) * (T + 1), "relu", loss="readout", bias=False, alpha=tuple(alpha))
    a = get_route("recursive")(seed, params, X, None)
    b = get_route("recursive")(torch_like, params, X, None)
    assert not np.allclose(a[0][0][1], b[0][0][1])  # the neuron on the kink
    np.testing.assert_array_equal(b[0][0][1], 0.0)  # relu'(0) = 0 kills its row
    with pytest.raises(numeric.OracleNotApplicable):
        numeric.complex_step(seed, params, X, None)  # no oracle can settle a convention


# ---- seed 003: phunc20, rows layout, tanh / sigmoid / BCE averaged over m ------------------------------

SEED003 = Convention("rows", "in_out", "row", "dict")


def _seed003():
    net = Network((3, 4, 1), ("tanh", "sigmoid"), loss="bce", reduction="mean")
    params, X, Y = random_params(net, 3, 5)
    user = SEED003.params_to_user(params, net)  # W1: (n, n1), b1: (1, n1), ...
    return net, params, X, Y, user, SEED003.x_to_user(X), SEED003.y_to_user(Y)


def _seed003_dW1(user, Xr, y, sigmoid_prime):
    """The seed's chain, section 3, with its own choice of sigmoid' (f(f-1) as printed)."""
    m = Xr.shape[0]
    Z1 = Xr @ user["W1"] + user["b1"]  # (m, n1), b1 broadcast from (1, n1)
    A1 = np.tanh(Z1)
    Z2 = A1 @ user["W2"] + user["b2"]
    A2 = sigmoid(Z2)
    # dL/dZ2 = dL/dA2 o f'(Z2), dL/dA2 = -(1/m)(y / A2 - (1 - y) / (1 - A2))
    dZ2 = -(1 / m) * (y / A2 - (1 - y) / (1 - A2)) * sigmoid_prime(A2)
    return Xr.T @ ((1 - A1**2) * (dZ2 @ user["W2"].T))


def test_seed003_sigmoid_prime_sign_error():
    z = np.linspace(-4, 4, 17)
    f = sigmoid(z)
    truth = np.imag(sigmoid(z + 1e-30j)) / 1e-30
    np.testing.assert_allclose(f * (1 - f), truth, rtol=1e-13)
    assert np.all(f * (f - 1) < 0) and np.allclose(f * (f - 1), -truth)  # the seed's f(f - 1)


def test_seed003_printed_gradient_has_the_wrong_sign_and_the_corrected_one_is_right():
    net, params, X, Y, user, Xr, y = _seed003()
    truth = SEED003.params_to_user(oracle(net, params, X, Y), net, gradient=True)
    fd = SEED003.params_to_user(oracle(net, params, X, Y, "finite_difference"), net, gradient=True)
    np.testing.assert_allclose(fd["dW1"], truth["dW1"], rtol=1e-6, atol=1e-9)
    printed = _seed003_dW1(user, Xr, y, lambda f: f * (f - 1))
    # the seed's boxed result (1/m) X^T (g1'(Z1) o ((y - A2) W2^T)) is that same chain
    A1 = np.tanh(Xr @ user["W1"] + user["b1"])
    A2 = sigmoid(A1 @ user["W2"] + user["b2"])
    boxed = (1 / Xr.shape[0]) * Xr.T @ ((1 - A1**2) * ((y - A2) @ user["W2"].T))
    np.testing.assert_allclose(printed, boxed, rtol=1e-12)
    assert not np.allclose(boxed, truth["dW1"], rtol=1e-3)
    np.testing.assert_allclose(boxed, -truth["dW1"], rtol=1e-12)  # exactly the sign
    corrected = _seed003_dW1(user, Xr, y, lambda f: f * (1 - f))
    np.testing.assert_allclose(corrected, truth["dW1"], rtol=1e-12)


def test_seed003_routes_in_the_rows_layout_match_the_oracles():
    net, params, X, Y, user, Xr, y = _seed003()
    truth = SEED003.params_to_user(oracle(net, params, X, Y), net, gradient=True)
    assert {k: v.shape for k, v in truth.items()} == {"dW1": (3, 4), "db1": (1, 4), "dW2": (4, 1), "db2": (1, 1)}
    for route in FORMULA_ROUTES:
        got = SEED003.params_to_user(get_route(route)(net, params, X, Y), net, gradient=True)
        for key in truth:
            np.testing.assert_allclose(got[key], truth[key], rtol=1e-11, atol=1e-14)
    assert loss_value(net, params, X, Y) == pytest.approx(
        -np.mean(y * np.log(sigmoid(np.tanh(Xr @ user["W1"] + user["b1"]) @ user["W2"] + user["b2"]))
                 + (1 - y) * np.log(1 - sigmoid(np.tanh(Xr @ user["W1"] + user["b1"]) @ user["W2"] + user["b2"]))),
        rel=1e-13)


def test_seed003_matrix_inner_product_identities():
    rng = np.random.default_rng(4)
    A, B, C = rng.normal(size=(3, 5)), rng.normal(size=(3, 2)), rng.normal(size=(2, 5))
    dot = lambda P, Q: float(np.sum(P * Q))  # noqa: E731
    assert dot(A, B @ C) == pytest.approx(dot(A @ C.T, B), rel=1e-13)
    assert dot(A, B @ C) == pytest.approx(dot(B.T @ A, C), rel=1e-13)
    B2, C2 = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    assert dot(A, B2 * C2) == pytest.approx(dot(B2 * A, C2), rel=1e-13)


# ---- seed 004: the Jacobian of a layer with respect to [Vec(W); b] ----------------------------------------

def test_seed004_layer_jacobian_literally_against_the_complex_step():
    rng = np.random.default_rng(5)
    m, n = 3, 4
    W, b, x = rng.normal(size=(m, n)), rng.normal(size=m), rng.normal(size=n)
    theta = np.concatenate([vec(W), b])

    def G(t):
        return np.tanh(unvec(t[: m * n], (m, n)) @ x + t[m * n:])

    sp = 1 - np.tanh(W @ x + b) ** 2
    literal = np.diag(sp) @ np.kron(np.append(x, 1.0)[None, :], np.eye(m))  # m x (mn + m)
    assert literal.shape == (m, m * n + m)
    h = 1e-30
    numeric_J = np.stack([np.imag(G(theta + 1j * h * e)) / h for e in np.eye(theta.size)], axis=1)
    np.testing.assert_allclose(literal, numeric_J, rtol=1e-13, atol=1e-15)


def test_seed004_gradient_read_back_in_column_stacking_order_matches_the_jacobian_route():
    rng = np.random.default_rng(6)
    m, n = 3, 4
    net = Network((n, m), ("tanh",), loss="half_sse")
    W, b, x, y = rng.normal(size=(m, n)), rng.normal(size=m), rng.normal(size=n), rng.normal(size=m)
    G = np.tanh(W @ x + b)
    grad_L = G - y
    sp = 1 - G**2
    grad_theta = np.kron(np.append(x, 1.0)[:, None], np.eye(m)) @ (np.diag(sp) @ grad_L)  # seed's last line
    want = ((unvec(grad_theta[: m * n], (m, n)), grad_theta[m * n:]),)
    got = get_route("jacobian")(net, ((W, b),), x[:, None], y[:, None])
    assert_grads_equal(got, want, rtol=1e-13)
    assert_grads_equal(oracle(net, ((W, b),), x[:, None], y[:, None]), want, rtol=1e-12)
