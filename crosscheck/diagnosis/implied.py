"""Implied derivatives: which sigma' a program really used, named against the declared activation.

Two halves, both generic over the activation table (nothing here names an activation):

- ``wrong_derivatives(act)``: a library of plausible wrong derivatives of ``act``, built from
  its table entry (value and derivative) and a few algebraic forms in the activation
  ``a = sigma(z)``: evaluated at A instead of Z, the value instead of the derivative, a form
  such as ``1 - a`` where the true derivative is ``1 - a^2`` (the square missing) or ``a``
  where it is ``a (1 - a)`` (a factor missing), a form in ``a`` fed ``z``, and for activations
  with kinks each of these on one side of the kink only. Which algebraic identities the true
  derivative satisfies is measured on sample points, so the sentences follow from the table.
- ``implied_sigma_prime(...)``: per unit, the sigma' a program used in one layer, solved from
  its returned ``dW``/``db`` (exact when the layer's input ``[A_{l-1}; 1]`` has rank m), and
  ``describe_implied`` names it: a form of the library, or a constant on one side of a kink.

Canonical shapes: ``Z_l, A_l, delta_l: (n_l, m)``, ``W_l: (n_l, n_{l-1})``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..model.activations import get_activation

__all__ = ["WrongDerivative", "wrong_derivatives", "implied_sigma_prime", "describe_implied"]

Fn = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (z, a) -> values, elementwise


@dataclass(frozen=True)
class WrongDerivative:
    """One wrong sigma': ``fn(z, a)`` and the sentence naming it (``"tanh' computed as 1 - tanh(z):
    the square is missing"``). ``branch`` is "" or "z < 0" / "z > 0" where it applies to one side only."""

    key: str
    fn: Fn
    sentence: str
    branch: str = ""


# algebraic forms g(a) a derivative may be written in; "f" stands for the activation's name
_FORMS: tuple[tuple[str, str, Callable[[np.ndarray], np.ndarray]], ...] = (
    ("1-a2", "1 - f(z)^2", lambda a: 1.0 - a * a),
    ("a(1-a)", "f(z) (1 - f(z))", lambda a: a * (1.0 - a)),
    ("1-a", "1 - f(z)", lambda a: 1.0 - a),
    ("a", "f(z)", lambda a: a),
    ("a2", "f(z)^2", lambda a: a * a),
    ("1+a", "1 + f(z)", lambda a: 1.0 + a),
)
# (true form, wrong form) -> what went wrong
_RELATIONS = {
    ("1-a2", "1-a"): "the square is missing",
    ("1-a2", "a2"): "'1 -' is missing",
    ("1-a2", "a(1-a)"): "that is the sigmoid-style form a (1 - a), not 1 - a^2",
    ("a(1-a)", "a"): "the factor (1 - f(z)) is missing",
    ("a(1-a)", "1-a"): "the factor f(z) is missing",
    ("a(1-a)", "1-a2"): "that is the tanh-style form 1 - a^2, not a (1 - a)",
    ("1+a", "a"): "the value, not the derivative",
}
_FORM_TEXT = {key: text for key, text, _g in _FORMS}
_PROBE = np.concatenate([np.linspace(-2.5, -0.05, 23), np.linspace(0.05, 2.5, 23)])


def _branches(act) -> list[tuple[str, np.ndarray]]:
    """Sample points per side of the kinks ("" when the activation is smooth)."""
    if not act.kinks:
        return [("", _PROBE)]
    k = act.kinks[0]
    return [(f"z < {k:g}", _PROBE[_PROBE < 0] + k), (f"z > {k:g}", _PROBE[_PROBE > 0] + k)]


@cache
def _true_forms(name: str) -> dict[str, str]:
    """branch -> the algebraic form the true derivative equals there ("" when none does)."""
    act = get_activation(name)
    out = {}
    for branch, z in _branches(act):
        a, d = act.value(z), act.derivative(z)
        if np.allclose(d, d[0]):
            out[branch] = ""  # a constant is no form in a (relu's 0 equals a (1 - a) there, trivially)
            continue
        out[branch] = next((key for key, _f, g in _FORMS if np.allclose(g(a), d, rtol=1e-9, atol=1e-12)), "")
    return out


def _split(act, branch: str, wrong: Fn, right: Fn) -> Fn:
    if not branch:
        return wrong
    k = act.kinks[0]
    below = branch.startswith("z <")

    def fn(z, a):
        side = (np.real(z) < k) if below else (np.real(z) > k)
        return np.where(side, wrong(z, a), right(z, a))
    return fn


