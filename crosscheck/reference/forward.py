"""The forward pass, shared by every route: the only code routes have in common.

Seed 000 notation: N_i (here ``Z[i]``, the pre_activation) = W_i Sigma_{i-1} + b_i and
Sigma_i (here ``A[i]``) = Sigma_i(N_i), with Sigma_0 = X.

The loss is the reduced data loss plus the weight penalty (``crosscheck.model.penalties``): the
penalty depends on the parameters alone, so every route adds its gradient,
``c(m) (2 l2 W + l1 sign W)``, to the data-loss gradient it derived (``with_penalty``); the
numeric oracles differentiate ``loss_value``, which adds the penalty's value.
"""

from __future__ import annotations

import numpy as np

from ..model.network import Network
from ..model.penalties import add_penalty_gradient, penalty_value

__all__ = ["forward", "loss_value", "output_gradient", "with_penalty"]


def forward(network: Network, params, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return ``(Z, A)``: ``Z[l]`` and ``A[l]`` are ``(n_l, m)``; ``A[0] = X``, ``Z[0] = None``.

    Leading axes broadcast: ``W: (D, n_l, n_{l-1})``, ``b: (D, n_l)``, ``X: (D, n_0, m)``
    checks D parameter draws in one stacked matmul per layer."""
    Z: list = [None]
    A: list = [X]
    for layer, (W, b) in enumerate(params, start=1):
        z = W @ A[-1]
        if b is not None:
            bias = b[..., :, None]
            # in place where it fits: fresh arrays are the route's main cost at scale (page faults);
            # where it does not (the bias broadcasts z wider, or only a wider dtype holds the sum)
            # numpy refuses before writing anything, and the sum is a new array
            try:
                np.add(z, bias, out=z, casting="safe")
            except (ValueError, TypeError):
                z = z + bias
        Z.append(z)
        A.append(network.sigma(layer, z))
    return Z, A


def loss_value(network: Network, params, X: np.ndarray, Y) -> float:
    """The reduced loss L, a scalar (complex when the inputs are complex: complex step)."""
    _, A = forward(network, params, X)
    loss = network.loss_fn
    alpha = np.asarray(network.alpha, dtype=A[-1].real.dtype)
    data = network.reduce(loss.value(A[-1], Y, alpha))
    return data + penalty_value(network, params, X.shape[-1]) if network.has_penalty else data


def with_penalty(network: Network, grads: tuple, params, X: np.ndarray) -> tuple:
    """The data-loss gradients ``grads`` plus the penalty's (m = the batch size of ``X``)."""
    return add_penalty_gradient(network, grads, params, X.shape[-1])


def output_gradient(network: Network, A_out: np.ndarray, Y) -> np.ndarray:
    """dL/dA_k, ``(n_k, m)``, including the batch reduction's 1/m (``mean``) or 1/(m n_k) (``mean_all``)."""
    alpha = np.asarray(network.alpha, dtype=A_out.dtype)
    g = network.loss_fn.grad(A_out, Y, alpha)
    return g * network.reduction_scale(A_out.shape[-1])
