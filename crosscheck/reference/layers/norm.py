"""Normalisation layers, CS231n's batchnorm, layernorm, spatial batchnorm and spatial groupnorm
(train mode), on one core: normalise x over a set of axes, then scale and shift per feature.

    mu = mean(x), var = mean((x - mu)^2)      over the normalised axes (biased: the course's np.var)
    xhat = (x - mu) / sqrt(var + eps);   out = gamma * xhat + beta

With n the number of entries each statistic averages and dxhat = dout * gamma, the VJP is

    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)
            ^ direct path   ^ path through mu   ^ path through var
    dgamma = sum(dout * xhat), dbeta = sum(dout)   over every axis gamma is broadcast along

| layer | x | normalised over | gamma, beta |
|---|---|---|---|
| batchnorm | (N, D) | N (axis 0) | (D,) |
| layernorm | (N, D) | D (axis 1) | (D,) |
| spatial batchnorm | (N, C, H, W) | N, H, W | (C,) |
| spatial groupnorm | (N, C, H, W) | each group of C/G contiguous channels, H, W | (1, C, 1, 1) |

Running statistics (batchnorm, spatial batchnorm): ``running = momentum * running + (1 - momentum) *
batch``, with the biased batch variance, as the course's docstring specifies. ``ddof=1`` (the unbiased
variance) exists for the diagnosis of that mistake; the layers use ``ddof=0``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["batchnorm_forward", "batchnorm_vjp", "layernorm_forward", "layernorm_vjp",
           "spatial_batchnorm_forward", "spatial_batchnorm_vjp", "groupnorm_forward", "groupnorm_vjp",
           "running_stats", "normalize", "normalize_vjp", "cancellation_scales"]

Axes = tuple[int, ...]


# ---- the core ------------------------------------------------------------------------------------

def normalize(x: np.ndarray, axes: Axes, eps: float, *, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """xhat (x's shape) and sqrt(var + eps) (kept dims) over ``axes``."""
    mu = x.mean(axis=axes, keepdims=True)
    n = _count(x, axes)
    var = ((x - mu) ** 2).sum(axis=axes, keepdims=True) / (n - ddof)
    std = np.sqrt(var + eps)
    return (x - mu) / std, std


def normalize_vjp(dxhat: np.ndarray, x: np.ndarray, axes: Axes, eps: float, *, ddof: int = 0,
                  mean_path: bool = True, var_path: bool = True) -> np.ndarray:
    """dx from dxhat = dL/dxhat. ``mean_path``/``var_path`` False drop that path (diagnosis only)."""
    xhat, std = normalize(x, axes, eps, ddof=ddof)
    n = _count(x, axes)
    dx = dxhat
    if mean_path:
        dx = dx - dxhat.mean(axis=axes, keepdims=True)
    if var_path:
        # d var / d x = 2 (x - mu) / (n - ddof); xhat * std = x - mu
        dx = dx - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True) / (n - ddof)
    return dx / std


def cancellation_scales(dout: np.ndarray, gamma: np.ndarray, x: np.ndarray, axes: Axes, eps: float,
                        param_axes: Axes, grouped: tuple[int, ...] | None = None) -> dict[str, float]:
    """The size of the terms that cancel in out, dx and dgamma: rounding in any implementation scales
    with them, not with what is left (xhat = x/std - mu/std; dx = (dxhat - mean(dxhat) - ...)/std).
    ``gamma`` broadcasts to x; ``grouped`` is group norm's (N, G, C/G, H, W)."""
    xs = x.reshape(grouped) if grouped else x
    std = normalize(xs, axes, eps)[1]
    terms = np.abs(xs) / std
    dxhat_terms = np.abs(dout * gamma).reshape(xs.shape) / std
    if grouped:
        terms, dxhat_terms = terms.reshape(x.shape), dxhat_terms.reshape(x.shape)
    return {"out": float(np.linalg.norm(gamma * terms)), "dx": float(np.linalg.norm(dxhat_terms)),
            "dgamma": float(np.linalg.norm((np.abs(dout) * terms).sum(axis=param_axes)))}


def _count(x: np.ndarray, axes: Axes) -> int:
    return int(np.prod([x.shape[a] for a in axes]))


def running_stats(x: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray, momentum: float,
                  axes: Axes, *, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The updated (running_mean, running_var), per feature (the axes not in ``axes``)."""
    mean = x.mean(axis=axes)
    var = x.var(axis=axes, ddof=ddof)
    return momentum * running_mean + (1 - momentum) * mean, momentum * running_var + (1 - momentum) * var


# ---- the layers ------------------------------------------------------------------------------------

def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float, *,
                      ddof: int = 0) -> np.ndarray:
    """x: (N, D), gamma, beta: (D,) -> out: (N, D)."""
    return gamma * normalize(x, (0,), eps, ddof=ddof)[0] + beta


def batchnorm_vjp(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float, *,
                  ddof: int = 0) -> dict[str, np.ndarray]:
    xhat, _ = normalize(x, (0,), eps, ddof=ddof)
    return {"dx": normalize_vjp(dout * gamma, x, (0,), eps, ddof=ddof),
            "dgamma": (dout * xhat).sum(axis=0), "dbeta": dout.sum(axis=0)}


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """x: (N, D), gamma, beta: (D,); each sample normalised over its D features."""
    return gamma * normalize(x, (1,), eps)[0] + beta


def layernorm_vjp(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                  eps: float) -> dict[str, np.ndarray]:
    xhat, _ = normalize(x, (1,), eps)
    return {"dx": normalize_vjp(dout * gamma, x, (1,), eps),
            "dgamma": (dout * xhat).sum(axis=0), "dbeta": dout.sum(axis=0)}


_SPATIAL = (0, 2, 3)


def spatial_batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """x: (N, C, H, W), gamma, beta: (C,); each channel normalised over N, H and W."""
    g, b = gamma.reshape(1, -1, 1, 1), beta.reshape(1, -1, 1, 1)
    return g * normalize(x, _SPATIAL, eps)[0] + b


def spatial_batchnorm_vjp(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                          eps: float) -> dict[str, np.ndarray]:
    xhat, _ = normalize(x, _SPATIAL, eps)
    return {"dx": normalize_vjp(dout * gamma.reshape(1, -1, 1, 1), x, _SPATIAL, eps),
            "dgamma": (dout * xhat).sum(axis=_SPATIAL), "dbeta": dout.sum(axis=_SPATIAL)}


_GROUP = (2, 3, 4)


def groupnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, G: int, eps: float) -> np.ndarray:
    """x: (N, C, H, W), gamma, beta: (1, C, 1, 1); G groups of C/G contiguous channels per sample."""
    N, C, H, W = x.shape
    xhat = normalize(x.reshape(N, G, C // G, H, W), _GROUP, eps)[0].reshape(x.shape)
    return gamma * xhat + beta


def groupnorm_vjp(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, G: int,
                  eps: float) -> dict[str, np.ndarray]:
    N, C, H, W = x.shape
    xg = x.reshape(N, G, C // G, H, W)
    xhat = normalize(xg, _GROUP, eps)[0].reshape(x.shape)
    dxhat = (dout * gamma).reshape(xg.shape)
    return {"dx": normalize_vjp(dxhat, xg, _GROUP, eps).reshape(x.shape),
            "dgamma": (dout * xhat).sum(axis=_SPATIAL, keepdims=True),
            "dbeta": dout.sum(axis=_SPATIAL, keepdims=True)}
