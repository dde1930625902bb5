"""A user's own NumPy two-layer network, written the way courses write it (CS231n's layout):
samples are rows, ``W1: (D, H)``, ``b1: (H,)``... here biases are rows ``(1, H)``; the loss is the mean
softmax cross-entropy over integer class labels."""

import numpy as np


def forward(params, X):
    h = np.tanh(X @ params["W1"] + params["b1"])
    return h, h @ params["W2"] + params["b2"]


def backprop(params, X, y):
    """Gradients of the mean softmax cross-entropy: {"dW1": (D, H), "db1": (1, H), "dW2": ..., "db2": ...}."""
    m = X.shape[0]
    h, scores = forward(params, X)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dscores = p.copy()
    dscores[np.arange(m), y] -= 1
    dscores /= m
    dh = dscores @ params["W2"].T
    dz = dh * (1 - h**2)
    return {"dW2": h.T @ dscores, "db2": dscores.sum(axis=0, keepdims=True),
            "dW1": X.T @ dz, "db1": dz.sum(axis=0, keepdims=True)}


def backprop_forgot_tanh_derivative(params, X, y):
    """The same, with the classic slip: the hidden layer's derivative left out."""
    m = X.shape[0]
    h, scores = forward(params, X)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dscores = p.copy()
    dscores[np.arange(m), y] -= 1
    dscores /= m
    dz = dscores @ params["W2"].T
    return {"dW2": h.T @ dscores, "db2": dscores.sum(axis=0, keepdims=True),
            "dW1": X.T @ dz, "db1": dz.sum(axis=0, keepdims=True)}
