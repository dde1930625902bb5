"""A planted regression: mybackprop.py with the weight gradient's factors swapped.

Copy this file over ``mybackprop.py`` and run ``pytest``: check_implementation fails with the
diagnosis ``transposed`` and the minimal network, assert_grads_close says ``hint: transposed``.
"""

from __future__ import annotations

import numpy as np

# How this module lays out the network, in crosscheck's vocabulary (`crosscheck conventions`).
LAYOUT = {"batch": "rows", "weights": "in_out", "bias": "vector", "params": "dict"}
NETWORK = {"hidden": "tanh", "output": "identity", "loss": "half_sse", "reduction": "mean"}


def backprop(params: dict, X: np.ndarray, Y: np.ndarray) -> dict:
    depth = sum(1 for key in params if key.startswith("W"))
    m = X.shape[0]
    A = [X]
    Z = [None]
    for layer in range(1, depth + 1):
        Z.append(A[-1] @ params[f"W{layer}"] + params[f"b{layer}"])
        A.append(np.tanh(Z[-1]) if layer < depth else Z[-1])

    delta = (A[depth] - Y) / m
    grads = {}
    for layer in range(depth, 0, -1):
        grads[f"dW{layer}"] = delta.T @ A[layer - 1]  # REGRESSION: (n_l, n_{l-1}), the transpose
        grads[f"db{layer}"] = delta.sum(axis=0)
        if layer > 1:
            delta = (delta @ params[f"W{layer}"].T) * (1 - np.tanh(Z[layer - 1]) ** 2)
    return grads