@cache
def wrong_derivatives(name: str) -> tuple[WrongDerivative, ...]:
    """Plausible wrong derivatives of activation ``name``, each distinct from the true one on its branch.

    Missing sigma' (the factor 1) and another activation's derivative are named elsewhere
    (``crosscheck.diagnosis.mistakes``); a derivative that differs only exactly at a kink is
    ``kink_convention``'s business."""
    act = get_activation(name)
    f = name.partition(":")[0]
    true_form = _true_forms(name)
    right: Fn = lambda z, a: act.prime(z)  # noqa: E731
    whole: list[tuple[str, Fn, str]] = [
        ("at_activation", lambda z, a: act.prime(a), f"{f}' is evaluated at the activation A = {f}(Z) instead of "
                                                    "the pre-activation Z"),
        ("value", lambda z, a: act.value(z), f"{f}' computed as {f}(z) itself: the value, not the derivative"),
    ]
    for key, formula, g in _FORMS:
        text = formula.replace("f(", f"{f}(")
        whole.append((key, lambda z, a, g=g: g(a), text))
        whole.append((f"{key}@z", lambda z, a, g=g: g(z), formula.replace("f(z)", "z")))
    out: list[WrongDerivative] = []
    truth = act.derivative(_PROBE)
    seen: list[np.ndarray] = [truth]
    sides = [("", "")] + ([(b, true_form.get(b, "")) for b, _ in _branches(act)] if act.kinks else [])
    for branch, own in sides:
        if not act.kinks:
            own = true_form.get("", "")
        where = f" for {branch}" if branch else ""
        for key, fn, text in whole:
            composed = _split(act, branch, fn, right)
            vals = composed(_PROBE, act.value(_PROBE))
            if any(np.allclose(vals, v, rtol=1e-9, atol=1e-12) for v in seen):
                continue  # the right derivative in another form, or an earlier, simpler entry
            if key in ("at_activation", "value"):
                sentence = text if not branch else text.replace(f"{f}' ", f"{f}'{where} ", 1)
            elif key.endswith("@z"):
                form = key[:-2]
                if own != form:
                    continue  # "written in a, fed z" only when the true derivative is that form in a
                true_text = _FORM_TEXT[form].replace("f(z)", "a")
                sentence = (f"{f}'{where} is written in terms of the activation ({true_text}) but fed the "
                            f"pre-activation: {text}")
            else:
                relation = _RELATIONS.get((own, key), "")
                if not relation:
                    continue  # a form unrelated to the true derivative is no plausible slip
                true_text = _FORM_TEXT.get(own, "").replace("f(", f"{f}(")
                sentence = f"{f}'{where} computed as {text}: {relation.replace('f(z)', f'{f}(z)')}"
                if true_text:
                    sentence += f" ({f}' = {true_text}{where})"
            seen.append(vals)
            out.append(WrongDerivative(f"{key}{'|' + branch if branch else ''}", composed, sentence, branch))
    return tuple(out)


# ---- what a program used, solved from its gradients ----------------------------------------------------

def implied_sigma_prime(upstream: np.ndarray, A_prev: np.ndarray, dW: np.ndarray, db: np.ndarray | None,
                        *, rtol: float = 1e-8) -> np.ndarray | None:
    """Per unit and sample, the sigma' a program used in one layer, or None if not identifiable.

    The program's ``delta = upstream o s`` satisfies ``dW = delta A_prev^T`` and ``db = delta 1``:
    per unit i, ``[A_prev; 1]^T``-systems in the m unknowns ``delta[i, :]``, solvable exactly when
    ``[A_prev; 1]`` has rank m. ``upstream: (n_l, m)`` is ``W_{l+1}^T delta_{l+1}`` (or dL/dA_k);
    entries where it is ~0 come back NaN (that sample tells nothing about s there)."""
    M = A_prev if db is None else np.vstack([A_prev, np.ones((1, A_prev.shape[1]))])  # (n_{l-1}(+1), m)
    m = M.shape[1]
    if np.linalg.matrix_rank(M) < m:
        return None
    rhs = dW if db is None else np.hstack([dW, db[:, None]])  # (n_l, n_{l-1}(+1))
    delta, *_ = np.linalg.lstsq(M, rhs.T, rcond=None)  # (m, n_l): M delta_i = rhs_i per unit
    delta = delta.T
    scale = max(float(np.linalg.norm(rhs)), 1e-300)
    if float(np.linalg.norm(delta @ M.T - rhs)) > rtol * 1e3 * scale:
        return None  # no delta explains dW and db together: not a sigma' mistake
    with np.errstate(divide="ignore", invalid="ignore"):
        s = delta / upstream
    tiny = 1e-8 * max(float(np.abs(upstream).max()), 1e-300)
    return np.where(np.abs(upstream) > tiny, s, np.nan)


def describe_implied(name: str, z: np.ndarray, s: np.ndarray, *, rtol: float = 1e-6) -> str | None:
    """A sentence for the sigma' values ``s`` a unit used at pre-activations ``z`` (1-D, NaN = unknown):
    a form of the library, or a constant on one side of a kink; "" when they are right, None
    when nothing fits (or nothing is known)."""
    act = get_activation(name)
    f = name.partition(":")[0]
    ok = np.isfinite(s)
    z, s = z[ok], s[ok]
    if z.size == 0:
        return None
    a = act.value(z)
    if np.allclose(s, act.prime(z), rtol=rtol, atol=1e-12):
        return ""  # right
    for w in wrong_derivatives(name):
        if np.allclose(s, w.fn(z, a), rtol=rtol, atol=1e-12):
            return w.sentence
    if act.kinks:
        k = act.kinks[0]
        parts = []
        for side, sel in ((f"z < {k:g}", z < k), (f"z > {k:g}", z > k)):
            if not sel.any():
                continue
            vals, want = s[sel], act.prime(z[sel])
            if np.allclose(vals, want, rtol=rtol, atol=1e-12):
                continue
            if np.allclose(vals, vals[0], rtol=rtol, atol=1e-12):
                c = 0.0 if abs(vals[0]) < 1e-12 else vals[0]  # rounding of an exact 0
                parts.append(f"{f}' for {side} is taken as {c:.6g}" + (
                    f" (expected {want[0]:.6g})" if np.allclose(want, want[0]) else ""))
            else:
                return None
        if parts:
            return "; ".join(parts)
    return None
