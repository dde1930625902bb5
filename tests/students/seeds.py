"""Correct code in the seed documents' conventions: the homogeneous network of seed 000 (bias as the
last column of W, a constant-1 input, gradient of the scalar network function) and seed 002's
bias-free relu network with relu'(0) = 1 and a fixed read-out alpha."""

import numpy as np


def homogeneous(params, X, Y):
    """Seed 000: X carries a last row of ones; hidden W carry a fixed last row [0 ... 0 1]; f = A_k (n_k = 1)."""
    As, Zs = [X], []
    for l, W in enumerate(params, start=1):  # noqa: E741
        Z = W @ As[-1]
        Zs.append(Z)
        A = Z if l == len(params) else np.tanh(Z)
        if l < len(params):
            A[-1, :] = 1.0  # the formal neuron is the identity: the constant 1, not tanh(1)
        As.append(A)
    delta = np.ones_like(As[-1])
    grads = [None] * len(params)
    for l in range(len(params), 0, -1):  # noqa: E741
        dW = delta @ As[l - 1].T
        if l < len(params):
            dW[-1, :] = 0.0  # the fixed row is not a parameter
        grads[l - 1] = dW
        if l > 1:
            back = params[l - 1].T @ delta
            deriv = 1 - np.tanh(Zs[l - 2]) ** 2
            deriv[-1, :] = 0.0  # the formal neuron does not depend on anything
            delta = back * deriv
    return grads


def readout_relu(params, X, Y, spec=None):
    """Seed 002: no biases, relu with relu'(0) = 1, y_hat = alpha^T z; alpha comes with the spec."""
    alpha = np.asarray(spec["network"]["alpha"])
    As, Zs = [X], []
    for W in params:
        Z = W @ As[-1]
        Zs.append(Z)
        As.append(np.maximum(Z, 0))
    delta = alpha[:, None] * (Zs[-1] >= 0)
    grads = [None] * len(params)
    for l in range(len(params), 0, -1):  # noqa: E741
        grads[l - 1] = delta @ As[l - 1].T
        if l > 1:
            delta = (params[l - 1].T @ delta) * (Zs[l - 2] >= 0)
    return grads
