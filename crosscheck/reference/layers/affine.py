"""The affine (fully connected) layer, CS231n's ``affine_forward`` / ``affine_backward``.

    x: (N, d_1, ..., d_k), flattened to X: (N, D) with D = d_1 ... d_k;  w: (D, M);  b: (M,)
    out = X w + b                                    (N, M)
    dX = dout w^T, reshaped to x's shape             (N, d_1, ..., d_k)
    dw = X^T dout                                    (D, M)
    db = sum_n dout[n]                               (M,)
"""

from __future__ import annotations

import numpy as np

__all__ = ["forward", "vjp"]


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """out: (N, M)."""
    return x.reshape(x.shape[0], -1) @ w + b


def vjp(dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """dout: (N, M) -> dx (x's shape), dw (D, M), db (M,)."""
    X = x.reshape(x.shape[0], -1)
    return {"dx": (dout @ w.T).reshape(x.shape), "dw": X.T @ dout, "db": dout.sum(axis=0)}
