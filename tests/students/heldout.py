"""Held out: written after the diagnosis was frozen, and added to the set whatever it said of them.

torch.nn.Linear layout (rows, ``W: (n_out, n_in)``, ``b: (n_out,)``, pairs), 1/2 squared error
averaged, with the hidden activation each function names (flags in ``tests/students/__init__.py``).
"""

import numpy as np


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _forward(params, X, act):
    As, Zs = [X], []
    for i, (W, b) in enumerate(params):
        Z = As[-1] @ W.T + b
        Zs.append(Z)
        As.append(Z if i == len(params) - 1 else act(Z))
    return As, Zs


def _backward(params, X, Y, act, act_prime, *, out_scale=None, keep_last_db=True):
    As, Zs = _forward(params, X, act)
    m = X.shape[0]
    delta = (As[-1] - Y) / m if out_scale is None else out_scale(As[-1], Y, m)
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        db = delta.sum(0) if (keep_last_db or i < len(params) - 1) else np.zeros_like(params[i][1])
        grads[i] = (delta.T @ As[i], db)
        if i:
            delta = (delta @ params[i][0]) * act_prime(Zs[i - 1], As[i])
    return grads


def sigmoid_prime_plus(params, X, Y):
    """sigmoid' typed as s (1 + s)."""
    return _backward(params, X, Y, _sigmoid, lambda z, a: a * (1 + a))


def tanh_prime_of_z_squared(params, X, Y):
    """tanh' written 1 - z**2 (the formula in terms of the output, applied to z)."""
    return _backward(params, X, Y, np.tanh, lambda z, a: 1 - z ** 2)


def leaky_backward_as_relu(params, X, Y):
    """leaky_relu forward, relu backward (0 below zero)."""
    return _backward(params, X, Y, lambda z: np.where(z > 0, z, 0.01 * z), lambda z, a: (z > 0).astype(float))


def output_bias_left_at_zero(params, X, Y):
    """The output layer's bias gradient is never filled in (left as zeros)."""
    return _backward(params, X, Y, np.tanh, lambda z, a: 1 - a ** 2, keep_last_db=False)


def sign_and_no_mean(params, X, Y):
    """Two slips: (y - y_hat) and no 1/m."""
    return _backward(params, X, Y, np.tanh, lambda z, a: 1 - a ** 2, out_scale=lambda A, Y, m: Y - A)


def softplus_prime_as_exp(params, X, Y):
    """softplus' written exp(z) / (1 + exp(z))**2 (the derivative of sigmoid, not softplus)."""
    return _backward(params, X, Y, lambda z: np.logaddexp(0, z),
                     lambda z, a: np.exp(z) / (1 + np.exp(z)) ** 2)
