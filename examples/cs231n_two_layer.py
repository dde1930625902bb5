"""A CS231n-style two-layer net: the loss and gradients of ``TwoLayerNet.loss(X, y)``.

Layout (``crosscheck conventions``: preset ``cs231n``): samples are rows, ``X: (N, D)``;
``W1: (D, H)``, ``b1: (H,)``, ``W2: (H, C)``, ``b2: (C,)`` in a dict; ``y: (N,)`` integer class
labels. scores = relu(X W1 + b1) W2 + b2; softmax cross-entropy averaged over the N samples,
plus ``0.5 * REG * (sum(W1 * W1) + sum(W2 * W2))``.

Check it with

    crosscheck check examples/cs231n_two_layer.py:loss_grads --preset cs231n --l2 0.05
"""

from __future__ import annotations

import numpy as np

REG = 0.05  # the L2 strength: declare it with --l2 0.05


def loss_grads(params: dict, X: np.ndarray, y: np.ndarray) -> dict:
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = X.shape[0]
    hidden_in = X @ W1 + b1  # (N, H)
    hidden = np.maximum(0, hidden_in)
    scores = hidden @ W2 + b2  # (N, C)
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)

    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1  # d(-log p_y)/dscores
    dscores /= N  # the mean over the batch
    grads = {"W2": hidden.T @ dscores + REG * W2, "b2": dscores.sum(axis=0)}
    dhidden = (dscores @ W2.T) * (hidden_in > 0)  # through the ReLU
    grads["W1"] = X.T @ dhidden + REG * W1
    grads["b1"] = dhidden.sum(axis=0)
    return grads
