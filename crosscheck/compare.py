"""Comparing two canonical gradients under the tolerance policy, and the result objects.

Knows nothing of where the arrays came from. ``Gradients`` are canonical
``((dW_1: (n_1, n_0), db_1: (n_1,) | None), ..., (dW_k, db_k))``; the expected side is the
reference. The metric and its reasoning live in ``crosscheck.tolerance``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .tolerance import TolerancePolicy, policy_for

__all__ = ["ParameterComparison", "Comparison", "compare_gradients", "compare_batched", "batched_rel_errors",
           "reference_rounding", "worst_of_each"]


@dataclass
class ParameterComparison:
    """One parameter's verdict: ``layer`` is 1-based, ``name`` is ``"W"`` or ``"b"``.

    ``rel_error`` is the normwise relative error (inf on NaN or a shape mismatch),
    ``abs_error`` the largest entrywise difference; ``reason`` is ``""`` when passed, else
    ``"shape"``, ``"nan"`` or ``"value"``; ``hint`` a cheap guess at the mistake on failure.
    """

    layer: int
    name: str
    expected_shape: tuple[int, ...] | None
    got_shape: tuple[int, ...] | None
    rel_error: float
    abs_error: float
    tolerance: float
    passed: bool
    reason: str = ""
    hint: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}{self.layer}"

    def describe(self) -> str:
        if self.passed:
            return f"{self.label}: ok (relative error {self.rel_error:.2e})"
        if self.reason == "shape":
            text = f"{self.label}: shape {self.got_shape}, expected {self.expected_shape}"
        elif self.reason == "nan":
            text = f"{self.label}: contains NaN or infinity"
        else:
            text = f"{self.label}: relative error {self.rel_error:.2e} > {self.tolerance:.0e}"
        return text + (f" ({self.hint})" if self.hint else "")

    def to_dict(self) -> dict:
        return {
            "layer": self.layer, "name": self.name,
            "expected_shape": None if self.expected_shape is None else list(self.expected_shape),
            "got_shape": None if self.got_shape is None else list(self.got_shape),
            "rel_error": _json_float(self.rel_error), "abs_error": _json_float(self.abs_error),
            "tolerance": self.tolerance, "passed": self.passed, "reason": self.reason, "hint": self.hint,
        }


@dataclass
class Comparison:
    """The verdict on a whole gradient. ``flags`` holds ``"precision"`` when a float32 GPU
    failure may be TF32-like matmul rounding (see ``crosscheck.tolerance``)."""

    passed: bool
    parameters: list[ParameterComparison]
    worst_rel_error: float
    dtype: str
    device: str
    precision: str
    policy: TolerancePolicy | None = None
    flags: tuple[str, ...] = field(default=())

    def failures(self) -> list[ParameterComparison]:
        return [p for p in self.parameters if not p.passed]

    def first_failure(self) -> ParameterComparison | None:
        """The failure closest to the output (the last layer first): backprop errors propagate
        downwards, so the last failing layer is nearest the cause."""
        bad = self.failures()
        return max(bad, key=lambda p: (p.layer, p.name == "W")) if bad else None

    def summary(self) -> str:
        setting = f"{self.dtype} {self.device}" + (f" precision={self.precision}" if self.precision != "default"
                                                    else "")
        n = len(self.parameters)
        if self.passed:
            return f"ok: {n} parameter gradients agree, worst relative error {self.worst_rel_error:.1e} ({setting})"
        bad = self.failures()
        first = self.first_failure()
        assert first is not None
        text = f"FAIL: {len(bad)} of {n} parameter gradients differ; {first.describe()} ({setting})"
        if "precision" in self.flags:
            text += "; float32 on GPU at non-highest matmul precision: may be TF32 rounding"
        return text

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "worst_rel_error": _json_float(self.worst_rel_error),
            "dtype": self.dtype, "device": self.device, "precision": self.precision,
            "tolerance": None if self.policy is None else self.policy.rtol,
            "flags": list(self.flags),
            "parameters": [p.to_dict() for p in self.parameters],
        }


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else ("-inf" if x < 0 else "nan"))


def _shape(a: Any) -> tuple[int, ...] | None:
    return None if a is None else tuple(np.shape(a))


def _as64(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _pairs(grads: Any) -> list[tuple[Any, Any]]:
    if isinstance(grads, Mapping) or not isinstance(grads, Sequence):
        raise TypeError(f"expected canonical gradients ((dW1, db1), ...), got {type(grads).__name__}; "
                        "convert a user container with convention.params_from_user(..., gradient=True)")
    out = []
    for item in grads:
        if not isinstance(item, Sequence) or len(item) != 2:
            raise TypeError("expected canonical gradients: one (dW, db) pair per layer, db None without bias")
        out.append((item[0], item[1]))
    return out


def compare_gradients(expected: Any, got: Any, *, dtype: str = "float64", device: str = "cpu",
                      precision: str = "default", policy: TolerancePolicy | None = None) -> Comparison:
    """Compare canonical gradients ``got`` with the reference ``expected``.

    ``dtype``/``device``/``precision`` describe how ``got`` was computed and pick the policy
    (``crosscheck.tolerance.policy_for``) unless ``policy`` is given. Shapes first (a missing
    layer or bias is a shape failure), then NaN, then the normwise relative error.
    """
    policy = policy or policy_for(dtype, device, precision)
    exp_pairs, got_pairs = _pairs(expected), _pairs(got)
    k = max(len(exp_pairs), len(got_pairs))
    # the scale of the whole expected gradient sets the floor (tolerance.py)
    total = math.sqrt(sum(float(np.sum(_as64(a) ** 2)) for pair in exp_pairs for a in pair
                          if a is not None and np.all(np.isfinite(_as64(a)))))
    floor = max(policy.floor * total, policy.absolute_floor)
    params: list[ParameterComparison] = []
    for layer in range(1, k + 1):
        e_pair = exp_pairs[layer - 1] if layer <= len(exp_pairs) else (None, None)
        g_pair = got_pairs[layer - 1] if layer <= len(got_pairs) else (None, None)
        for name, e, g in (("W", e_pair[0], g_pair[0]), ("b", e_pair[1], g_pair[1])):
            if e is None and g is None:
                continue
            params.append(_compare_one(layer, name, e, g, floor, policy))
    passed = all(p.passed for p in params) and len(exp_pairs) == len(got_pairs)
    worst = max((p.rel_error for p in params), default=0.0)
    flags = ("precision",) if (not passed and policy.tf32_risk) else ()
    return Comparison(passed, params, worst, policy.dtype, policy.device, policy.precision, policy, flags)


def _compare_one(layer: int, name: str, e: Any, g: Any, floor: float,
                 policy: TolerancePolicy) -> ParameterComparison:
    es, gs = _shape(e), _shape(g)
    base = dict(layer=layer, name=name, expected_shape=es, got_shape=gs, tolerance=policy.rtol)
    if es != gs:
        hint = _shape_hint(e, g, policy) if e is not None and g is not None else (
            "missing" if g is None else "unexpected (the network has no such parameter)")
        return ParameterComparison(rel_error=math.inf, abs_error=math.inf, passed=False, reason="shape",
                                   hint=hint, **base)
    ea, ga = _as64(e), _as64(g)
    if not (np.all(np.isfinite(ga)) and np.all(np.isfinite(ea))):
        return ParameterComparison(rel_error=math.inf, abs_error=math.inf, passed=False, reason="nan",
                                   hint="", **base)
    diff = ga - ea
    abs_error = float(np.max(np.abs(diff))) if diff.size else 0.0
    rel = float(np.linalg.norm(diff)) / max(float(np.linalg.norm(ea)), floor)
    passed = rel <= policy.rtol
    hint = "" if passed else _value_hint(ea, ga, policy)
    return ParameterComparison(rel_error=rel, abs_error=abs_error, passed=passed,
                               reason="" if passed else "value", hint=hint, **base)


def _hint_tol(policy: TolerancePolicy) -> float:
    # generous: a hint only has to name the likeliest mistake, the verdict is already made
    return max(10 * policy.rtol, 1e-6)


def _close(a: np.ndarray, b: np.ndarray, policy: TolerancePolicy) -> bool:
    scale = max(float(np.linalg.norm(b)), policy.absolute_floor)
    return float(np.linalg.norm(a - b)) <= _hint_tol(policy) * scale


def _shape_hint(e: Any, g: Any, policy: TolerancePolicy) -> str:
    ea, ga = _as64(e), _as64(g)
    if not np.all(np.isfinite(ga)):
        return ""
    if ga.ndim == 2 and ga.shape == ea.shape[::-1]:
        return "transposed" if _close(ga.T, ea, policy) else "transposed shape"
    if ga.size == ea.size:
        return "same values, reshaped" if _close(ga.reshape(ea.shape), ea, policy) else "reshaped"
    if ga.ndim == ea.ndim + 1 and ga.shape[1:] == ea.shape:
        return "not summed over the batch" if _close(ga.sum(0), ea, policy) else "extra leading axis"
    if ga.ndim >= 1 and ea.ndim >= 1 and ga.shape[:-1] == ea.shape and _close(ga.sum(-1), ea, policy):
        return "not summed over the batch"
    return ""


def _value_hint(ea: np.ndarray, ga: np.ndarray, policy: TolerancePolicy) -> str:
    en = float(np.sum(ea * ea))
    if not np.any(ga):
        return "all zeros"
    if ea.ndim == 2 and ea.shape[0] == ea.shape[1] and _close(ga.T, ea, policy):
        return "transposed"
    if en > 0:
        c = float(np.sum(ga * ea)) / en
        # the factor must explain the error: what is left after scaling is a tenth of it at most
        # (one wrong entry next to right ones is no scale, however close c is to 1)
        error = float(np.linalg.norm(ga - ea))
        residual = float(np.linalg.norm(ga - c * ea))
        if residual <= 0.1 * error and _close(ga, c * ea, policy):
            if abs(c + 1) < _hint_tol(policy):
                return "sign flipped"
            return f"scaled by {c:.3f}" if abs(c - 1) >= 0.01 else f"scaled by {c:.6f}".rstrip("0")
    return ""


# ---- many draws at once -------------------------------------------------------------------

def batched_rel_errors(expected_stacked: Any, got_stacked: Any, *, dtype: str = "float64", device: str = "cpu",
                       precision: str = "default",
                       policy: TolerancePolicy | None = None) -> tuple[np.ndarray, list[str]]:
    """Per draw and parameter, the relative error of ``compare_gradients``: ``(D, P)`` and the
    P labels (``W1, b1, ...``). Stacked arrays carry the draw axis first: ``dW: (D, n_l, n_{l-1})``.
    A shape mismatch makes the whole column inf; NaN makes that draw's entry inf."""
    policy = policy or policy_for(dtype, device, precision)
    exp_pairs, got_pairs = _pairs(expected_stacked), _pairs(got_stacked)
    labels: list[str] = []
    exp_list: list[np.ndarray] = []
    got_list: list[Any] = []
    for layer in range(1, max(len(exp_pairs), len(got_pairs)) + 1):
        e_pair = exp_pairs[layer - 1] if layer <= len(exp_pairs) else (None, None)
        g_pair = got_pairs[layer - 1] if layer <= len(got_pairs) else (None, None)
        for name, e, g in (("W", e_pair[0], g_pair[0]), ("b", e_pair[1], g_pair[1])):
            if e is None and g is None:
                continue
            labels.append(f"{name}{layer}")
            exp_list.append(None if e is None else _as64(e))
            got_list.append(g)
    D = next(a.shape[0] for a in exp_list if a is not None)
    out = np.full((D, len(labels)), np.inf)
    fast = _rel_errors_joined(exp_list, got_list, D, policy, out)
    if fast:
        return out, labels
    sq = np.zeros(D)
    for e in exp_list:
        if e is not None:
            sq += np.where(np.isfinite(e), e, 0.0).reshape(D, -1).__pow__(2).sum(-1)
    floor = np.maximum(policy.floor * np.sqrt(sq), policy.absolute_floor)
    for j, (e, g) in enumerate(zip(exp_list, got_list)):
        if e is None or g is None or np.shape(g) != e.shape:
            continue
        ga = _as64(g).reshape(D, -1)
        ea = e.reshape(D, -1)
        finite = np.isfinite(ga).all(-1) & np.isfinite(ea).all(-1)
        with np.errstate(invalid="ignore", over="ignore"):
            num = np.linalg.norm(ga - ea, axis=-1)
            rel = num / np.maximum(np.linalg.norm(ea, axis=-1), floor)
        out[:, j] = np.where(finite, rel, np.inf)
    return out, labels


