"""Entries of a gradient dict that are not parameters: ``dA{l}`` is checked, anything else noted.

deeplearning.ai's ``L_model_backward`` returns ``dA0, dA1, ..., dA{L-1}`` next to ``dW1, db1, ...``:
``grads["dA" + str(l)]`` is the gradient with respect to the activation A^l of layer l, with
A^0 = X (it stores layer l+1's ``dA_prev`` under ``dA{l}``). Here ``dA{l}`` for l = 0 .. k means
exactly that, in the convention's batch layout: ``(n_l, m)`` for columns, ``(m, n_l)`` for rows.

Two scalings of it exist in real code, and both are accepted when *every* dA entry of one
return uses the same one:

- ``"reduced"``: dL/dA^l of the declared loss (CS231n's ``dx``: its ``dscores`` is divided by N);
- ``"per_sample"``: the gradient of the summed per-sample losses, without the reduction's 1/m
  (or 1/(m n_k)): deeplearning.ai, whose ``dAL`` is the derivative of the summed cross-entropy
  while ``dW = dZ A_prev^T / m`` carries the mean. With ``--reduction sum`` both are the same.

The gradient with respect to the input X, returned as ``dX`` or ``dx`` (CS231n's name, numpy-ml's,
many books'), is ``dA0`` by another name and is checked the same way.

The penalty depends on the weights alone, so it never enters dA. A seed-000 augmented layout
may return dA with or without its constant-1 unit (X's constant feature, a hidden layer's
formal neuron): with it, that entry's gradient (b_{l+1}^T delta_{l+1}) is compared too.
Other extra keys are ignored and named in a note; extras exist only in dict containers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model.case import Case
from ..model.conventions import Convention
from ..model.network import Network
from ..reference.forward import forward, output_gradient
from ..tolerance import policy_for

__all__ = ["split_extras", "activation_gradients", "check_extras", "ExtraCheck", "ACTIVATION_KEY", "SCALINGS",
           "INPUT_KEYS"]

ACTIVATION_KEY = re.compile(r"^dA(\d+)$")
INPUT_KEYS = ("dX", "dx")  # the gradient with respect to the input: dA0 by another name


def _layer_of(key: str) -> int:
    return 0 if key in INPUT_KEYS else int(ACTIVATION_KEY.match(key).group(1))
SCALINGS = ("reduced", "per_sample")


def _parameter_keys(network: Network) -> set[str]:
    return {f"{p}{n}{layer}" for p in ("", "d") for n in "Wb" for layer in range(1, network.depth + 1)}


def split_extras(convention: Convention, network: Network, container: Any) -> tuple[Any, dict[str, Any], list[str]]:
    """``(parameter container, {dA key: array}, [ignored keys])``; a non-dict container is returned
    as it is (a list of pairs has no room for extra entries)."""
    if convention.params != "dict" or not isinstance(container, Mapping):
        return container, {}, []
    known = _parameter_keys(network)
    params = {k: v for k, v in container.items() if str(k) in known}
    activations, ignored = {}, []
    for key in container:
        name = str(key)
        if name in known:
            continue
        match = ACTIVATION_KEY.match(name)
        if name in INPUT_KEYS or (match and int(match.group(1)) <= network.depth):
            activations[name] = container[key]
        else:
            ignored.append(name)
    return params, activations, sorted(ignored)


def activation_gradients(network: Network, params: Any, X: np.ndarray, Y: Any) -> list[tuple[np.ndarray, Any]]:
    """Canonical dL/dA^l of the reduced data loss for l = 0 .. k, each ``(n_l, m)`` (A^0 = X),
    and, for the augmented layout, the constant unit's ``b_{l+1}^T delta_{l+1}`` as a last row.

    Returned as ``(real, constant_row)`` pairs; ``constant_row`` is None for l = k."""
    Z, A = forward(network, params, X)
    k = network.depth
    G: list[Any] = [None] * (k + 1)
    G[k] = (output_gradient(network, A[k], Y), None)
    for layer in range(k, 0, -1):
        W, b = params[layer - 1]
        delta = G[layer][0] * network.sigma_prime(layer, Z[layer])  # (n_l, m)
        constant = None if b is None else b @ delta  # (m,): the bias is the weight of a constant 1
        G[layer - 1] = (W.T @ delta, constant)
    return G


@dataclass(frozen=True)
class ExtraCheck:
    """One ``dA{l}`` entry's verdict; ``scaling`` is the accepted scaling it matched, if any."""

    key: str
    layer: int
    passed: bool
    expected_shape: tuple[int, ...]
    got_shape: tuple[int, ...]
    rel_error: float
    scaling: str = ""
    detail: str = ""
    expected: Any = None
    got: Any = None

    def to_dict(self) -> dict:
        return {"key": self.key, "layer": self.layer, "passed": self.passed,
                "expected_shape": list(self.expected_shape), "got_shape": list(self.got_shape),
                "rel_error": self.rel_error if np.isfinite(self.rel_error) else "inf",
                "scaling": self.scaling, "detail": self.detail}


