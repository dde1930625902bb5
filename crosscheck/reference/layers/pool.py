"""Max pooling, CS231n's ``max_pool_forward_naive`` / ``max_pool_backward_naive``.

    x: (N, C, H, W); windows pool_height x pool_width every ``stride`` pixels (no padding)
    out[n, c, i, j] = max over x[n, c, i*s : i*s + ph, j*s : j*s + pw]     (N, C, H', W')
    H' = 1 + (H - ph) / s,   W' = 1 + (W - pw) / s
    dx: each dout[n, c, i, j] goes to the one entry of its window that is the maximum; windows
        that overlap (stride < pool size) add up where they share an entry.

Ties (two equal maxima in a window) are a kink: any convex split of dout among them is a
subgradient. crosscheck draws inputs without ties.
"""

from __future__ import annotations

import numpy as np

__all__ = ["forward", "vjp", "output_size", "windows"]


def output_size(H: int, W: int, ph: int, pw: int, stride: int) -> tuple[int, int]:
    return 1 + (H - ph) // stride, 1 + (W - pw) // stride


def windows(x: np.ndarray, ph: int, pw: int, stride: int) -> np.ndarray:
    """(N, C, H', W', ph, pw): a read-only view of every window."""
    v = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(2, 3))
    return v[:, :, ::stride, ::stride]


def forward(x: np.ndarray, ph: int, pw: int, stride: int) -> np.ndarray:
    return windows(x, ph, pw, stride).max(axis=(4, 5))


def vjp(dout: np.ndarray, x: np.ndarray, ph: int, pw: int, stride: int) -> dict[str, np.ndarray]:
    N, C, Ho, Wo = dout.shape
    win = windows(x, ph, pw, stride).reshape(N, C, Ho, Wo, ph * pw)
    arg = win.argmax(axis=-1)  # the first maximum: without ties, the maximum
    dx = np.zeros_like(x, dtype=np.result_type(x, dout))
    n, c, i, j = np.indices((N, C, Ho, Wo))
    rows = i * stride + arg // pw
    cols = j * stride + arg % pw
    np.add.at(dx, (n, c, rows, cols), dout)  # overlapping windows accumulate
    return {"dx": dx}
