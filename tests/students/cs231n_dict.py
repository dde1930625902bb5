# ruff: noqa: UP031 - CS231n writes "W%d" % layer
"""CS231n-style students: rows are samples, ``W{l}: (n_in, n_out)`` used as ``X @ W + b``, a dict of
parameters, relu hidden layers and the softmax cross-entropy averaged over the batch, with
probability targets (flags in ``tests/students/__init__.py``)."""

import numpy as np


def _softmax(scores):
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _forward(params, X):
    k = len([key for key in params if key.startswith("W")])
    hs, zs = [X], []
    for layer in range(1, k + 1):
        z = hs[-1].dot(params["W%d" % layer]) + params["b%d" % layer]
        zs.append(z)
        hs.append(np.maximum(0, z) if layer < k else z)
    return k, hs, zs


def loss_and_grads(params, X, Y):
    """Correct."""
    k, hs, zs = _forward(params, X)
    N = X.shape[0]
    dscores = (_softmax(hs[-1]) - Y) / N
    grads = {}
    for layer in range(k, 0, -1):
        grads["W%d" % layer] = hs[layer - 1].T.dot(dscores)
        grads["b%d" % layer] = np.sum(dscores, axis=0)
        if layer > 1:
            dh = dscores.dot(params["W%d" % layer].T)
            dh[zs[layer - 2] <= 0] = 0
            dscores = dh
    return grads


def relu_backward_times_h(params, X, Y):
    """relu backward multiplies by the hidden activation h instead of masking."""
    k, hs, zs = _forward(params, X)
    dscores = (_softmax(hs[-1]) - Y) / X.shape[0]
    grads = {}
    for layer in range(k, 0, -1):
        grads["W%d" % layer] = hs[layer - 1].T.dot(dscores)
        grads["b%d" % layer] = np.sum(dscores, axis=0)
        if layer > 1:
            dscores = dscores.dot(params["W%d" % layer].T) * hs[layer - 1]
    return grads


def no_division_by_N(params, X, Y):
    """The loss is averaged, the gradient is not."""
    k, hs, zs = _forward(params, X)
    dscores = _softmax(hs[-1]) - Y
    grads = {}
    for layer in range(k, 0, -1):
        grads["W%d" % layer] = hs[layer - 1].T.dot(dscores)
        grads["b%d" % layer] = np.sum(dscores, axis=0)
        if layer > 1:
            dscores = dscores.dot(params["W%d" % layer].T) * (zs[layer - 2] > 0)
    return grads


def dW_as_dscores_T_h(params, X, Y):
    """dW = dscores^T h: the (n_out, n_in) orientation, while W is (n_in, n_out)."""
    k, hs, zs = _forward(params, X)
    dscores = (_softmax(hs[-1]) - Y) / X.shape[0]
    grads = {}
    for layer in range(k, 0, -1):
        grads["W%d" % layer] = dscores.T.dot(hs[layer - 1])
        grads["b%d" % layer] = np.sum(dscores, axis=0)
        if layer > 1:
            dscores = dscores.dot(params["W%d" % layer].T) * (zs[layer - 2] > 0)
    return grads


def relu_mask_ge(params, X, Y):
    """The relu mask is z >= 0: relu'(0) = 1, while the declared relu (like torch) uses 0."""
    k, hs, zs = _forward(params, X)
    dscores = (_softmax(hs[-1]) - Y) / X.shape[0]
    grads = {}
    for layer in range(k, 0, -1):
        grads["W%d" % layer] = hs[layer - 1].T.dot(dscores)
        grads["b%d" % layer] = np.sum(dscores, axis=0)
        if layer > 1:
            dscores = dscores.dot(params["W%d" % layer].T) * (zs[layer - 2] >= 0)
    return grads


def integer_buffers(params, X, Y):
    """Gradient buffers made with np.zeros(..., dtype=int), then filled in place."""
    k, hs, zs = _forward(params, X)
    dscores = (_softmax(hs[-1]) - Y) / X.shape[0]
    grads = {}
    for layer in range(k, 0, -1):
        grads["W%d" % layer] = np.zeros(params["W%d" % layer].shape, dtype=int)
        grads["b%d" % layer] = np.zeros(params["b%d" % layer].shape, dtype=int)
        grads["W%d" % layer][:] = hs[layer - 1].T.dot(dscores)
        grads["b%d" % layer][:] = np.sum(dscores, axis=0)
        if layer > 1:
            dscores = dscores.dot(params["W%d" % layer].T) * (zs[layer - 2] > 0)
    return grads
