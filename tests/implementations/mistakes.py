"""One planted mistake per diagnosis catalogue id, each in otherwise correct student code.

``MISTAKES[id] = (function name, check options)``: crosscheck must fail each with exit 1
and name ``id`` first.
"""

import numpy as np

from .correct import cs231n, deeplearning_ai, sigmoid, torch_style

DEFAULT = {"preset": "torch"}  # rows / out_in / vector / pairs; tanh, identity, half_sse, mean

MISTAKES = {
    "transposed": ("transposed", {"preset": "cs231n"}),
    "sign": ("sign", DEFAULT),
    "scale": ("scale", DEFAULT),
    "layer_order": ("layer_order", DEFAULT),
    "bias_not_reduced": ("bias_not_reduced", {"preset": "deeplearning.ai"}),
    "activation_derivative": ("activation_derivative", DEFAULT),
    "missing_activation_derivative": ("missing_activation_derivative", DEFAULT),
    "no_transpose_in_backprop": ("no_transpose_in_backprop", DEFAULT),
    "single_sample": ("single_sample", DEFAULT),
    "vec_order": ("vec_order", {"batch": "columns", "weights": "out_in", "bias": "none", "params": "pairs"}),
    "mutates_inputs": ("mutates_inputs", DEFAULT),
    # a kink-only difference is a note unless --strict-kinks (one kink policy with the sweep)
    "kink_convention": ("kink_convention", {"preset": "torch", "hidden": "relu", "strict_kinks": True}),
    "shape": ("shape", DEFAULT),
    # issue 18: what no catalogue entry explains is located (db right, dW departs), not a bare unknown
    "layer_gradient": ("unknown", DEFAULT),
}


def _forward(params, X, hidden=np.tanh):
    A = [X]
    for i, (W, b) in enumerate(params):
        z = A[-1] @ W.T + b
        A.append(z if i == len(params) - 1 else hidden(z))
    return A


def transposed(params, X, Y):
    """cs231n, but the last layer's gradient comes out in (n_out, n_in) orientation."""
    grads = cs231n(params, X, Y)
    k = sum(1 for key in params if key.startswith("W"))
    grads[f"W{k}"] = grads[f"W{k}"].T.copy()
    return grads


def sign(params, X, Y):
    """delta = (y - y_hat): every gradient points uphill."""
    m = X.shape[0]
    A = _forward(params, X)
    delta = (Y - A[-1]) / m
    grads = []
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads.append((delta.T @ A[i], delta.sum(axis=0)))
        if i > 0:
            delta = (delta @ W) * (1 - A[i] ** 2)
    return grads[::-1]


def scale(params, X, Y):
    """The loss is averaged over the batch, but the 1/m never makes it into the gradient."""
    A = _forward(params, X)
    delta = A[-1] - Y
    grads = []
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads.append((delta.T @ A[i], delta.sum(axis=0)))
        if i > 0:
            delta = (delta @ W) * (1 - A[i] ** 2)
    return grads[::-1]


def scaled_by_seven(params, X, Y):
    """torch_style's gradients, all seven times too large (no named mistake explains 7)."""
    return [(7 * dW, 7 * db) for dW, db in torch_style(params, X, Y)]


def layer_order(params, X, Y):
    """Gradients appended during the backward pass and never reversed."""
    return torch_style(params, X, Y)[::-1]


def bias_not_reduced(parameters, X, Y):
    """deeplearning.ai, but db = dZ / m: the bias gradient is not summed over the samples."""
    grads = deeplearning_ai(parameters, X, Y)
    L = len(parameters) // 2
    m = X.shape[1]
    A = X
    cache = []
    for layer in range(1, L + 1):
        Z = parameters[f"W{layer}"] @ A + parameters[f"b{layer}"]
        cache.append(Z)
        A = sigmoid(Z) if layer == L else np.maximum(0, Z)
    dZ = A - Y  # sigmoid + cross-entropy
    grads[f"db{L}"] = dZ / m
    return grads


