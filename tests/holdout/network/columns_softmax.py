"""A "math notation" blog MLP: one sample per column, Z = W A + b, tanh hidden layers, softmax
cross-entropy with one-hot columns, averaged over the batch.

columns/out_in/column/pairs at any depth: X (n_0, m), W (n_l, n_{l-1}), b (n_l, 1), Y (K, m).
"""
import numpy as np


def _forward(params, X):
    L = len(params)
    A = X
    cache = [(None, X)]
    for l, (W, b) in enumerate(params):
        Z = W @ A + b
        A = np.tanh(Z) if l < L - 1 else Z
        cache.append((Z, A))
    Z_L = cache[-1][0]
    expZ = np.exp(Z_L - Z_L.max(axis=0, keepdims=True))
    return cache, expZ / expZ.sum(axis=0, keepdims=True)


def backprop(params, X, Y):
    """Correct."""
    L = len(params)
    m = X.shape[1]
    cache, P = _forward(params, X)
    dZ = (P - Y) / m
    grads = [None] * L
    for l in reversed(range(L)):
        A_prev = cache[l][1]
        W = params[l][0]
        grads[l] = (dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True))
        if l > 0:
            dZ = (W.T @ dZ) * (1 - A_prev ** 2)
    return grads


def batch_size_from_rows(params, X, Y):
    L = len(params)
    m = X.shape[0]
    cache, P = _forward(params, X)
    dZ = (P - Y) / m
    grads = [None] * L
    for l in reversed(range(L)):
        A_prev = cache[l][1]
        W = params[l][0]
        grads[l] = (dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True))
        if l > 0:
            dZ = (W.T @ dZ) * (1 - A_prev ** 2)
    return grads


def softmax_derivative_as_sigmoid(params, X, Y):
    L = len(params)
    m = X.shape[1]
    cache, P = _forward(params, X)
    dP = -(Y / P) / m            # dL/dP of -1/m sum Y log P
    dZ = dP * P * (1 - P)        # "softmax'(z) = s(1 - s)"
    grads = [None] * L
    for l in reversed(range(L)):
        A_prev = cache[l][1]
        W = params[l][0]
        grads[l] = (dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True))
        if l > 0:
            dZ = (W.T @ dZ) * (1 - A_prev ** 2)
    return grads
