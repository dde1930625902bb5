"""Route ``jacobian``: seed 004, each layer's Jacobian with respect to [Vec(W); b], chained.

Seed 004 rewrites one layer ``G(W, b) = sigma(W x + b)`` (``W: (n, p)``, one sample x) as a
function of the stacked parameter vector theta = [Vec(W); b] (Vec stacks the columns):

    W x + b = ([x^T 1] (x) I_n) theta,      so      dG/dtheta = diag(sigma'(W x + b)) ([x^T 1] (x) I_n)

an n x (n p + n) matrix, and the Jacobian of the layer's output with respect to its input is
``diag(sigma'(W x + b)) W``. For the network A_k = G_k(... G_1(x)) the chain rule gives

    dA_k/dtheta_l = [dA_k/dA_l] diag(sigma'_l) ([A_{l-1}^T 1] (x) I_{n_l}),
    dA_k/dA_l     = diag(sigma'_k) W_k diag(sigma'_{k-1}) W_{k-1} ... diag(sigma'_{l+1}) W_{l+1}

and the gradient of the loss is ``grad_theta_l L = (dA_k/dtheta_l)^T dL/dA_k``, read back with
``unvec`` in column-stacking (Fortran) order: theta_l[j n_l + i] = dW_l[i, j], then db_l.
A batch sums these per-sample gradients; dL/dA_k (``output_gradient``) carries the reduction.

Structure (seed 004: "take advantage of sparse matrices for the identity matrix and the
diagonal matrix as otherwise the memory of your computer will be flooded with zeros"):
diag(s) M is a row scaling and M diag(s) a column scaling; M ([r] (x) I_n) is the block row
[r_1 M, ..., r_p M]; for the last layer, whose dA_k/dA_k is the identity,
([r]^T (x) I_n) diag(s) g = r (x) (s o g). No identity or diagonal matrix is materialised.

The dense Jacobians dA_k/dtheta_l of the hidden layers hold n_k x n_l (n_{l-1} + 1) entries
per sample: samples are processed in chunks within ``MAX_JACOBIAN_ENTRIES``, and a network
whose single-sample block exceeds it is refused with a ``JacobianTooLarge`` (a ``UsageError``).

Canonical arrays only; computes in the inputs' dtype; no leading draw axes.
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..model.network import Network
from .forward import forward, output_gradient, with_penalty

__all__ = ["gradients", "vec", "unvec", "kron_row_identity", "jacobian_entries",
           "JacobianTooLarge", "MAX_JACOBIAN_ENTRIES"]

MAX_JACOBIAN_ENTRIES = 1 << 24  # 16.8 million entries: 128 MiB in float64


class JacobianTooLarge(UsageError):
    """A dense Jacobian block of the ``jacobian`` route would exceed its size limit."""


def vec(M: np.ndarray) -> np.ndarray:
    """Vec(M): the columns of ``M: (n, p)`` stacked into one ``(n p,)`` vector (Fortran order)."""
    return np.asarray(M).reshape(-1, order="F")


def unvec(v: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The inverse of ``vec``: ``(n p,)`` back to ``(n, p)``, column by column."""
    return np.asarray(v).reshape(shape, order="F")


def kron_row_identity(M: np.ndarray, r: np.ndarray) -> np.ndarray:
    """M ([r] (x) I_n) for ``M: (..., q, n)`` and the row ``r: (..., p)``: ``(..., q, p n)``.

    Column ``j n + i`` is ``r_j M[:, i]``: the block row [r_1 M, ..., r_p M]."""
    lead, (q, n), p = M.shape[:-2], M.shape[-2:], r.shape[-1]
    # an explicit C-ordered output, so the reshape below is a view and never a second copy
    blocks = np.empty((*np.broadcast_shapes(lead, r.shape[:-1]), q, p, n), dtype=np.result_type(M, r))
    np.multiply(r[..., None, :, None], M[..., :, None, :], out=blocks)
    return blocks.reshape(*blocks.shape[:-2], p * n)


def jacobian_entries(network: Network, layer: int) -> int:
    """Entries of one sample's dense dA_k/dtheta_layer (0 for the last layer: structural)."""
    if layer == network.depth:
        return 0
    n_out, n_in = network.weight_shape(layer)
    return network.n_out * n_out * (n_in + (1 if network.bias else 0))


