"""The forward pass, shared by every route: the only code routes have in common.

Seed 000 notation: N_i (here ``Z[i]``, the pre_activation) = W_i Sigma_{i-1} + b_i and
Sigma_i (here ``A[i]``) = Sigma_i(N_i), with Sigma_0 = X.
"""

from __future__ import annotations

import numpy as np

from ..network import Network

__all__ = ["forward", "loss_value", "output_gradient"]


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
            # in place where it fits: fresh arrays are the route's main cost at scale (page faults)
            if np.broadcast_shapes(z.shape, bias.shape) == z.shape and np.can_cast(bias.dtype, z.dtype):
                z += bias
            else:
                z = z + bias
        Z.append(z)
        A.append(network.sigma(layer, z))
    return Z, A


def loss_value(network: Network, params, X: np.ndarray, Y) -> float:
    """The reduced loss L, a scalar (complex when the inputs are complex: complex step)."""
    _, A = forward(network, params, X)
    loss = network.loss_fn
    alpha = np.asarray(network.alpha, dtype=A[-1].real.dtype)
    return network.reduce(loss.value(A[-1], Y, alpha))


def output_gradient(network: Network, A_out: np.ndarray, Y) -> np.ndarray:
    """dL/dA_k, ``(n_k, m)``, including the batch reduction's 1/m for ``mean``."""
    alpha = np.asarray(network.alpha, dtype=A_out.dtype)
    g = network.loss_fn.grad(A_out, Y, alpha)
    return g * network.reduction_scale(A_out.shape[-1])