def _rel_errors_joined(exp_list: list, got_list: list, D: int, policy: TolerancePolicy, out: np.ndarray) -> bool:
    """``batched_rel_errors``' loop in a few whole-array operations: every parameter's entries
    side by side in one ``(D, N)`` array, the per-parameter sums by ``np.add.reduceat`` (the same
    metric; sums may round differently in the last bits). Fills ``out``; False (``out``
    untouched) where a parameter is missing, misshapen or empty: the loop handles those."""
    if any(e is None or g is None or np.shape(g) != e.shape or e.size == 0 for e, g in zip(exp_list, got_list)):
        return False
    E = np.concatenate([e.reshape(D, -1) for e in exp_list], axis=1)
    G = np.concatenate([_as64(g).reshape(D, -1) for g in got_list], axis=1)
    starts = np.cumsum([0] + [e[0].size for e in exp_list[:-1]])
    e_finite, g_finite = np.isfinite(E), np.isfinite(G)
    # the floor: the norm of each draw's whole expected gradient, its finite entries only
    floor = np.maximum(policy.floor * np.sqrt(np.square(np.where(e_finite, E, 0.0)).sum(-1)), policy.absolute_floor)
    with np.errstate(invalid="ignore", over="ignore"):
        num = np.sqrt(np.add.reduceat(np.square(G - E), starts, axis=1))
        den = np.sqrt(np.add.reduceat(np.square(E), starts, axis=1))
        rel = num / np.maximum(den, floor[:, None])
    finite = np.logical_and.reduceat(e_finite & g_finite, starts, axis=1)
    out[...] = np.where(finite, rel, np.inf)
    return True


