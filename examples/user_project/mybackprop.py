"""A hand-written backprop, the kind crosscheck is meant to check.

Layout (CS231n-like): samples are rows, ``X: (m, n_0)``; ``W{l}: (n_{l-1}, n_l)`` used as
``Z_l = A_{l-1} @ W_l + b_l`` with ``b{l}: (n_l,)``; parameters in a dict ``W1, b1, W2, ...``.
Network: tanh on every hidden layer, identity output, loss ``1/(2m) * sum((Y_hat - Y)**2)``.

``backprop(params, X, Y)`` returns ``{"dW1": ..., "db1": ..., ...}`` in the same layout.
"""

from __future__ import annotations

import numpy as np

# How this module lays out the network, in crosscheck's vocabulary (`crosscheck conventions`).
LAYOUT = {"batch": "rows", "weights": "in_out", "bias": "vector", "params": "dict"}
NETWORK = {"hidden": "tanh", "output": "identity", "loss": "half_sse", "reduction": "mean"}


def backprop(params: dict, X: np.ndarray, Y: np.ndarray) -> dict:
    depth = sum(1 for key in params if key.startswith("W"))
    m = X.shape[0]
    A = [X]  # A[l]: (m, n_l), the activation of layer l (A[0] = X)
    Z = [None]  # Z[l]: (m, n_l), its pre-activation
    for layer in range(1, depth + 1):
        Z.append(A[-1] @ params[f"W{layer}"] + params[f"b{layer}"])
        A.append(np.tanh(Z[-1]) if layer < depth else Z[-1])

    delta = (A[depth] - Y) / m  # dL/dZ_depth: (m, n_depth); the 1/m of the mean
    grads = {}
    for layer in range(depth, 0, -1):
        grads[f"dW{layer}"] = A[layer - 1].T @ delta  # (n_{l-1}, m) @ (m, n_l)
        grads[f"db{layer}"] = delta.sum(axis=0)  # summed over the batch
        if layer > 1:
            delta = (delta @ params[f"W{layer}"].T) * (1 - np.tanh(Z[layer - 1]) ** 2)
    return grads
