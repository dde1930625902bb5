"""Column-layout NumPy (``X: (n_0, m)``, ``W: (n_out, n_in)``, ``b: (n_out,)`` broadcast as
``b[:, None]``, a list of (W, b) pairs), identity output, 1/2 squared error summed over the batch,
various hidden activations. Each function has one mistake; its docstring says what and the diagnosis."""

import numpy as np


def _forward(params, X, act):
    As, Zs = [X], []
    for i, (W, b) in enumerate(params):
        Z = W @ As[-1] + b[:, None]
        Zs.append(Z)
        As.append(Z if i == len(params) - 1 else act(Z))
    return As, Zs


def _backward(params, As, Zs, prime, Y):
    delta = As[-1] - Y
    grads = []
    for i in reversed(range(len(params))):
        grads.insert(0, (delta @ As[i].T, delta.sum(axis=1)))
        if i:
            delta = (params[i][0].T @ delta) * prime(Zs[i - 1])
    return grads


def softplus(z):
    return np.logaddexp(0, z)


def softplus_prime_of_minus(params, X, Y):
    """Expected: activation_derivative. softplus' written 1 / (1 + exp(z)) = sigmoid(-z) instead of
    sigmoid(z). Declared --hidden softplus."""
    As, Zs = _forward(params, X, softplus)
    return _backward(params, As, Zs, lambda z: 1 / (1 + np.exp(z)), Y)


def leaky_slope_times_z(params, X, Y):
    """Expected: activation_derivative. leaky relu' written np.where(z > 0, 1, 0.01 * z): the slope is
    multiplied by z. Declared --hidden leaky_relu."""
    As, Zs = _forward(params, X, lambda z: np.where(z > 0, z, 0.01 * z))
    return _backward(params, As, Zs, lambda z: np.where(z > 0, 1.0, 0.01 * z), Y)


def relu_for_leaky(params, X, Y):
    """Expected: activation. A plain relu, forward and backward, where leaky relu (slope 0.01) is declared:
    exactly the gradient of --hidden relu."""
    As, Zs = _forward(params, X, lambda z: np.maximum(0, z))
    return _backward(params, As, Zs, lambda z: (z > 0).astype(float), Y)


def backprop_tanh(params, X, Y):
    """Correct for --hidden tanh (used with a wrong declaration in the registry)."""
    As, Zs = _forward(params, X, np.tanh)
    return _backward(params, As, Zs, lambda z: 1 - np.tanh(z) ** 2, Y)