def activation_derivative(params, X, Y):
    """tanh'(z) = 1 - tanh(z)^2, but evaluated at the activation a = tanh(z) instead of z."""
    m = X.shape[0]
    A = _forward(params, X)
    delta = (A[-1] - Y) / m
    grads = []
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads.append((delta.T @ A[i], delta.sum(axis=0)))
        if i > 0:
            delta = (delta @ W) * (1 - np.tanh(A[i]) ** 2)
    return grads[::-1]


def missing_activation_derivative(params, X, Y):
    """The hidden deltas skip the factor tanh'(z)."""
    m = X.shape[0]
    A = _forward(params, X)
    delta = (A[-1] - Y) / m
    grads = []
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads.append((delta.T @ A[i], delta.sum(axis=0)))
        if i > 0:
            delta = delta @ W
    return grads[::-1]


def no_transpose_in_backprop(params, X, Y):
    """Backpropagates through W "transposed" with reshape, which only fixes the shape."""
    m = X.shape[0]
    A = _forward(params, X)
    delta = (A[-1] - Y) / m
    grads = []
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads.append((delta.T @ A[i], delta.sum(axis=0)))
        if i > 0:
            W_t = W.reshape(W.shape[1], W.shape[0])  # meant W.T
            delta = (delta @ W_t.T) * (1 - A[i] ** 2)
    return grads[::-1]


def single_sample(params, X, Y):
    """Loops over the samples but overwrites the gradient instead of adding to it."""
    m = X.shape[0]
    grads = None
    for j in range(m):
        grads = torch_style(params, X[j:j + 1], Y[j:j + 1])
    return [(dW / m, db / m) for dW, db in grads]


def vec_order(Ws, X, Y):
    """Seed 004 style: dVec(W) = sum_j (a_j kron delta_j) (column stacking), read back row-major."""
    k = len(Ws)
    A, Z = [X], []
    for layer, W in enumerate(Ws, start=1):
        z = W @ A[-1]
        Z.append(z)
        A.append(z if layer == k else np.tanh(z))
    m = X.shape[1]
    delta = (A[-1] - Y) / m
    grads = [None] * k
    for layer in range(k, 0, -1):
        W = Ws[layer - 1]
        vec = sum(np.kron(A[layer - 1][:, j], delta[:, j]) for j in range(m))
        grads[layer - 1] = vec.reshape(W.shape)  # Vec stacks columns: needs order="F"
        if layer > 1:
            delta = (W.T @ delta) * (1 - A[layer - 1] ** 2)
    return grads


def mutates_inputs(params, X, Y):
    """Right gradients, but it takes a gradient step on the caller's weights while at it."""
    grads = torch_style(params, X, Y)
    for (W, b), (dW, db) in zip(params, grads):
        W -= 0.1 * dW
        b -= 0.1 * db
    return grads


def kink_convention(params, X, Y):
    """relu'(z) as (z >= 0): 1 at z = 0, where the declared relu (torch, JAX) uses 0."""
    m = X.shape[0]
    A, Zs = [X], []
    for i, (W, b) in enumerate(params):
        z = A[-1] @ W.T + b
        Zs.append(z)
        A.append(z if i == len(params) - 1 else np.maximum(z, 0))
    delta = (A[-1] - Y) / m
    grads = []
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads.append((delta.T @ A[i], delta.sum(axis=0)))
        if i > 0:
            delta = (delta @ W) * (Zs[i - 1] >= 0)
    return grads[::-1]


def shape(params, X, Y):
    """Appends the bias gradient as an extra column of dW1: right numbers, wrong shape."""
    grads = torch_style(params, X, Y)
    dW, db = grads[0]
    grads[0] = (np.hstack([dW, db[:, None]]), db)
    return grads


def unknown(params, X, Y):
    """Adds a cubic weight term no penalty form explains (an undeclared L2 term is ``regularization``)."""
    return [(dW + 0.1 * W**3, db) for (dW, db), (W, _) in zip(torch_style(params, X, Y), params)]
