"""The reference for another declaration: candidates for ``loss`` and ``regularization``.

A program can be right for a network other than the declared one: another loss, another
target form, or another penalty (missing, extra, in another form, biases included or not,
an L1 part off by a factor). Each alternative is the reference itself run on a modified
``Network`` (``dataclasses.replace``), so it is exactly the gradient that declaration has,
and ``crosscheck.diagnosis.diagnose`` matches it like any mechanism, slips included. An extra penalty's
strength is not declared anywhere: it is fitted from the returned gradients (``got - expected
= c W`` for L2, ``c sign(W)`` for L1) and then verified like the rest.

Another *reduction* alone is a pure factor: ``diagnose`` names it ``scale`` and ``loss`` together.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..model.case import Case
from ..model.losses import LOSSES
from ..model.network import Network
from .mistakes import Candidate, as_float64, backprop

__all__ = ["loss_candidates", "penalty_candidates", "FORM_TEXT"]

FORM_TEXT = {"half": "λ/2·Σ", "full": "λ·Σ", "half_over_m": "λ/(2m)·Σ", "over_m": "λ/m·Σ"}


def _variant(network: Network, **changes: Any) -> Network | None:
    try:
        return replace(network, **changes)
    except (ValueError, TypeError):
        return None


def _candidate(mid: str, detail: str, net: Network, params: Any, X: np.ndarray, Y: Any,
               prior: int = 1) -> Candidate:
    grads, deltas = backprop(net, params, X, Y)
    return Candidate(mid, detail, grads, deltas, tuple(range(1, net.depth + 1)), prior)


def loss_candidates(case: Case) -> list[Candidate]:
    """The gradient of every other loss (and target reading) the network admits."""
    net, (params, X, Y) = case.network, as_float64(case)
    out: list[Candidate] = []
    for name, loss in LOSSES.items():
        if name == net.loss or (loss.needs_target and Y is None):
            continue
        other = _variant(net, loss=name)
        if other is None:
            continue
        out.append(_candidate("loss", f"this is the gradient of --loss {name} ({loss.description}), not of the "
                              f"declared {net.loss}", other, params, X, Y))
    if Y is not None and getattr(net, "targets", "soft") == "soft" and net.loss in ("softmax_ce", "bce"):
        if net.loss == "softmax_ce":
            hard = np.zeros_like(Y)
            hard[np.argmax(Y, axis=0), np.arange(Y.shape[1])] = 1.0
            how = ("the soft targets are read as class labels (argmax over the outputs): the gradient against "
                   "one-hot rows (--targets onehot or labels)")
        else:
            hard = (Y > 0.5).astype(np.float64)
            how = "the soft targets are rounded to 0/1 (--targets binary)"
        if not np.array_equal(hard, Y):
            out.append(_candidate("loss", f"{how}, while the declared targets are soft probabilities", net, params,
                                  X, hard))
    return out


def _penalty_fields(net: Network) -> bool:
    return all(hasattr(net, f) for f in ("l2", "l1", "penalty_form", "penalty_bias"))


def _describe(net: Network) -> str:
    terms = " ".join(f"--{name} {v:g}" for name, v in (("l2", net.l2), ("l1", net.l1)) if v)
    return (f"{terms}, --penalty-form {net.penalty_form} ({FORM_TEXT.get(net.penalty_form, '')})"
            f"{', biases included (--penalty-bias)' if net.penalty_bias else ''}")


def penalty_candidates(case: Case, got: tuple | None = None) -> list[Candidate]:
    """A declared penalty missing, in another form, with biases toggled or its L1 part off by 2;
    an undeclared one fitted from ``got`` (canonical gradients), when given."""
    net, (params, X, Y) = case.network, as_float64(case)
    if not _penalty_fields(net):
        return []
    out: list[Candidate] = []
    if net.l2 or net.l1:
        declared = _describe(net)
        plain = _variant(net, l2=0.0, l1=0.0)
        if plain is not None:
            out.append(_candidate("regularization", f"the penalty's gradient is missing: this is the data loss alone "
                                  f"(declared: {declared})", plain, params, X, Y))
        for form in FORM_TEXT:
            other = _variant(net, penalty_form=form) if form != net.penalty_form else None
            if other is not None:
                out.append(_candidate("regularization", f"the penalty's gradient is that of --penalty-form {form} "
                                      f"({FORM_TEXT[form]}), not the declared {net.penalty_form} "
                                      f"({FORM_TEXT[net.penalty_form]})", other, params, X, Y))
        if net.bias:
            other = _variant(net, penalty_bias=not net.penalty_bias)
            if other is not None:
                what = ("the biases are penalised too" if other.penalty_bias
                        else "the biases are not penalised, though --penalty-bias declares them")
                out.append(_candidate("regularization", f"{what} ({declared})", other, params, X, Y))
        if net.l1:
            for f, words in ((2.0, "twice"), (0.5, "half")):
                other = _variant(net, l1=net.l1 * f)
                if other is not None:
                    out.append(_candidate("regularization", f"the L1 part of the penalty's gradient is {words} the "
                                          f"declared term's: it matches --l1 {net.l1 * f:g} (declared: {declared})",
                                          other, params, X, Y))
    elif got is not None:
        fitted = _fit_extra(net, params, X, Y, got)
        if fitted is not None:
            out.append(_candidate("regularization", f"an undeclared penalty's gradient is added: it is exactly that of "
                                  f"{_describe(fitted)}; declare it, or drop it from the gradient", fitted, params,
                                  X, Y))
    return out


def _fit_extra(net: Network, params: Any, X: np.ndarray, Y: Any, got: tuple) -> Network | None:
    """got - expected = a W + b sign(W) over every weight (and bias, tried both ways), least squares."""
    expected, _ = backprop(net, params, X, Y)
    for with_bias in (True, False):  # biases first: a fit on the weights alone ignores them
        rows, rhs = [], []
        for (gW, gb), (eW, eb), (W, b) in zip(got, expected, params):
            pairs = [(gW, eW, W)] + ([(gb, eb, b)] if with_bias and b is not None else [])
            for g, e, w in pairs:
                rows.append(np.stack([np.ravel(w), np.sign(np.ravel(w))], axis=1))
                rhs.append(np.ravel(np.asarray(g, float) - e))
        A, r = np.vstack(rows), np.concatenate(rhs)
        (a, s), *_ = np.linalg.lstsq(A, r, rcond=None)
        if np.linalg.norm(A @ [a, s] - r) > 1e-6 * max(np.linalg.norm(r), 1e-300) or np.linalg.norm(r) == 0:
            continue
        # form "half": dP/dw = l2 w + l1/2 sign(w), so l2 = a and l1 = 2 s
        l2 = a if abs(a) > 1e-9 * max(abs(a), abs(s)) else 0.0
        l1 = 2 * s if abs(s) > 1e-9 * max(abs(a), abs(s)) else 0.0
        if l2 < 0 or l1 < 0 or not (l2 or l1):
            continue
        fitted = _variant(net, l2=float(l2), l1=float(l1), penalty_form="half", penalty_bias=with_bias)
        if fitted is not None:
            return fitted
    return None
