"""What each expression computes, in NumPy: the reference's definition and each documented deviation.

A ``Model`` is the value of a function and the derivative (a vector-Jacobian product) of
``sum(w * f(x))``, for ``x: (k,)`` (elementwise functions, one point per entry) or one input
array (row-wise functions and losses, ``x: (m, n)`` with samples as rows, and a fixed ``target``).

Where crosscheck's own tables define the function (``crosscheck.model.activations``, ``crosscheck.model.losses``)
the reference is read from there, so the audit checks the same definitions the sweep uses; the
functions those tables do not hold (selu, silu, hardtanh, relu6, log_sigmoid, softmax, ...) are
defined here from their formulas. Each model evaluates in the dtype of ``x`` where NumPy allows, so
the audit sees how well conditioned the formula itself is in float32 (``probes.close``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model.activations import get_activation
from ..model.losses import get_loss

__all__ = ["Model", "elementwise", "activation", "with_kinks", "MODELS"]


@dataclass(frozen=True)
class Model:
    """``value(x, target) -> f(x)``; ``vjp(x, target, w) -> d sum(w * f(x)) / dx``, shaped like x.

    ``abs_error(x, eps) -> (value error, derivative error)`` bounds, in absolute terms, how far an
    implementation of a formula that cancels may land from it (``eps``: the dtype's): its exact
    digits cannot be predicted, only that it is this formula and not another."""

    value: Callable[[np.ndarray, Any], np.ndarray]
    vjp: Callable[[np.ndarray, Any, Any], np.ndarray]
    abs_error: Callable[[np.ndarray, float], tuple] | None = None


def elementwise(value: Callable, prime: Callable) -> Model:
    return Model(lambda x, t: value(x), lambda x, t, w: w * prime(x))


def activation(name: str) -> Model:
    """The reference activation ``name`` of ``crosscheck.model.activations`` (``"relu:1"`` works too)."""
    act = get_activation(name)
    return elementwise(act.value, act.prime)


def with_kinks(model_value: Callable, prime: Callable, at: dict[float, float]) -> Model:
    """An elementwise model whose derivative exactly at each kink in ``at`` is the given number."""
    def p(x):
        d = np.asarray(prime(x), dtype=np.result_type(x, np.float32))
        for k, g in at.items():
            d = np.where(x == k, g, d)
        return d.astype(x.dtype, copy=False)
    return elementwise(model_value, p)


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _selu(x):
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))


def _selu_prime(x):
    return SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0))).astype(x.dtype)


def expm1_grad(alpha: float = 1.0, scale: float = 1.0) -> Model:
    """elu / selu as JAX differentiates them: expm1's derivative taken as expm1(x) + 1, which
    cancels in the negative tail (0 in float32 below x ~ -17; 1.7e-4 relative error at -30 in float64)."""
    def value(x):
        return scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype)

    def prime(x):
        return (scale * np.where(x > 0, 1.0, alpha * (np.expm1(np.minimum(x, 0)) + 1))).astype(x.dtype)

    return elementwise(value, prime)


def gelu_one_plus_erf() -> Model:
    """torch's erf gelu: 0.5 x (1 + erf(x / sqrt 2)), whose 1 + erf cancels in the negative tail
    (the exact value there is 0.5 x erfc(-x / sqrt 2))."""
    erf = np.vectorize(math.erf, otypes=[float])

    def value(x):
        return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))

    def prime(x):
        return 0.5 * (1.0 + erf(x / np.sqrt(2.0))) + x * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)

    # 1 + erf near erf = -1 carries erf's rounding (a few eps) as an absolute error: times x/2 in
    # the value, 1/2 in the derivative (torch's float32 SIMD kernel: 3e-3 relative at x = -5, 0 below -6.2)
    return Model(lambda x, t: value(x), lambda x, t, w: w * prime(x),
                 lambda x, eps: (4 * eps * np.abs(x), 4 * eps * np.ones_like(x)))


def _sigmoid(x):
    return get_activation("sigmoid").value(x)


def _log_sigmoid(x):
    return -get_activation("softplus").value(-x)


def softplus_threshold(threshold: float, beta: float = 1.0) -> Model:
    """torch.nn.functional.softplus: log(1 + exp(beta x)) / beta, and x itself where beta x > threshold."""
    sp = get_activation("softplus")
    return elementwise(lambda x: np.where(beta * x > threshold, x, sp.value(beta * x) / beta).astype(x.dtype),
                       lambda x: np.where(beta * x > threshold, 1.0, sp.prime(beta * x)).astype(x.dtype))


def ftz(model: Model, dtype: str = "float32") -> Model:
    """``model`` with results below ``dtype``'s smallest normal number flushed to zero (XLA on CPU)."""
    def flush(v):
        v = np.asarray(v)
        return np.where(np.abs(v) < np.finfo(dtype).tiny, 0 * v, v)
    return Model(lambda x, t: flush(model.value(x, t)), lambda x, t, w: flush(model.vjp(x, t, w)))


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _log_softmax(x):
    s = x - x.max(-1, keepdims=True)
    return s - np.log(np.exp(s).sum(-1, keepdims=True))


SOFTMAX = Model(lambda x, t: _softmax(x), lambda x, t, w: _softmax(x) * (w - (w * _softmax(x)).sum(-1, keepdims=True)))
LOG_SOFTMAX = Model(lambda x, t: _log_softmax(x),
                    lambda x, t, w: w - _softmax(x) * w.sum(-1, keepdims=True))


def _max_split(x, t, w):
    """d max / dx with a tie split evenly between the maxima (the symmetric subgradient)."""
    hit = (x == x.max(-1, keepdims=True)).astype(x.dtype)
    return w[..., None] * hit / hit.sum(-1, keepdims=True)


def _max_first(x, t, w):
    """d max / dx with the whole derivative on the first maximum (an argmax)."""
    out = np.zeros_like(x)
    np.put_along_axis(out, x.argmax(-1)[..., None], np.asarray(w, dtype=x.dtype)[..., None], axis=-1)
    return out


MAX_SPLIT = Model(lambda x, t: x.max(-1), _max_split)
MAX_FIRST = Model(lambda x, t: x.max(-1), _max_first)


def _norm_vjp(x, t, w, at_zero):
    n = np.sqrt((x * x).sum())
    if n == 0:
        return np.full_like(x, at_zero)
    return w * x / n


NORM = Model(lambda x, t: np.sqrt((x * x).sum()), lambda x, t, w: _norm_vjp(x, t, w, 0.0))
NORM_NAN_AT_ZERO = Model(NORM.value, lambda x, t, w: _norm_vjp(x, t, w, np.nan))


def variance(correction: int) -> Model:
    def value(x, t):
        return ((x - x.mean()) ** 2).sum() / (x.size - correction)
    return Model(value, lambda x, t, w: w * 2 * (x - x.mean()) / (x.size - correction))


# ---- losses: x and target are (m, n), samples as rows; crosscheck.model.losses works on (n, m) -------
def _table_loss(name: str, *, reduce: str = "samples", scale: float = 1.0) -> Model:
    """Loss ``name`` of crosscheck.model.losses, mean over the m samples (``reduce="samples"``, the
    reference's mean) or over all m*n elements (``"elements"``), times ``scale``."""
    loss = get_loss(name)

    def divisor(x):
        return x.shape[0] * (x.shape[1] if reduce == "elements" else 1)

    def value(x, t):
        with np.errstate(divide="ignore", invalid="ignore"):
            return scale * loss.value(x.T, np.asarray(t).T, None).sum() / divisor(x)

    def vjp(x, t, w):
        with np.errstate(divide="ignore", invalid="ignore"):
            return w * scale * loss.grad(x.T, np.asarray(t).T, None).T / divisor(x)

    return Model(value, vjp)


def _bce_clamped(log_floor: float, denominator_floor: float) -> Model:
    """torch.nn.functional.binary_cross_entropy: each log clamped below at ``log_floor`` and the
    gradient's p (1 - p) at ``denominator_floor`` (torch's EPSILON, 1e-12 as a float32 constant:
    9.99999996e-13, visible in float64); mean over every element."""
    def value(p, y):
        with np.errstate(divide="ignore"):
            lp, l1p = np.maximum(np.log(p), log_floor), np.maximum(np.log1p(-p), log_floor)
        return -(y * lp + (1 - y) * l1p).mean()

    def vjp(p, y, w):
        return w * (p - y) / np.maximum(p * (1 - p), denominator_floor) / p.size

    return Model(value, vjp)


def _bce_logits(x, y):
    return (get_activation("softplus").value(x) - y * x).mean()


BCE_LOGITS = Model(_bce_logits, lambda x, y, w: w * (_sigmoid(x) - y) / x.size)


def _one_hot(labels, k):
    return (np.asarray(labels)[:, None] == np.arange(k)).astype(float)


def ce_labels(*, smoothing: float = 0.0, ignore_index: int | None = None) -> Model:
    """Cross-entropy of softmax(x) against integer labels, mean over samples; targets smoothed as
    (1 - smoothing) one_hot + smoothing / k; samples labelled ``ignore_index`` dropped from the
    sum and the count (torch). Without ``ignore_index`` a label outside 0..k-1 gives nan."""
    def target(x, labels):
        k = x.shape[-1]
        labels = np.asarray(labels)
        keep = labels != ignore_index if ignore_index is not None else np.ones(labels.shape, bool)
        y = (1 - smoothing) * _one_hot(labels, k) + smoothing / k
        y[~keep] = 0.0
        if ignore_index is None:
            y[(labels < 0) | (labels >= k)] = np.nan
        return y, max(int(keep.sum()), 1)

    def value(x, labels):
        y, count = target(x, labels)
        return -(y * _log_softmax(x)).sum() / count

    def vjp(x, labels, w):
        y, count = target(x, labels)
        return w * (_softmax(x) * y.sum(-1, keepdims=True) - y) / count

    return Model(value, vjp)


MODELS: dict[str, Model] = {
    "abs": with_kinks(np.abs, np.sign, {0.0: 0.0}),
    "selu": with_kinks(_selu, _selu_prime, {0.0: SELU_SCALE * SELU_ALPHA}),
    "silu": elementwise(lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
    "hardtanh": with_kinks(lambda x: np.clip(x, -1, 1), lambda x: (np.abs(x) < 1).astype(x.dtype), {}),
    "relu6": with_kinks(lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)).astype(x.dtype), {}),
    "log_sigmoid": elementwise(_log_sigmoid, lambda x: _sigmoid(-x)),
    "softmax": SOFTMAX,
    "log_softmax": LOG_SOFTMAX,
    "max": MAX_SPLIT,
    "norm": NORM,
    "var": variance(0),
    "mse": _table_loss("sse"),
    "bce": _table_loss("bce"),
    "bce_with_logits": BCE_LOGITS,
    "cross_entropy": ce_labels(),
    "cross_entropy_probs": _table_loss("softmax_ce"),
    "label_smoothing": ce_labels(smoothing=0.1),
}

# the documented deviations, by the convention that produces them
DEVIATIONS: dict[str, Callable[..., Model]] = {
    "mse_elements": lambda: _table_loss("sse", reduce="elements"),
    "l2_half_elements": lambda: _table_loss("sse", reduce="elements", scale=0.5),
    "bce_clamped": _bce_clamped,
    "softplus_threshold": softplus_threshold,
    "max_first": lambda: MAX_FIRST,
    "norm_nan": lambda: NORM_NAN_AT_ZERO,
    "variance": variance,
    "ce_labels": ce_labels,
    "gelu_tanh": lambda: activation("gelu_tanh"),
}
