"""Row-layout NumPy in the torch.nn.Linear convention (``X: (m, n_0)``, ``W: (n_out, n_in)`` used as
``X @ W.T + b``, ``b: (n_out,)``, a list of (W, b) pairs), tanh hidden layers, identity output,
1/2 squared error averaged over the batch (``--preset torch --hidden tanh --output identity --loss
half_sse --reduction mean``). Each function has one mistake; its docstring says what and the diagnosis."""

import numpy as np


def _forward(params, X, hidden=np.tanh, output=lambda z: z):
    As, Zs = [X], []
    for i, (W, b) in enumerate(params):
        Z = As[-1] @ W.T + b
        Zs.append(Z)
        As.append(output(Z) if i == len(params) - 1 else hidden(Z))
    return As, Zs


def _backward(params, As, dZ, hidden_prime, Zs):
    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads[i] = (dZ.T @ As[i], dZ.sum(axis=0))
        if i > 0:
            dZ = (dZ @ W) * hidden_prime(Zs[i - 1])
    return grads


def backprop(params, X, Y):
    """Correct (the base for the variants below)."""
    As, Zs = _forward(params, X)
    dZ = (As[-1] - Y) / X.shape[0]
    return _backward(params, As, dZ, lambda z: 1 - np.tanh(z) ** 2, Zs)


def tanh_on_output(params, X, Y):
    """Expected: activation. The output goes through tanh too (the same loop body for every layer),
    forward and backward: exactly the gradient of --output tanh (declared identity)."""
    As, Zs = _forward(params, X, output=np.tanh)
    dZ = (As[-1] - Y) / X.shape[0] * (1 - np.tanh(Zs[-1]) ** 2)
    return _backward(params, As, dZ, lambda z: 1 - np.tanh(z) ** 2, Zs)


def sigmoid_hidden(params, X, Y):
    """Expected: activation. The hidden layers use the logistic sigmoid, forward and backward, though the
    network is declared tanh: exactly the gradient of --hidden sigmoid."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    As, Zs = _forward(params, X, hidden=sig)
    dZ = (As[-1] - Y) / X.shape[0]
    return _backward(params, As, dZ, lambda z: sig(z) * (1 - sig(z)), Zs)


def sech_not_squared(params, X, Y):
    """Expected: activation_derivative. tanh' written 1 / cosh(z): sech, not sech^2."""
    As, Zs = _forward(params, X)
    dZ = (As[-1] - Y) / X.shape[0]
    return _backward(params, As, dZ, lambda z: 1 / np.cosh(z), Zs)


def tanh_prime_square_misplaced(params, X, Y):
    """Expected: activation_derivative. tanh' written (1 - tanh(z)) ** 2 instead of 1 - tanh(z) ** 2."""
    As, Zs = _forward(params, X)
    dZ = (As[-1] - Y) / X.shape[0]
    return _backward(params, As, dZ, lambda z: (1 - np.tanh(z)) ** 2, Zs)


def output_relu_mask(params, X, Y):
    """Expected: activation_derivative. The output delta is masked with (Z_out > 0), as if the output were
    relu, though the forward pass leaves it linear."""
    As, Zs = _forward(params, X)
    dZ = (As[-1] - Y) / X.shape[0] * (Zs[-1] > 0)
    return _backward(params, As, dZ, lambda z: 1 - np.tanh(z) ** 2, Zs)


def first_layer_relu(params, X, Y):
    """Expected: activation. The first layer uses relu (forward and backward), the others tanh: exactly
    the gradient of a network whose layer 1 is relu (declared tanh everywhere)."""
    As, Zs = [X], []
    for i, (W, b) in enumerate(params):
        Z = As[-1] @ W.T + b
        Zs.append(Z)
        if i == len(params) - 1:
            As.append(Z)
        else:
            As.append(np.maximum(0, Z) if i == 0 else np.tanh(Z))
    dZ = (As[-1] - Y) / X.shape[0]
    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        grads[i] = (dZ.T @ As[i], dZ.sum(axis=0))
        if i > 0:
            prime = (Zs[i - 1] > 0).astype(float) if i == 1 else 1 - np.tanh(Zs[i - 1]) ** 2
            dZ = (dZ @ params[i][0]) * prime
    return grads


def returns_dict(params, X, Y):
    """Expected: convention. Correct values, returned as a dict {"dW1": ..., "db1": ...} where the
    declared container is a list of (dW, db) pairs."""
    grads = backprop(params, X, Y)
    out = {}
    for i, (dW, db) in enumerate(grads, start=1):
        out[f"dW{i}"], out[f"db{i}"] = dW, db
    return out
