"""The normalisation layers' part of the layer catalogue (``crosscheck.layers.diagnose``): batchnorm (both
backward forms), spatial batchnorm, layer norm and spatial group norm, each mistake as the value the
mistaken code returns.

    the backward without the path through the mean or the variance, or with both statistics treated as
    constants; the unbiased variance; eps ignored; dgamma and dbeta not summed over the batch, summed over
    the wrong axis, averaged, or of shape (C,) in group norm; normalised over the wrong axes (the other
    layer's, a reshape where a transpose belongs, interleaved groups); running statistics not written
    back, with momentum swapped, or without it.

Separate from the diagnosis because these entries share one geometry (``_norm_geometry``: the axes each
layer normalises over) and are the largest family of the catalogue. Each entry is a plain tuple
``(id, layers, output, detail, value)``, as in ``crosscheck.layers.slips``, so this module imports no
diagnosis; ``value(a, e, g)`` takes the inputs in float64 ``a``, the reference's outputs ``e`` and what
came back ``g``, and returns that output under the mistake, or None where it changes nothing here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..reference.layers import norm

__all__ = ["NORM_MISTAKES"]

Value = Callable[[dict, dict, dict], "np.ndarray | None"]  # (inputs in float64, expected, got) -> array

_BN = ("batchnorm", "batchnorm_alt")
_BN_ALL = _BN + ("spatial_batchnorm",)
_NORM = _BN_ALL + ("layernorm", "spatial_groupnorm")


def _norm_geometry(layer: str, a: dict) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], Callable, Callable]:
    """(x as normalised, gamma broadcastable to it, the axes, to-that-shape, back-to-x's-shape)."""
    x, g = a["x"], a["gamma"]
    if layer in _BN:
        return x, g, (0,), lambda t: t, lambda t: t
    if layer == "layernorm":
        return x, g, (1,), lambda t: t, lambda t: t
    if layer == "spatial_batchnorm":
        return x, g.reshape(1, -1, 1, 1), (0, 2, 3), lambda t: t, lambda t: t
    N, C, H, W = x.shape
    G = a["G"]
    shape = (N, G, C // G, H, W)
    return x.reshape(shape), g.reshape(1, G, C // G, 1, 1), (2, 3, 4), lambda t: t.reshape(shape), \
        lambda t: t.reshape(x.shape)


def _norm_out(layer: str, **kw: Any) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray:
        x, gamma, axes, to, back = _norm_geometry(layer, a)
        eps = kw.get("eps", a["eps"])
        beta = a["beta"] if layer != "spatial_batchnorm" else a["beta"].reshape(1, -1, 1, 1)
        xhat = norm.normalize(x, kw.get("axes", axes), eps, ddof=kw.get("ddof", 0))[0]
        return back(xhat) * (a["gamma"] if layer != "spatial_batchnorm" else gamma) + beta
    return value


def _norm_dx(layer: str, **kw: Any) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray:
        x, gamma, axes, to, back = _norm_geometry(layer, a)
        dxhat = to(a["dout"] * (a["gamma"] if layer != "spatial_batchnorm" else gamma))
        return back(norm.normalize_vjp(dxhat, x, kw.get("axes", axes), kw.get("eps", a["eps"]),
                                       ddof=kw.get("ddof", 0), mean_path=kw.get("mean_path", True),
                                       var_path=kw.get("var_path", True)))
    return value


def _norm_mistakes(layer: str) -> list[tuple]:
    L = (layer,)
    where = "the batch mean" if layer in _BN_ALL else "the mean"
    out = [
        ("mean_path_missing", L, "dx", f"dx has no term through {where} (mu depends on x too: "
                "subtract mean(dxhat))", _norm_dx(layer, mean_path=False)),
        ("var_path_missing", L, "dx", "dx has no term through the variance (subtract xhat * mean(dxhat * xhat))",
                _norm_dx(layer, var_path=False)),
        ("stats_as_constants", L, "dx", "dx = dout * gamma / std: the mean and variance are treated as "
                "constants", _norm_dx(layer, mean_path=False, var_path=False)),
        ("unbiased_variance", L, "out", "normalised with the unbiased variance (ddof=1, N-1); the course "
                "uses the biased one, np.var", _norm_out(layer, ddof=1)),
        ("unbiased_variance", L, "dx", "dx of normalisation with the unbiased variance (N-1); the course "
                "uses the biased one", _norm_dx(layer, ddof=1)),
        ("eps_ignored", L, "out", "normalised with eps = 1e-5 instead of the eps passed in the param dict",
                lambda a, e, g: None if a["eps"] == 1e-5 else _norm_out(layer, eps=1e-5)(a, e, g)),
        ("eps_ignored", L, "dx", "dx computed with eps = 1e-5 instead of the eps passed in",
                lambda a, e, g: None if a["eps"] == 1e-5 else _norm_dx(layer, eps=1e-5)(a, e, g)),
    ]
    reduce_axes = {"batchnorm": (0,), "batchnorm_alt": (0,), "layernorm": (0,), "spatial_batchnorm": (0, 2, 3),
                   "spatial_groupnorm": (0, 2, 3)}[layer]

    def xhat_of(a: dict) -> np.ndarray:
        x, _, axes, _, back = _norm_geometry(layer, a)
        return back(norm.normalize(x, axes, a["eps"])[0])

    out += [
        ("not_reduced_over_n", L, "dgamma", "dgamma = dout * xhat is not summed over the batch",
                lambda a, e, g: a["dout"] * xhat_of(a)),
        ("not_reduced_over_n", L, "dbeta", "dbeta = dout is not summed over the batch",
                lambda a, e, g: a["dout"]),
        ("not_reduced_over_n", L, "dgamma", "dgamma summed over the wrong axis",
                lambda a, e, g: (a["dout"] * xhat_of(a)).sum(axis=1) if a["dout"].ndim == 2 else None),
        ("not_reduced_over_n", L, "dbeta", "dbeta summed over the wrong axis",
                lambda a, e, g: a["dout"].sum(axis=1) if a["dout"].ndim == 2 else None),
        ("not_reduced_over_n", L, "dgamma", "dgamma averaged over the batch instead of summed",
                lambda a, e, g: (a["dout"] * xhat_of(a)).mean(axis=reduce_axes, keepdims=a["dout"].ndim == 4
                                                             and layer == "spatial_groupnorm")),
    ]
    if layer == "spatial_groupnorm":
        out += [("param_shape", L, p, f"{p} has shape (C,); gamma and beta have shape (1, C, 1, 1)",
                        _flat(p)) for p in ("dgamma", "dbeta")]
    # the wrong normalisation axis: the other layer's axes
    wrong: list[tuple[str, Callable[[dict], tuple]]] = []
    if layer in _BN:
        wrong = [("over the features of each sample (axis 1, layer norm) instead of over the batch (axis 0)",
                  lambda a: (a["x"], (1,), lambda t: t, lambda t: t))]
    elif layer == "layernorm":
        wrong = [("over the batch (axis 0, batch norm) instead of over each sample's features (axis 1)",
                  lambda a: (a["x"], (0,), lambda t: t, lambda t: t))]
    elif layer == "spatial_batchnorm":
        def reshaped(a: dict) -> tuple:  # x.reshape(-1, C) without moving C last first
            N, C, H, W = a["x"].shape
            return a["x"].reshape(-1, C), (0,), lambda t: t.reshape(-1, C), lambda t: t.reshape(N, C, H, W)
        wrong = [("x.reshape(-1, C) without first moving the channel axis last (transpose(0, 2, 3, 1)): the "
                  "'channels' mix positions", reshaped),
                 ("over N only, not over N, H and W", lambda a: (a["x"], (0,), lambda t: t, lambda t: t)),
                 ("over H and W of each sample (instance norm) instead of over N, H, W",
                  lambda a: (a["x"], (2, 3), lambda t: t, lambda t: t))]
    elif layer == "spatial_groupnorm":
        def interleaved(a: dict) -> tuple:
            N, C, H, W = a["x"].shape
            G = a["G"]
            shape = (N, C // G, G, H, W)
            return a["x"].reshape(shape), (1, 3, 4), lambda t: t.reshape(shape), lambda t: t.reshape(N, C, H, W)

        def per_sample(a: dict) -> tuple:
            return a["x"], (1, 2, 3), lambda t: t, lambda t: t

        def per_channel(a: dict) -> tuple:
            return a["x"], (2, 3), lambda t: t, lambda t: t

        def over_batch(a: dict) -> tuple:
            N, C, H, W = a["x"].shape
            G = a["G"]
            shape = (N, G, C // G, H, W)
            return a["x"].reshape(shape), (0, 2, 3, 4), lambda t: t.reshape(shape), lambda t: t.reshape(N, C, H, W)
        wrong = [("groups of every G-th channel instead of G groups of C/G contiguous channels", interleaved),
                 ("over all channels of a sample (layer norm, G = 1)", per_sample),
                 ("over each channel alone (instance norm, G = C)", per_channel),
                 ("over the batch too (N, C/G, H, W of a group)", over_batch)]
    for text, geo in wrong:
        out.append(("wrong_norm_axis", L, "out", f"normalised {text}", _wrong_axis_out(layer, geo)))
        out.append(("wrong_norm_axis", L, "dx", f"dx of normalisation {text}", _wrong_axis_dx(layer, geo)))
    if layer in _BN_ALL:
        axes = (0,) if layer in _BN else (0, 2, 3)
        for p, stat in (("running_mean", lambda x: x.mean(axis=axes)), ("running_var", lambda x: x.var(axis=axes))):
            out += [
                ("running_stats", L, p, f"{p} not written back into bn_param", _unchanged(p)),
                ("running_stats", L, p, f"{p} updated as (1 - momentum) * running + momentum * batch: "
                        "momentum weighs the old value", _swapped(p, stat)),
                ("running_stats", L, p, f"{p} set to the batch statistic, without momentum",
                        _batch_only(stat)),
            ]
        out.append(("unbiased_variance", L, "running_var", "running_var updated with the unbiased batch "
                           "variance (N-1); the course uses the biased one",
                           lambda a, e, g: a["momentum"] * a["running_var"] + (1 - a["momentum"])
                           * a["x"].var(axis=axes, ddof=1) if _count(a["x"], axes) > 1 else None))
    return out


def _flat(p: str) -> Value:
    return lambda a, e, g: e[p].reshape(-1)


def _unchanged(p: str) -> Value:
    return lambda a, e, g: a[p]


def _swapped(p: str, stat: Callable) -> Value:
    return lambda a, e, g: (1 - a["momentum"]) * a[p] + a["momentum"] * stat(a["x"])


def _batch_only(stat: Callable) -> Value:
    return lambda a, e, g: stat(a["x"])


def _count(x: np.ndarray, axes: tuple[int, ...]) -> int:
    return int(np.prod([x.shape[i] for i in axes]))


def _wrong_axis_out(layer: str, geo: Callable) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray:
        xs, axes, to, back = geo(a)
        gamma = a["gamma"] if layer != "spatial_batchnorm" else a["gamma"].reshape(1, -1, 1, 1)
        beta = a["beta"] if layer != "spatial_batchnorm" else a["beta"].reshape(1, -1, 1, 1)
        return gamma * back(norm.normalize(xs, axes, a["eps"])[0]) + beta
    return value


def _wrong_axis_dx(layer: str, geo: Callable) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray:
        xs, axes, to, back = geo(a)
        gamma = a["gamma"] if layer != "spatial_batchnorm" else a["gamma"].reshape(1, -1, 1, 1)
        return back(norm.normalize_vjp(to(a["dout"] * gamma), xs, axes, a["eps"]))
    return value


# layer by layer in _NORM's order, as the catalogue always listed them: matches that fit equally well
# are ranked by catalogue order
NORM_MISTAKES: list[tuple] = [m for layer in _NORM for m in _norm_mistakes(layer)]
