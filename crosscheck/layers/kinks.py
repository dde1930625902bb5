"""Kinks of the layer API: relu at 0, the SVM hinge at a margin of exactly 0, ties in a max-pooling
window. There the layer has no derivative, only a set of subgradients, and courses (and frameworks)
pick different members: ``x > 0`` or ``x >= 0`` for relu, ``margin > 0`` or ``>= 0`` for the hinge, the
first or last maximum (or an even split) for pooling. Any member is accepted, and named in a note;
what is outside the set (pooling's dout routed in full to *every* tied maximum, a sum of weights 2) is
a mistake.

Examples with ``kinks`` in their dimensions put inputs exactly on kinks (``place_*``); ``accept_*``
take the reference (the course's own convention) and, where the implementation's answer differs only
at kinks and by a valid subgradient, return its answer as the expected one, with the note.
"""

from __future__ import annotations

import numpy as np

__all__ = ["place_relu", "place_svm", "place_pool", "accept_relu", "accept_svm", "accept_pool"]

# relative to the largest entry: away from kinks the answer must equal the reference up to rounding
_EXACT = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


def place_relu(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """About a third of the entries exactly 0."""
    return np.where(rng.random(x.shape) < 1 / 3, 0.0, x)


def place_svm(N: int, C: int, rng: np.random.Generator) -> np.ndarray:
    """Integer scores: many margins x_j - x_y + 1 are exactly 0, the others at least 1 away."""
    return rng.integers(-2, 3, size=(N, C)).astype(np.float64)


def place_pool(N: int, C: int, H: int, W: int, rng: np.random.Generator) -> np.ndarray:
    """Few distinct values, so windows have tied maxima."""
    return rng.integers(0, 3, size=(N, C, H, W)).astype(np.float64) * 0.5 - 0.5


def _close(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    return bool(np.all(np.abs(a - b) <= tol * scale))


def _tolerance(got: np.ndarray) -> float:
    return _EXACT.get(got.dtype, _EXACT[np.dtype(np.float32)])


def _valid_weights(share: np.ndarray, dout: np.ndarray, tol: float) -> np.ndarray:
    """share / dout within [0, 1] (0 where dout is 0 and so is share)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(dout != 0, share / np.where(dout != 0, dout, 1.0), 0.0)
    ok = np.where(dout != 0, (t >= -tol) & (t <= 1 + tol), np.abs(share) <= tol)
    return np.where(ok, t, np.nan)


def _convention(t: np.ndarray, zero: str, one: str, tol: float) -> str:
    t = t[np.isfinite(t)]
    if t.size == 0 or np.all(np.abs(t) <= tol):
        return zero
    if np.all(np.abs(t - 1) <= tol):
        return one
    return "a value between the two"


def accept_relu(x: np.ndarray, dout: np.ndarray, got: np.ndarray | None, ref: np.ndarray) -> tuple[np.ndarray, str]:
    kink = x == 0
    if not kink.any() or not isinstance(got, np.ndarray) or got.shape != ref.shape:
        return ref, ""
    tol, g = _tolerance(got), got.astype(np.float64)
    if not _close(g[~kink], ref[~kink], tol):
        return ref, ""
    t = _valid_weights(g[kink], dout[kink], tol)
    if np.isnan(t).any():
        return ref, ""
    return g, "relu'(0) taken as " + _convention(t, "0 (x > 0)", "1 (x >= 0)", tol) + " at x = 0: a kink convention"


def accept_svm(x: np.ndarray, y: np.ndarray, got: np.ndarray | None, ref: np.ndarray) -> tuple[np.ndarray, str]:
    N, C = x.shape
    rows = np.arange(N)
    margins = x - x[rows, y][:, None] + 1.0
    label = np.zeros((N, C), dtype=bool)
    label[rows, y] = True
    kink = (margins == 0) & ~label
    if not kink.any() or not isinstance(got, np.ndarray) or got.shape != ref.shape:
        return ref, ""
    tol, g = _tolerance(got), got.astype(np.float64)
    free = ~kink & ~label
    if not _close(g[free], ref[free], tol):
        return ref, ""
    t = _valid_weights(g[kink], np.full(int(kink.sum()), 1.0 / N), tol)
    others = np.where(label, 0.0, g).sum(axis=1)
    if np.isnan(t).any() or not _close(g[rows, y], -others, tol):
        return ref, ""
    return g, "a hinge margin of exactly 0 counted as " + _convention(
        t, "inactive (margin > 0)", "active (margin >= 0)", tol) + ": a kink convention"


def accept_pool(x: np.ndarray, dout: np.ndarray, ph: int, pw: int, stride: int, got: np.ndarray | None,
                ref: np.ndarray) -> tuple[np.ndarray, str]:
    """Non-overlapping windows (stride >= pool size): each window's share of dout may go to any of its
    tied maxima, in weights >= 0 that add up to 1."""
    if stride < ph or stride < pw or not isinstance(got, np.ndarray) or got.shape != ref.shape:
        return ref, ""
    tol, g = _tolerance(got), got.astype(np.float64)
    N, C, Ho, Wo = dout.shape
    tied_any = False
    covered = np.zeros(x.shape, dtype=bool)
    for i in range(Ho):
        for j in range(Wo):
            rs, cs = slice(i * stride, i * stride + ph), slice(j * stride, j * stride + pw)
            win, share = x[:, :, rs, cs], g[:, :, rs, cs]
            covered[:, :, rs, cs] = True
            top = win == win.max(axis=(2, 3), keepdims=True)
            tied_any |= bool((top.sum(axis=(2, 3)) > 1).any())
            d = dout[:, :, i, j][:, :, None, None]
            if not _close(np.where(top, 0.0, share), np.zeros_like(share), tol):
                return ref, ""
            t = _valid_weights(np.where(top, share, 0.0), np.broadcast_to(d, share.shape), tol)
            if np.isnan(t).any() or not _close(np.where(top, t, 0.0).sum(axis=(2, 3)) * (dout[:, :, i, j] != 0),
                                               (dout[:, :, i, j] != 0).astype(float), tol):
                return ref, ""
    if not tied_any or not _close(g[~covered], np.zeros(int((~covered).sum())), tol):
        return ref, ""
    return g, "a tie in a pooling window routed to one maximum or split among them: a kink convention"
