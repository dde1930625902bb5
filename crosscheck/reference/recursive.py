"""Route ``recursive``: the delta recursion (seed 000 Remark 3, seeds 001 and 002).

    delta_k = dL/dA_k  o  Sigma'_k(Z_k)
    delta_l = (W_{l+1}^T delta_{l+1})  o  Sigma'_l(Z_l)
    grad W_l = delta_l A_{l-1}^T          grad b_l = delta_l 1   (sum over the samples)
    plus the penalty's c(m) (2 l2 W_l + l1 sign W_l) (and on b_l with penalty_bias)

Columns are samples, so one matrix product per layer handles the whole batch; leading
axes (a stack of D parameter draws) broadcast through the same products.
"""

from __future__ import annotations

import numpy as np

from ..model.network import Network
from .forward import forward, output_gradient, with_penalty

__all__ = ["gradients"]


def gradients(network: Network, params, X: np.ndarray, Y) -> tuple:
    """Canonical gradients ``((dW_1, db_1), ..., (dW_k, db_k))`` of the reduced loss."""
    Z, A = forward(network, params, X)
    k = network.depth
    grads: list = [None] * k
    delta = output_gradient(network, A[k], Y) * network.sigma_prime(k, Z[k])
    for layer in range(k, 0, -1):
        W, b = params[layer - 1]
        dW = delta @ np.swapaxes(A[layer - 1], -1, -2)
        db = delta.sum(axis=-1) if b is not None else None
        grads[layer - 1] = (dW, db)
        if layer > 1:
            delta = np.swapaxes(W, -1, -2) @ delta
            delta *= network.sigma_prime(layer - 1, Z[layer - 1])
    return with_penalty(network, tuple(grads), params, X)