def parameter_length(network: Network, layer: int) -> int:
    """Length of theta_layer = [Vec(W_layer); b_layer]."""
    n_out, n_in = network.weight_shape(layer)
    return n_out * (n_in + (1 if network.bias else 0))


def _dtype(params, X: np.ndarray) -> np.dtype:
    return np.result_type(X, *[a for pair in params for a in pair if a is not None])


def _check_size(network: Network, limit: int) -> int:
    largest, where = max((jacobian_entries(network, layer), layer) for layer in range(1, network.depth + 1))
    if largest > limit:
        n_out, n_in = network.weight_shape(where)
        theta = f"[Vec(W{where}); b{where}]" if network.bias else f"Vec(W{where})"
        raise JacobianTooLarge(
            f"jacobian route: the dense Jacobian of the {network.n_out}-wide output with respect to "
            f"{theta} of layer {where} ({n_out}x{n_in}) holds {largest:,} entries per "
            f"sample, over the limit of {limit:,} ({limit * 8 / 2**20:.0f} MiB in float64); use the "
            f"'kronecker' or 'recursive' route for a network this wide, or pass max_entries= to allow it"
        )
    return largest


def gradients(network: Network, params, X: np.ndarray, Y, *, max_entries: int | None = None) -> tuple:
    """Canonical gradients ``((dW_1, db_1), ..., (dW_k, db_k))`` of the reduced loss.

    ``X: (n_0, m)``, ``Y: (n_k, m)`` or None. Raises ``JacobianTooLarge`` when one sample's
    dense Jacobian block would exceed ``max_entries`` (default ``MAX_JACOBIAN_ENTRIES``).
    """
    limit = MAX_JACOBIAN_ENTRIES if max_entries is None else int(max_entries)
    largest = _check_size(network, limit)
    dtype = _dtype(params, X)
    Z, A = forward(network, params, X)
    k, m = network.depth, X.shape[1]
    g = np.ascontiguousarray(np.asarray(output_gradient(network, A[k], Y), dtype=dtype).T)  # (m, n_k)
    s = [None] + [np.asarray(network.sigma_prime(i, Z[i]), dtype=dtype).T for i in range(1, k + 1)]
    ones = np.ones((m, 1), dtype=dtype)
    # [x^T 1] per sample (x^T alone without bias): (m, n_{l-1} (+1))
    rows = [np.concatenate([np.asarray(a, dtype=dtype).T, ones], axis=1) if network.bias
            else np.asarray(a, dtype=dtype).T for a in A[:-1]]
    chunk = max(1, min(m, limit // max(largest, 1)))

    theta = [np.zeros(parameter_length(network, layer), dtype=dtype) for layer in range(1, k + 1)]
    for start in range(0, m, chunk):
        j = slice(start, min(m, start + chunk))
        J_out = None  # dA_k/dA_l; None is the identity (l = k), applied structurally
        for layer in range(k, 0, -1):
            W = np.asarray(params[layer - 1][0], dtype=dtype)
            if J_out is None:
                # ([r]^T (x) I) diag(s_k) g = r (x) (s_k o g), summed over the chunk's samples
                theta[layer - 1] += np.einsum("cp,cn->pn", rows[layer - 1][j], s[k][j] * g[j]).reshape(-1)
                J_out = s[k][j][:, :, None] * W  # diag(sigma'_k) W_k: (c, n_k, n_{k-1})
            else:
                # dA_k/dtheta_l = (dA_k/dA_l diag(sigma'_l)) ([r] (x) I): dense (c, n_k, p n_l)
                block = kron_row_identity(J_out * s[layer][j][:, None, :], rows[layer - 1][j])
                theta[layer - 1] += (g[j][:, None, :] @ block).sum(axis=(0, 1))  # block^T dL/dA_k
                del block
                J_out = (J_out * s[layer][j][:, None, :]) @ W  # chain diag(sigma'_l) W_l
    grads = []
    for layer in range(1, k + 1):
        n_out, n_in = network.weight_shape(layer)
        t = theta[layer - 1]
        dW = unvec(t[: n_out * n_in], (n_out, n_in))
        db = np.array(t[n_out * n_in:]) if params[layer - 1][1] is not None else None
        grads.append((np.ascontiguousarray(dW), db))
    return with_penalty(network, tuple(grads), params, X)
