"""Weight penalties (L2 and L1) and their scalings: one table of forms, canonical arrays only.

The penalised loss is ``L = reduced data loss + P`` with

    P = c(m) * sum over penalised arrays of (l2 * sum w^2 + l1 * sum |w|)

where the form fixes ``c(m)`` (m is the batch size):

============  ===========  ==============================================================
form          c(m)         written by
============  ===========  ==============================================================
half          1/2          CS231n fc_net.py (``0.5 * reg * sum W*W``); books writing λ/2 ||w||²
full          1            CS231n neural_net.py 2017-2019 (``reg * sum W*W``, gradient 2 reg W)
half_over_m   1/(2m)       deeplearning.ai (``lambd / (2 m) * sum W²``)
over_m        1/m          λ/m Σ (Nielsen's L1 with n = the batch)
============  ===========  ==============================================================

The form applies to both terms, so ``half`` with l1 is ``l1/2 * sum |w|``. The penalised arrays
are the weights, and with ``penalty_bias`` the biases too (seed 000's augmented layout keeps
them apart: its bias column is a bias). The gradient is

    dP/dw = c(m) * (2 l2 w + l1 sign(w))

with sign(0) = 0, the minimal-norm subgradient and torch's ``abs'(0)``; JAX's ``abs'(0)`` is 1.
|w| has a kink at 0 like relu at 0: draws keep |w| >= ``crosscheck.draws.KINK_MARGIN`` unless
kinks are asked for, and the numeric oracles measure the distance (``penalised_arrays``).
Leading axes (stacked draws) broadcast; the value is complex-step safe (|w| is written as
``w sign(Re w)``, analytic away from 0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np


class Penalised(Protocol):
    """What the penalty reads of a network (``crosscheck.model.network.Network`` is one): this module
    sits below the network, which takes its forms and scales from here."""

    l2: float
    l1: float
    penalty_form: str
    penalty_bias: bool

    @property
    def has_penalty(self) -> bool: ...

__all__ = ["PENALTY_FORMS", "penalty_scale", "penalty_value", "penalty_gradient", "add_penalty_gradient",
           "penalised_arrays", "describe_penalty"]

# form -> (c(m), how it reads)
PENALTY_FORMS: dict[str, tuple[Callable[[int], float], str]] = {
    "half": (lambda m: 0.5, "λ/2·Σ"),
    "full": (lambda m: 1.0, "λ·Σ"),
    "half_over_m": (lambda m: 0.5 / m, "λ/(2m)·Σ"),
    "over_m": (lambda m: 1.0 / m, "λ/m·Σ"),
}


def penalty_scale(form: str, m: int) -> float:
    """c(m) of ``form`` for a batch of m samples."""
    return PENALTY_FORMS[form][0](int(m))


def penalised_arrays(network: Penalised, params: Any) -> list[np.ndarray]:
    """The canonical arrays the penalty reads: every W_l, and b_l with ``penalty_bias``."""
    out = []
    for W, b in params:
        out.append(W)
        if network.penalty_bias and b is not None:
            out.append(b)
    return out


def _sum_last(a: np.ndarray, ndim: int) -> np.ndarray:
    return a.sum(axis=tuple(range(-ndim, 0))) if ndim else a


def penalty_value(network: Penalised, params: Any, m: int) -> Any:
    """P for canonical ``params`` (leading draw axes kept): 0.0 without a penalty."""
    if not network.has_penalty:
        return 0.0
    c = penalty_scale(network.penalty_form, m)
    total: Any = 0.0
    for W, b in params:
        parts = [(W, 2)] + ([(b, 1)] if network.penalty_bias and b is not None else [])
        for a, nd in parts:
            if network.l2:
                total = total + network.l2 * _sum_last(a * a, nd)
            if network.l1:
                # |w| as w sign(Re w): the same value for real w, analytic for the complex step
                total = total + network.l1 * _sum_last(a * np.sign(np.real(a)), nd)
    return c * total


def penalty_gradient(network: Penalised, params: Any, m: int, *, sign_at_zero: float = 0.0) -> tuple:
    """dP/d(W_l, b_l) per layer, canonical; ``db`` is None where the bias is not penalised.

    ``sign_at_zero`` is the subgradient of |w| taken at exactly w = 0 (0: the reference's)."""
    c = penalty_scale(network.penalty_form, m)

    def grad(a: np.ndarray) -> np.ndarray:
        g = 2.0 * network.l2 * a
        if network.l1:
            s = np.sign(a)
            if sign_at_zero:
                s = np.where(a == 0, sign_at_zero, s)
            g = g + network.l1 * s
        return (c * g).astype(a.dtype, copy=False)

    return tuple((grad(W), grad(b) if network.penalty_bias and b is not None else None) for W, b in params)


def add_penalty_gradient(network: Penalised, grads: tuple, params: Any, m: int) -> tuple:
    """``grads`` (canonical data-loss gradients) plus dP; unchanged without a penalty."""
    if not network.has_penalty:
        return grads
    out = []
    for (dW, db), (pW, pb) in zip(grads, penalty_gradient(network, params, m)):
        out.append((dW + pW, db if pb is None or db is None else db + pb))
    return tuple(out)


def describe_penalty(network: Penalised) -> str:
    """``" +l2=0.1,l1=0.05(half,bias)"`` for ``Network.describe``; "" without a penalty."""
    if not network.has_penalty:
        return ""
    terms = ",".join(f"{n}={v:g}" for n, v in (("l2", network.l2), ("l1", network.l1)) if v)
    return f" +{terms}({network.penalty_form}{',bias' if network.penalty_bias else ''})"