def compare_batched(expected_stacked: Any, got_stacked: Any, *, dtype: str = "float64", device: str = "cpu",
                    precision: str = "default",
                    policy: TolerancePolicy | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised ``compare_gradients`` over D stacked draws: ``(worst_rel_error: (D,), passed: (D,))``.

    Same metric and policy, so a draw passes here exactly when ``compare_gradients`` on that
    draw passes; run that one on a failing draw to get the per-parameter verdict and hint."""
    policy = policy or policy_for(dtype, device, precision)
    rel, _ = batched_rel_errors(expected_stacked, got_stacked, policy=policy)
    worst = rel.max(axis=1) if rel.shape[1] else np.zeros(rel.shape[0])
    return worst, worst <= policy.rtol


def worst_of_each(expected: Any, many: Sequence, *, policy: TolerancePolicy) -> np.ndarray | None:
    """The worst relative error of each of several canonical gradients of one case against the
    same ``expected``, from one ``compare_batched`` over them stacked (``compare_gradients``'
    metric: each one a "draw"); None when their shapes differ from ``expected``'s (then compare
    each with ``compare_gradients``, whose verdict says which shape is wrong)."""
    try:
        if any(len(g) != len(expected) for g in many):
            return None
        stacked = []
        for layer, (W, b) in enumerate(expected):
            gW = np.stack([_as64(g[layer][0]) for g in many])
            gb = None if b is None else np.stack([_as64(g[layer][1]) for g in many])
            if gW.shape[1:] != np.shape(W) or (gb is not None and gb.shape[1:] != np.shape(b)) or \
                    (b is None and any(g[layer][1] is not None for g in many)):
                return None
            stacked.append((gW, gb))
    except (TypeError, ValueError, IndexError):
        return None
    n = len(many)
    exp = tuple((np.broadcast_to(W, (n, *np.shape(W))), None if b is None else np.broadcast_to(b, (n, *np.shape(b))))
                for W, b in expected)
    worst, _ = compare_batched(exp, tuple(stacked), policy=policy)
    return worst


def reference_rounding(expected_stacked: Any, reference32_stacked: Any) -> np.ndarray:
    """Per draw, the float32 reference's own worst relative error ``e_ref: (D,)``: the NumPy
    reference computed in float32 on the same inputs, against the float64 ``expected``, by the
    float32 policy's metric. ``TolerancePolicy.bound(e_ref)`` is what a float32 draw may reach
    (``crosscheck.tolerance``, "float32, second stage")."""
    rel, _ = batched_rel_errors(expected_stacked, reference32_stacked, dtype="float32")
    return rel.max(axis=1) if rel.shape[1] else np.zeros(rel.shape[0])