def _user(convention: Convention, G: np.ndarray) -> np.ndarray:
    return G.T if convention.batch == "rows" else G


def _rel(got: np.ndarray, expected: np.ndarray, floor: float) -> float:
    return float(np.linalg.norm(got - expected)) / max(float(np.linalg.norm(expected)), floor)


def check_extras(case: Case, activations: Mapping[str, Any], *, dtype: str = "float64") -> list[ExtraCheck]:
    """Compare every ``dA{l}`` in ``activations`` with the reference, under one common scaling."""
    if not activations:
        return []
    f64 = lambda a: None if a is None else np.asarray(a, dtype=np.float64)  # noqa: E731
    net, conv = case.network, case.convention
    params = tuple((f64(W), f64(b)) for W, b in case.params)
    G = activation_gradients(net, params, f64(case.X), f64(case.Y))
    scale = net.reduction_scale(case.batch_size)
    policy = policy_for(dtype)
    entries = []
    for key in sorted(activations, key=lambda k: (_layer_of(k), k)):
        layer = _layer_of(key)
        real, constant = G[layer]
        full = real if constant is None or not conv.augmented else np.vstack([real, constant[None, :]])
        entries.append((key, layer, _user(conv, real), _user(conv, full)))
    total = np.sqrt(sum(float(np.sum(e[2] ** 2)) for e in entries))
    floor = max(policy.floor * total, policy.absolute_floor)

    def judge(scaling: str) -> list[ExtraCheck]:
        factor = 1.0 if scaling == "reduced" else 1.0 / scale
        out = []
        for key, layer, real, full in entries:
            raw = activations[key]
            try:
                got = np.asarray(raw, dtype=np.float64)
            except (TypeError, ValueError):
                got = np.full((), np.nan)
            expected = factor * (full if got.shape == full.shape else real)
            if got.shape != expected.shape:
                out.append(ExtraCheck(key, layer, False, expected.shape, got.shape, float("inf"), "",
                                      f"shape {got.shape}, expected {real.shape}", expected, got))
                continue
            if not np.all(np.isfinite(got)):
                out.append(ExtraCheck(key, layer, False, expected.shape, got.shape, float("inf"), "",
                                      "contains NaN or infinity", expected, got))
                continue
            rel = _rel(got, expected, factor * floor)
            out.append(ExtraCheck(key, layer, rel <= policy.rtol, expected.shape, got.shape, rel,
                                  scaling if rel <= policy.rtol else "", "", expected, got))
        return out

    tries = [judge(s) for s in (SCALINGS if scale != 1.0 else SCALINGS[:1])]
    best = max(tries, key=lambda t: sum(c.passed for c in t))
    return [c if c.passed else _explained(c, G, conv, scale) for c in best]


def _explained(c: ExtraCheck, G: list, conv: Convention, scale: float) -> ExtraCheck:
    """A wrong dA entry with the likeliest reason: another layer's gradient, transposed, or scaled."""
    got = c.got
    reasons = []
    if got.ndim == 2 and got.shape[::-1] == c.expected.shape and np.allclose(got.T, c.expected, rtol=1e-6, atol=0):
        reasons.append("transposed")
    for other in (c.layer - 1, c.layer + 1):
        if 0 <= other < len(G):
            cand = _user(conv, G[other][0])
            for factor in (1.0, 1.0 / scale):
                if cand.shape == got.shape and np.allclose(got, factor * cand, rtol=1e-6, atol=1e-12):
                    reasons.append(f"it is the gradient with respect to A{other}: the index is one off "
                                   f"(dA{{l}} is the gradient with respect to A^l, A^0 = X)")
    if not reasons and c.got.shape == c.expected.shape and np.all(np.isfinite(got)):
        e = c.expected
        ratio = float(np.sum(got * e)) / max(float(np.sum(e * e)), 1e-300)
        if np.allclose(got, ratio * e, rtol=1e-6, atol=1e-12 * max(1.0, float(np.abs(e).max(initial=0)))):
            reasons.append(f"scaled by {ratio:.4g}")
    detail = c.detail or f"relative error {c.rel_error:.2e}"
    if reasons:
        detail += "; " + "; ".join(dict.fromkeys(reasons))
    return ExtraCheck(c.key, c.layer, False, c.expected_shape, c.got_shape, c.rel_error, "",
                      f"{c.key} is not the gradient with respect to A{c.layer} ({detail})", c.expected, c.got)
