"""Route ``explicit``: seed 000 formula (3), the non-recursive product for each layer.

Seed 000 writes the gradient of the network function f(X; W) (one sample X, a column) as

    grad_{W_k}   f = Sigma'_k . Sigma_{k-1}^T
    grad_{W_k-1} f = [Sigma'_k * W_k^T] o Sigma'_{k-1} . Sigma_{k-2}^T
    ...
    grad_{W_l}   f = [Sigma'_k * W_k^T] o [Sigma'_{k-1} * W_{k-1}^T] o ... o [Sigma'_{l+1} * W_{l+1}^T]
                     o Sigma'_l . Sigma_{l-1}^T

read from the left to the right, where ``o`` is the Hadamard product, ``.`` the ordinary
product and ``A * B = B . A`` the seed's "inverted" product (bullet) of a column A by a
matrix B, so ``[Sigma'_i * W_i^T]`` means "multiply the column so far by W_i^T from the left".
(The seed's last line prints ``W_{k-2}`` without its transpose: a typo, every other factor and
the proof (7) carry it.)

Here each layer's product is built from scratch, from the output down to that layer, as a
list of factors and then folded: nothing is shared between layers, so the route costs
O(k^2) products and is independent of the delta recursion (which reuses delta_{l+1}).

Generalisations, each a column operation of the seed's per-sample formula:

- **a loss.** The seed's f is the network output itself (``loss="output"``, n_k = 1): its
  product starts from the scalar Sigma'_k. With a loss L(A_k) the product starts from the
  column dL/dA_k (``forward.output_gradient``), which already carries the batch reduction
  (1 for ``sum``, 1/m for ``mean``): the first factor is ``dL/dA_k o Sigma'_k``.
- **a batch.** Samples are the columns of ``X: (n_0, m)``. Every factor of (3) acts on one
  column, so the fold runs on the (n_l, m) block of all columns at once, and the gradient is
  the sum over samples of the per-sample outer products ``column_j . Sigma_{l-1, j}^T``.
- **a bias.** Seed 000 section 3 treats b_l as the last column of W_l, multiplying the
  constant-1 input; its gradient is therefore the same sum with Sigma_{l-1, j} replaced by 1.

Canonical arrays only (``W_l: (n_l, n_{l-1})``, ``b_l: (n_l,)`` or None). Computes in the
inputs' dtype. No leading draw axes.
"""

from __future__ import annotations

import numpy as np

from ..model.network import Network
from .forward import forward, output_gradient, with_penalty

__all__ = ["gradients", "layer_factors"]


def _dtype(params, X: np.ndarray) -> np.dtype:
    arrays = [X] + [a for pair in params for a in pair if a is not None]
    return np.result_type(*arrays)


def layer_factors(network: Network, params, Z: list, layer: int) -> list[tuple[str, np.ndarray]]:
    """The factors of formula (3) for ``grad_{W_layer}``, left to right, as (operation, array).

    ``("hadamard", Sigma'_i)`` with ``Sigma'_i: (n_i, m)``; ``("bullet", W_i^T)`` with
    ``W_i^T: (n_{i-1}, n_i)``. The seed's leading Sigma'_k and its final ``. Sigma_{l-1}^T``
    are not in the list: the caller starts from dL/dA_k and ends with the outer products.
    """
    k = network.depth
    factors: list[tuple[str, np.ndarray]] = [("hadamard", network.sigma_prime(k, Z[k]))]
    for i in range(k, layer, -1):
        W_i = params[i - 1][0]
        factors.append(("bullet", W_i.T))
        factors.append(("hadamard", network.sigma_prime(i - 1, Z[i - 1])))
    return factors


def _fold(start: np.ndarray, factors: list[tuple[str, np.ndarray]], dtype: np.dtype) -> np.ndarray:
    """Apply the factors left to right to the block of columns ``start: (n_k, m)``."""
    column = start
    for op, M in factors:
        M = np.asarray(M, dtype=dtype)
        # A * B = B . A: the bullet multiplies from the left
        column = M @ column if op == "bullet" else column * M
    return column


def gradients(network: Network, params, X: np.ndarray, Y) -> tuple:
    """Canonical gradients ``((dW_1, db_1), ..., (dW_k, db_k))`` of the reduced loss.

    ``X: (n_0, m)``, ``Y: (n_k, m)`` or None; ``dW_l: (n_l, n_{l-1})``, ``db_l: (n_l,)`` or None.
    """
    dtype = _dtype(params, X)
    Z, A = forward(network, params, X)
    k = network.depth
    dL_dA = np.asarray(output_gradient(network, A[k], Y), dtype=dtype)
    grads = []
    for layer in range(1, k + 1):
        # product of every later layer's factors, rebuilt for this layer alone
        column = _fold(dL_dA, layer_factors(network, params, Z, layer), dtype)  # (n_l, m)
        Sigma_prev = np.asarray(A[layer - 1], dtype=dtype)  # (n_{l-1}, m)
        # sum over samples j of column_j . Sigma_{l-1, j}^T
        dW = np.einsum("im,jm->ij", column, Sigma_prev)
        db = column.sum(axis=1) if params[layer - 1][1] is not None else None
        grads.append((dW.astype(dtype, copy=False), None if db is None else db.astype(dtype, copy=False)))
    return with_penalty(network, tuple(grads), params, X)
