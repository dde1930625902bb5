"""The convolutional layer, CS231n's ``conv_forward_naive`` / ``conv_backward_naive``.

    x: (N, C, H, W), w: (F, C, HH, WW), b: (F,), conv_param {"stride": s, "pad": p}
    xp = x zero-padded by p on both sides of H and W
    out[n, f, i, j] = sum_{c, k, l} xp[n, c, i*s + k, j*s + l] * w[f, c, k, l] + b[f]   (N, F, H', W')
    H' = 1 + (H + 2p - HH) / s,   W' = 1 + (W + 2p - WW) / s

That is a cross-correlation: the kernel is not flipped (a "true" convolution would use
w[:, :, ::-1, ::-1]). The VJP, with the same windows:

    db[f] = sum_{n, i, j} dout[n, f, i, j]
    dw[f, c, k, l] = sum_{n, i, j} dout[n, f, i, j] * xp[n, c, i*s + k, j*s + l]
    dxp[n, c, i*s + k, j*s + l] += sum_f dout[n, f, i, j] * w[f, c, k, l],   dx = dxp without the padding
"""

from __future__ import annotations

import numpy as np

__all__ = ["forward", "vjp", "output_size"]


def output_size(H: int, W: int, HH: int, WW: int, stride: int, pad: int) -> tuple[int, int]:
    return 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride


def _padded(x: np.ndarray, pad: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def _windows(xp: np.ndarray, HH: int, WW: int, stride: int) -> np.ndarray:
    """(N, C, H', W', HH, WW) view of every receptive field."""
    v = np.lib.stride_tricks.sliding_window_view(xp, (HH, WW), axis=(2, 3))
    return v[:, :, ::stride, ::stride]


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    F, C, HH, WW = w.shape
    win = _windows(_padded(x, pad), HH, WW, stride)
    return np.einsum("ncijkl,fckl->nfij", win, w) + b[None, :, None, None]


def vjp(dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int,
        pad: int) -> dict[str, np.ndarray]:
    F, C, HH, WW = w.shape
    xp = _padded(x, pad)
    win = _windows(xp, HH, WW, stride)
    dw = np.einsum("nfij,ncijkl->fckl", dout, win)
    db = dout.sum(axis=(0, 2, 3))
    dxp = np.zeros(xp.shape, dtype=np.result_type(x, w, dout))
    Ho, Wo = dout.shape[2], dout.shape[3]
    contrib = np.einsum("nfij,fckl->ncijkl", dout, w)  # what each window hands back to its entries
    for k in range(HH):  # the windows overlap: add them up one kernel offset at a time
        for l in range(WW):
            dxp[:, :, k:k + stride * (Ho - 1) + 1:stride, l:l + stride * (Wo - 1) + 1:stride] += contrib[..., k, l]
    H, W = x.shape[2], x.shape[3]
    return {"dx": dxp[:, :, pad:pad + H, pad:pad + W], "dw": dw, "db": db}
