"""An undeclared weight penalty, fitted from what the code returns (``crosscheck.check.detect``).

A function that adds a penalty's gradient returns ``dW_l = dW_l(data) + a W_l + s sign(W_l)`` (and the
same on ``db_l`` where the bias is penalised), with ``a = 2 c(m) l2`` and ``s = c(m) l1``
(``crosscheck.model.penalties``). Against a candidate network's unpenalised gradients, ``(a, s)`` is fitted
by least squares over every weight entry; the fit counts only where the penalised gradients then equal the
returned ones exactly (``same_gradients``), the biases either untouched or penalised alike.

The form is read from how ``(a, s)`` changes with the batch size m between two probes: the same on both
(``half`` or ``full``, which give the same gradients with strengths in the ratio 2:1: ``half`` is reported)
or in proportion to 1/m (``half_over_m`` or ``over_m``: ``half_over_m`` is reported). One batch size
(``--batch single``: m = 1 on both) cannot tell them apart, and at m = 1 the forms coincide: ``half``.
A form the user declared is kept, and a fit that contradicts it is no fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..diagnosis.neighbourhood import same_gradients
from ..model.penalties import add_penalty_gradient, penalty_scale

__all__ = ["Fit", "fit_penalty", "penalty_fitter", "penalty_options"]


@dataclass(frozen=True)
class Fit:
    """``a``: the coefficient of W (2 c(m) l2), ``s``: of sign(W) (c(m) l1), at batch size ``m``."""

    a: float
    s: float
    bias: bool
    m: int


class _Penalty:
    """What ``add_penalty_gradient`` reads, with c(m) = 1 (``full``): a W + s sign(W) is l2 = a/2, l1 = s."""

    def __init__(self, a: float, s: float, bias: bool) -> None:
        self.l2, self.l1, self.penalty_form, self.penalty_bias = a / 2, s, "full", bias

    @property
    def has_penalty(self) -> bool:
        return self.l2 > 0 or self.l1 > 0


def fit_penalty(got: tuple, want: tuple, params: tuple, m: int) -> Fit | None:
    """The penalty that turns ``want`` (a network's unpenalised gradients, canonical) into ``got``; None
    where none does exactly, or the fit is no penalty at all (``a`` and ``s`` both 0)."""
    return penalty_fitter(got, params, m)(want)


def penalty_fitter(got: tuple, params: tuple, m: int) -> Callable[[tuple], Fit | None]:
    """``fit_penalty`` with ``got`` and ``params`` fixed, for many candidate networks' ``want`` (detection
    compares hundreds): the weights' normal equations are set up once."""
    try:
        W = np.concatenate([np.ravel(p[0]) for p in params])
        gW = np.concatenate([np.ravel(g[0]) for g in got])
    except (ValueError, TypeError):
        return lambda want: None
    if gW.shape != W.shape or not np.all(np.isfinite(gW)):
        return lambda want: None
    S = np.sign(W)
    basis = np.stack([W, S])
    gram = basis @ basis.T
    if abs(np.linalg.det(gram)) <= 1e-12 * float(np.trace(gram)) ** 2:
        return lambda want: None  # W and sign(W) proportional: an L2 and an L1 term cannot be told apart
    inverse = np.linalg.inv(gram)
    scale = max(float(np.max(np.abs(np.concatenate([np.ravel(a) for pair in got for a in pair
                                                      if a is not None])))), 1e-300)
    tops = (float(np.max(np.abs(W))), 1.0)

    def fit(want: tuple) -> Fit | None:
        try:
            R = gW - np.concatenate([np.ravel(w[0]) for w in want])
        except ValueError:
            return None
        coef = inverse @ (basis @ R)
        if np.max(np.abs(R - coef @ basis)) > 1e-6 * scale:  # the weights alone rule it out: no exact fit
            return None
        # a coefficient whose whole contribution is below the comparison's precision is no penalty
        a, s = (0.0 if abs(c) * top <= 1e-9 * scale else float(c) for c, top in zip(coef, tops))
        if a < 0 or s < 0 or (a == 0 and s == 0):
            return None
        for bias in (False, True):
            if bias and all(p[1] is None for p in params):
                break
            if same_gradients(got, add_penalty_gradient(_Penalty(a, s, bias), want, params, m)):
                return Fit(a, s, bias, m)
        return None

    return fit


def _nice(x: float) -> float:
    """``x`` with the rounding error of the fit taken off (0.1 rather than 0.10000000000000002)."""
    for digits in range(1, 13):
        r = float(f"{x:.{digits}g}")
        if abs(r - x) <= 1e-9 * abs(x):
            return r
    return x


def penalty_options(first: Fit, second: Fit, form: str | None = None) -> dict | None:
    """``{"l2", "l1", "penalty_form", "penalty_bias"}`` from two fits at batch sizes ``first.m`` and
    ``second.m`` (``form``: the declared form, kept); None where the two disagree on what they fit."""
    if first.bias != second.bias or (first.a == 0) != (second.a == 0) or (first.s == 0) != (second.s == 0):
        return None
    close = lambda x, y: abs(x - y) <= 1e-6 * max(abs(x), abs(y))  # noqa: E731
    same = close(first.a, second.a) and close(first.s, second.s)
    over_m = close(first.a * first.m, second.a * second.m) and close(first.s * first.m, second.s * second.m)
    if first.m == second.m:
        forms = ("half", "full", "half_over_m", "over_m") if first.m == 1 else ("half", "full")
        forms = forms if same else ()
    else:
        forms = ("half", "full") if same else (("half_over_m", "over_m") if over_m else ())
    if form is not None:
        forms = tuple(f for f in forms if f == form)
    if not forms:
        return None
    c = penalty_scale(forms[0], first.m)
    return {"l2": _nice(first.a / (2 * c)), "l1": _nice(first.s / c), "penalty_form": forms[0],
            "penalty_bias": first.bias}
