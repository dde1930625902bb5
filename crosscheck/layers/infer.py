"""What a failing layer output is, when no catalogued slip matches: found by comparing the array that
came back with the reference's, not from a list of look-alike formulas.

For one output (``dx``, ``dgamma``, ...) it says how the two relate, most specific first:

- the same values in another shape: keepdims left on ((1, D) for (D,)), another reshape, a transpose;
- a scale factor or a flipped sign; the transpose of a square array;
- for a normalisation's dx, the weights of its three terms (direct, through the mean, through the
  variance) fitted by least squares: which term is missing or off, and by what factor;
- the right values in the wrong places (a reshape where a transpose belongs: which axis order);
- a factor per feature or per sample (the ratio is constant along one axis: a per-column constant such
  as sqrt(var + eps) / sqrt(var) left in or out);
- right everywhere except some entries (the loss's label entries dx[i, y_i]: the correct-class term);
- or wrong values everywhere (with their cosine and norm against the expected array).

Each explanation is ``{id, parameter, detail}`` like the catalogue's; the detail says where and how.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["explain", "INFERRED_IDS", "error_text"]

INFERRED_IDS = ("keepdims_param_grad", "reshaped", "transposed", "scale", "sign", "norm_path_weights", "permuted",
                "axis_factor",
                "svm_label_term", "softmax_label_term", "wrong_entries", "wrong_values")
_CLOSE = 1e-6


def _close(g: np.ndarray, e: np.ndarray) -> bool:
    return float(np.linalg.norm(g - e)) <= _CLOSE * max(float(np.linalg.norm(e)), 1e-300)


def error_text(rel: float, tol: float, expected: Any, got: Any) -> str:
    """The error as a sentence that is true: against an all-zero expected array, the absolute error."""
    e = np.asarray(expected, dtype=np.float64) if expected is not None else None
    if e is not None and e.size and not np.any(e) and got is not None and np.shape(got) == e.shape:
        return f"absolute error {float(np.linalg.norm(np.asarray(got, dtype=np.float64))):.2e} (expected all zeros)"
    return f"relative error {rel:.2e} (tolerance {tol:.0e})"


def explain(layer: str, name: str, got: Any, expected: Any, inputs: dict, reason: str, rel: float,
            tol: float) -> dict:
    """How ``got`` departs from ``expected`` for output ``name`` of ``layer``."""
    def d(i: str, text: str) -> dict:
        return {"id": i, "parameter": name, "detail": text}

    if reason == "nan":
        return d("nan", "contains NaN or infinity (or is not numeric)")
    e = np.asarray(expected, dtype=np.float64)
    if reason == "shape":
        if got is None:
            return d("wrong_shape", f"nothing came back for {name}; expected shape {e.shape}")
        g = np.asarray(got)
        if g.dtype.kind not in "biuf":
            return d("wrong_shape", f"shape {g.shape}, expected {e.shape}")
        g = g.astype(np.float64)
        if g.size == e.size:
            if g.squeeze().shape == e.squeeze().shape and _close(g.reshape(e.shape), e):
                return d("keepdims_param_grad", f"the right values with shape {g.shape}; expected {e.shape}: "
                         "sum without keepdims=True (or reshape to the parameter's shape)")
            if g.ndim == 2 and e.ndim == 2 and g.shape == e.shape[::-1] and _close(g.T, e):
                return d("transposed", f"the transpose of the expected {e.shape} array")
            if _close(g.reshape(e.shape), e):
                return d("reshaped", f"the right values with shape {g.shape}; expected {e.shape}")
        return d("wrong_shape", f"shape {g.shape}, expected {e.shape}")
    g = np.asarray(got, dtype=np.float64)
    denom = float(np.vdot(e, e))
    if denom > 0:
        k = float(np.vdot(g, e)) / denom
        if abs(k) > 1e-12 and _close(g, k * e):
            if abs(k + 1) < 1e-6:
                return d("sign", "the sign is flipped: -1 times the expected value")
            return d("scale", f"{k:.6g} times the expected value" + _factor_hint(k, inputs))
    if g.ndim == 2 and g.shape[0] == g.shape[1] and g.shape[0] > 1 and _close(g.T, e):
        return d("transposed", "the transpose of the expected array")
    paths = _norm_paths(layer, name, g, inputs)
    if paths is not None:
        return d("norm_path_weights", paths)
    permuted = _permuted(g, e)
    if permuted:
        return d("permuted", permuted)
    axis = _axis_factor(g, e)
    if axis is not None:
        which, ratios = axis
        shown = ", ".join(f"{r:.4g}" for r in ratios[:6]) + (", ..." if len(ratios) > 6 else "")
        return d("axis_factor", f"off by a factor per {which} (a constant along the other axis): got / expected = "
                 f"[{shown}]; a per-{which} term (such as 1/sqrt(var + eps)) is wrong or missing")
    off = _departing(g, e)
    if off is not None and layer in ("svm_loss", "softmax_loss") and name == "dx":
        y = inputs.get("y")
        if y is not None and off.any() and np.array_equal(off, _label_mask(off.shape, np.asarray(y)) & off):
            rows = np.flatnonzero(off.any(axis=1))
            i = int(rows[0])
            kind = "svm_label_term" if layer == "svm_loss" else "softmax_label_term"
            want = ("-(the number of positive margins in row i) / N" if layer == "svm_loss" else
                    "(p[i, y_i] - 1) / N")
            return d(kind, f"dx departs only at correct-class entries dx[i, y_i] (rows {rows.tolist()}): e.g. "
                     f"dx[{i}, {int(y[i])}] = {g[i, int(y[i])]:.6g}, expected {e[i, int(y[i])]:.6g}; the "
                     f"correct-class entry is {want}")
    if off is not None and off.sum() <= max(1, off.size // 3):
        where = [tuple(int(v) for v in ix) for ix in np.argwhere(off)[:4]]
        return d("wrong_entries", f"{int(off.sum())} of {off.size} entries depart, at {where}"
                 + (" ..." if off.sum() > 4 else "") + "; the others are right")
    return d("wrong_values", error_text(rel, tol, e, g) + "; no known mistake matches" + _correlation(g, e))


_NORM_AXES = {"batchnorm": (0,), "batchnorm_alt": (0,), "layernorm": (1,), "spatial_batchnorm": (0, 2, 3)}


def _norm_paths(layer: str, name: str, g: np.ndarray, a: dict) -> str | None:
    """A normalisation's dx is the sum of three terms (direct, through the mean, through the variance,
    ``crosscheck.reference.layers.norm``); what came back, fitted as a weighted sum of them by least
    squares. Exact weights other than (1, 1, 1) say which term is wrong and by what factor."""
    axes = _NORM_AXES.get(layer)
    if axes is None or name != "dx" or not all(k in a for k in ("x", "gamma", "dout", "eps")):
        return None
    x, dout = np.asarray(a["x"], dtype=np.float64), np.asarray(a["dout"], dtype=np.float64)
    if g.shape != x.shape or int(np.prod([x.shape[i] for i in axes])) < 2:
        return None
    shape = [1] * x.ndim
    shape[1 if layer == "spatial_batchnorm" else -1] = -1
    mu = x.mean(axis=axes, keepdims=True)
    std = np.sqrt(x.var(axis=axes, keepdims=True) + a["eps"])
    xhat = (x - mu) / std
    dxhat = dout * np.asarray(a["gamma"], dtype=np.float64).reshape(shape)
    terms = [dxhat / std, -dxhat.mean(axis=axes, keepdims=True) / std + 0 * x,
             -xhat * (dxhat * xhat).mean(axis=axes, keepdims=True) / std]
    basis = np.stack([t.ravel() for t in terms], axis=1)
    coef, *_ = np.linalg.lstsq(basis, g.ravel(), rcond=None)
    if float(np.linalg.norm(basis @ coef - g.ravel())) > 1e-6 * max(float(np.linalg.norm(g)), 1e-300):
        return None
    if np.allclose(coef, 1.0, rtol=1e-6):
        return None
    names = ("the direct term dxhat / std", "the term through the mean", "the term through the variance")
    wrong = [f"{n} is {c:.4g} times what it should be" for n, c in zip(names, coef) if abs(c - 1) > 1e-6]
    return ("dx = a * (dxhat / std) - b * mean(dxhat) / std - c * xhat * mean(dxhat * xhat) / std with (a, b, c) = "
            f"({coef[0]:.4g}, {coef[1]:.4g}, {coef[2]:.4g}), expected (1, 1, 1): " + "; ".join(wrong))


def _permuted(g: np.ndarray, e: np.ndarray) -> str:
    """The right values in the wrong places (a reshape where a transpose belongs, an axis moved)."""
    if g.shape != e.shape or g.size < 2 or not np.allclose(np.sort(g.ravel()), np.sort(e.ravel()), rtol=1e-9,
                                                              atol=1e-12 * max(float(np.abs(e).max()), 1e-300)):
        return ""
    if g.ndim >= 2:
        for perm in _axis_orders(g.ndim):
            moved = e.transpose(perm)
            if moved.size == g.size and np.allclose(moved.reshape(g.shape), g, rtol=1e-9, atol=0):
                return (f"the right values in the wrong places: it equals the expected array with its axes in order "
                        f"{perm} then reshaped to {g.shape}; a reshape where a transpose belongs (or the reverse)")
    return "the right values in the wrong places (the same entries, permuted)"


def _axis_orders(n: int) -> list[tuple[int, ...]]:
    from itertools import permutations

    return [p for p in permutations(range(n)) if p != tuple(range(n))]


def _factor_hint(k: float, inputs: dict) -> str:
    x = inputs.get("x")
    if isinstance(x, np.ndarray) and x.ndim >= 1:
        N = x.shape[0]
        for f, text in ((N, "N"), (1 / N, "1/N")):
            if N > 1 and abs(k - f) < 1e-6 * max(1.0, abs(f)):
                return f" (a factor {text}, N = {N})"
    return ""


def _axis_factor(g: np.ndarray, e: np.ndarray) -> tuple[str, list[float]] | None:
    if g.ndim != 2 or min(g.shape) < 2 or not np.all(np.abs(e) > 1e-12 * max(np.abs(e).max(), 1e-300)):
        return None
    ratio = g / e
    for axis, which in ((0, "column (feature)"), (1, "row (sample)")):
        per = ratio.mean(axis=axis, keepdims=True)
        if np.allclose(ratio, per, rtol=1e-6, atol=0) and not np.allclose(per, per.flat[0], rtol=1e-6):
            return which, [float(v) for v in per.ravel()]
    return None


def _departing(g: np.ndarray, e: np.ndarray) -> np.ndarray | None:
    if g.shape != e.shape or g.size < 2:
        return None
    scale = max(float(np.abs(e).max()), 1e-300)
    return np.abs(g - e) > 1e-7 * scale


def _label_mask(shape: tuple, y: np.ndarray) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    if y.shape == (shape[0],):
        m[np.arange(shape[0]), y] = True
    return m


def _correlation(g: np.ndarray, e: np.ndarray) -> str:
    ng, ne = float(np.linalg.norm(g)), float(np.linalg.norm(e))
    if ng == 0:
        return "; it is all zeros"
    if ne == 0:
        return ""
    c = float(np.vdot(g, e)) / (ng * ne)
    return f"; its cosine with the expected array is {c:.3f}, its norm {ng / ne:.3g} times the expected norm"
