"""The classification losses of CS231n's ``softmax_loss(x, y)`` and ``svm_loss(x, y)``.

Scores x: (N, C), integer labels y: (N,); both losses are means over the N samples and return
(loss, dx) with dx: (N, C) the gradient of the loss (the VJP with dout = 1).

softmax:  p = softmax(x) row-wise;  loss = -(1/N) sum_n log p[n, y_n];  dx = (p - onehot(y)) / N
SVM (multiclass hinge, margin 1):
          margin[n, j] = x[n, j] - x[n, y_n] + 1 for j != y_n, 0 for j = y_n
          loss = (1/N) sum max(0, margin);  dx[n, j] = [margin > 0] / N for j != y_n,
          dx[n, y_n] = -(number of j with margin[n, j] > 0) / N
The hinge's kink (a margin exactly 0) is a convention; crosscheck keeps margins away from 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax_loss", "svm_loss"]


def softmax_loss(x: np.ndarray, y: np.ndarray) -> tuple[np.floating, np.ndarray]:
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)  # same softmax, no overflow
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(N)
    loss = -log_p[rows, y].sum() / N
    dx = np.exp(log_p)
    dx[rows, y] -= 1.0
    return loss, dx / N  # loss: a NumPy scalar (complex under the complex step)


def svm_margins(x: np.ndarray, y: np.ndarray, delta: float = 1.0) -> np.ndarray:
    """(N, C): x[n, j] - x[n, y_n] + delta, and 0 at j = y_n."""
    rows = np.arange(x.shape[0])
    margins = x - x[rows, y][:, None] + delta
    margins[rows, y] = 0.0
    return margins


def svm_loss(x: np.ndarray, y: np.ndarray) -> tuple[np.floating, np.ndarray]:
    N = x.shape[0]
    margins = svm_margins(x, y)
    positive = (margins > 0).astype(x.dtype)
    loss = np.maximum(margins, 0.0).sum() / N
    dx = positive.copy()
    dx[np.arange(N), y] = -positive.sum(axis=1)
    return loss, dx / N
