"""Route ``kronecker``: seed 000 formulas (4)/(5), Kronecker products and diagonal Sigma-hat'.

Seed 000 Remark 6 replaces each column Sigma'_i by the square diagonal matrix Sigma-hat'_i
and writes, for one sample X (a column),

    grad_{W_k}   f = Sigma_{k-1}^T (x) Sigma-hat'_k
    grad_{W_k-1} f = Sigma_{k-2}^T (x) (Sigma-hat'_{k-1} W_k^T Sigma-hat'_k)
    ...
    grad_{W_l}   f = Sigma_{l-1}^T (x) (Sigma-hat'_l W_{l+1}^T Sigma-hat'_{l+1} ... W_k^T Sigma-hat'_k)   (5)

with ``(x)`` the Kronecker product, read from the right to the left. The bracket

    P_l = Sigma-hat'_l W_{l+1}^T Sigma-hat'_{l+1} ... W_k^T Sigma-hat'_k        (n_l x n_k)

is a matrix: the transposed Jacobian of the output A_k with respect to the pre_activation
Z_l. The seed has n_k = 1 and the network output as f, so P_l is a column; with a loss
L(A_k) on an n_k-wide output we multiply P_l by the column dL/dA_k (``output_gradient``,
which carries the batch reduction) only at the very end:

    grad_{W_l} L = sum_j  Sigma_{l-1, j}^T (x) (P_{l, j} . dL/dA_{k, j})

so the products of (5) are formed as whole matrices, first, in the seed's order; the delta
recursion instead multiplies vectors from the output inwards. The Kronecker product of a row
(1 x n_{l-1}) and a column (n_l x 1) is the outer product column . row, an n_l x n_{l-1} matrix.
The bias is the weight of the constant-1 input (seed 000 section 3): ``1 (x) column``.

Structure, never density (seed 004's warning; issue 6 item 3): a diagonal Sigma-hat' is a
vector, Sigma-hat' M scales the rows of M and M Sigma-hat' its columns; no identity and no
dense diagonal is ever built. The matrices P_l are dense and per sample, so samples are
processed in chunks of at most ``MAX_PRODUCT_ENTRIES`` entries of P, and the sum over samples
of the Kronecker (outer) products is one matrix product: memory stays bounded (P and two
temporaries of its size, about 100 MiB in float64) at any batch size and width; measured
peaks at depth 6, width 256, batch 256: 26 MiB with n_k = 10, 102 MiB with n_k = 256.

Canonical arrays only; computes in the inputs' dtype; no leading draw axes.
"""

from __future__ import annotations

import numpy as np

from ..model.network import Network
from .forward import forward, output_gradient, with_penalty

__all__ = ["gradients", "diag_times", "times_diag", "kron_row_column", "sum_kron_row_column",
           "MAX_PRODUCT_ENTRIES"]

MAX_PRODUCT_ENTRIES = 1 << 22  # entries of the P_l block held at once (chunk x n_l x n_k)


def diag_times(d: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Sigma-hat' M for ``d: (..., n)`` the diagonal and ``M: (..., n, p)``: a row scaling."""
    return d[..., :, None] * M


def times_diag(M: np.ndarray, d: np.ndarray) -> np.ndarray:
    """M Sigma-hat' for ``M: (..., p, n)`` and the diagonal ``d: (..., n)``: a column scaling."""
    return M * d[..., None, :]


def kron_row_column(row: np.ndarray, column: np.ndarray) -> np.ndarray:
    """row (x) column for ``row: (..., p)`` (a 1 x p row) and ``column: (..., q)``: ``(..., q, p)``.

    The Kronecker product of a 1 x p row and a q x 1 column is the q x p outer product."""
    return column[..., :, None] * row[..., None, :]


def sum_kron_row_column(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """sum_j rows_j (x) columns_j for ``rows: (c, p)`` and ``columns: (c, q)``: ``(q, p)``.

    Equal to ``kron_row_column(rows, columns).sum(0)`` without holding the c outer products:
    the sum of outer products is one matrix product."""
    return columns.T @ rows


def _dtype(params, X: np.ndarray) -> np.dtype:
    return np.result_type(X, *[a for pair in params for a in pair if a is not None])


def gradients(network: Network, params, X: np.ndarray, Y, *, max_entries: int | None = None) -> tuple:
    """Canonical gradients ``((dW_1, db_1), ..., (dW_k, db_k))`` of the reduced loss.

    ``X: (n_0, m)``, ``Y: (n_k, m)`` or None. ``max_entries`` bounds the P_l block held at once
    (default ``MAX_PRODUCT_ENTRIES``); a single sample always fits.
    """
    dtype = _dtype(params, X)
    Z, A = forward(network, params, X)
    k, m = network.depth, X.shape[1]
    dL_dA = np.asarray(output_gradient(network, A[k], Y), dtype=dtype)  # (n_k, m)
    # per sample, sample axis first: Sigma'_l -> (m, n_l), Sigma_l -> (m, n_l)
    s = [None] + [np.asarray(network.sigma_prime(i, Z[i]), dtype=dtype).T for i in range(1, k + 1)]
    Sig = [np.asarray(a, dtype=dtype).T for a in A]
    g = dL_dA.T  # (m, n_k)

    widest = max(network.widths[1:]) * network.n_out
    limit = MAX_PRODUCT_ENTRIES if max_entries is None else int(max_entries)
    chunk = max(1, min(m, limit // max(widest, 1)))

    dW = [np.zeros(network.weight_shape(i), dtype=dtype) for i in range(1, k + 1)]
    db = [np.zeros(network.widths[i], dtype=dtype) if params[i - 1][1] is not None else None
          for i in range(1, k + 1)]
    for start in range(0, m, chunk):
        j = slice(start, min(m, start + chunk))
        P = None  # P_k = Sigma-hat'_k: kept as its diagonal, P is None
        for layer in range(k, 0, -1):
            if P is None:
                column = s[k][j] * g[j]  # Sigma-hat'_k dL/dA_k, structurally
            else:
                column = np.einsum("cik,ck->ci", P, g[j])  # P_l . dL/dA_k, per sample
            dW[layer - 1] += sum_kron_row_column(Sig[layer - 1][j], column)
            if db[layer - 1] is not None:
                db[layer - 1] += column.sum(axis=0)  # 1 (x) column
            if layer > 1:
                Wt = np.asarray(params[layer - 1][0], dtype=dtype).T  # W_l^T: (n_{l-1}, n_l)
                if P is None:
                    # Sigma-hat'_{k-1} W_k^T Sigma-hat'_k: both diagonals by scaling
                    P = diag_times(s[layer - 1][j], times_diag(Wt, s[k][j]))
                else:
                    P = diag_times(s[layer - 1][j], Wt @ P)
    return with_penalty(network, tuple((dW[i], db[i]) for i in range(k)), params, X)
