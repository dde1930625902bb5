"""A student's layers with one mistake, in the CS231n assignment's API: forward returns (out, cache),
backward takes (dout, cache); the loss returns (loss, dx)."""

import numpy as np


def affine_forward(x, w, b):
    """x: (N, d_1, ..., d_k) flattened to (N, D); w: (D, M); b: (M,) -> out: (N, M)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = dout.T @ x.reshape(x.shape[0], -1)  # (M, D): transposed
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(x, y):
    """x: (N, C) scores, y: (N,) integer labels -> mean cross-entropy and dx: (N, C)."""
    N = x.shape[0]
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).mean()
    dx = p.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx / N
