"""Numeric oracles: central finite differences and the complex-step derivative, in float64.

Both perturb one parameter entry at a time and evaluate only the reduced loss
(``forward.loss_value``): they share nothing with the formula routes but the forward pass.
All perturbations of a network are stacked along a leading "draw" axis and evaluated in a
few stacked forward passes (``forward`` broadcasts leading axes), in chunks of bounded size.

``finite_difference`` (central differences)
    dL/dtheta_i ~ (L(theta + h_i e_i) - L(theta - h_i e_i)) / (2 h_i),  h_i = step max(1, |theta_i|)

    The denominator is the exactly representable (theta_i + h_i) - (theta_i - h_i). Error per
    entry: truncation h^2/6 |d^3L/dtheta_i^3| plus rounding ~ eps |L| / h. ``DEFAULT_STEP``
    = 2^-17 (7.6e-6, near the optimum eps^(1/3)) balances the two. The tests accept
        |fd - g| <= FD_TOLERANCE * max(1, |L|, max_i |g_i|)          (FD_TOLERANCE = 1e-7)
    where g is an analytic gradient: on 3,000 generated networks (depth 1-5, widths 1-9, every
    activation and loss, float64; two runs) the worst error in that unit was 7.7e-10, median
    1.8e-11, so the tolerance sits ~130x above the worst case measured.

    Kink margin: a central difference is only a derivative if no pre_activation crosses a kink
    between theta - h and theta + h. A relative step h moves a pre_activation by at most
    ~11 h on those networks (median 2 h: max |dZ| / h measured over every parameter entry).
    ``KINK_MARGIN`` = 1e-3 (~130 default steps, ~12x that worst movement) is the distance every
    pre_activation at a kinked neuron must keep from its kink; it scales up with a larger
    ``step``. ``finite_difference`` refuses (``OracleNotApplicable``) inside it;
    ``kink_distance`` reports the distance, the engine uses it.

``complex_step``
    dL/dtheta_i = Im L(theta + i h e_i) / h + O(h^2),  h = 1e-30

    No difference is taken, so there is no cancellation: the result is as accurate as the
    forward pass itself, a few ulps of the terms it sums (h^2 truncation is ~1e-60). Tests
    accept
        |cs - g| <= CS_TOLERANCE * max(1, |L|, max_i |g_i|)          (CS_TOLERANCE = 1e-12),
    ~200x the worst error measured on the same networks (4.8e-15, median 7.6e-17).
    It needs every activation to be analytic as NumPy evaluates it (``Activation.analytic``;
    not ``gelu``: NumPy has no complex erf) and no pre_activation exactly on a kink, where
    the real-part branch would pick a one-sided derivative; otherwise it refuses.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import CrosscheckError
from ..model.network import Network
from ..model.penalties import penalised_arrays
from .forward import forward, loss_value

__all__ = ["finite_difference", "complex_step", "kink_distance", "OracleNotApplicable",
           "scaled_error", "DEFAULT_STEP", "COMPLEX_STEP", "KINK_MARGIN", "FD_TOLERANCE", "CS_TOLERANCE"]

DEFAULT_STEP = 2.0**-17
COMPLEX_STEP = 1e-30
KINK_MARGIN = 1e-3
FD_TOLERANCE = 1e-7
CS_TOLERANCE = 1e-12
_MAX_STACK_ENTRIES = 1 << 22  # parameter + activation entries held by one stacked forward pass


class OracleNotApplicable(CrosscheckError, ValueError):
    """The numeric oracle cannot give a derivative at this point (kink, non-analytic)."""


def kink_distance(network: Network, params, X: np.ndarray) -> float:
    """min |Z - kink| over every neuron with a kink, every sample (and draw), and, with an L1
    penalty, min |w| over the penalised entries (|w| has its kink at 0); inf if none."""
    Z, _ = forward(network, params, X)
    best = math.inf
    if network.l1:
        for a in penalised_arrays(network, params):
            if np.size(a):
                best = min(best, float(np.min(np.abs(a))))
    for layer in range(1, network.depth + 1):
        groups: dict = {}  # the neurons sharing their kinks at once (a minimum is exact in any grouping)
        for i, kinks in enumerate(network.kinks(layer)):
            if kinks:
                groups.setdefault(kinks, []).append(i)
        for kinks, rows in groups.items():
            z = Z[layer][..., rows, :]
            for kink in kinks:
                best = min(best, float(np.min(np.abs(z - kink))))
    return best


def _flatten(params) -> tuple[np.ndarray, list]:
    parts, layout = [], []
    for W, b in params:
        parts.append(np.asarray(W, dtype=np.float64).reshape(-1))
        if b is not None:
            parts.append(np.asarray(b, dtype=np.float64).reshape(-1))
        layout.append((np.shape(W), None if b is None else np.shape(b)))
    return np.concatenate(parts), layout


def _unflatten(theta: np.ndarray, layout: list) -> tuple:
    """``theta: (..., P)`` back to ((W, b), ...), leading axes kept."""
    lead, out, at = theta.shape[:-1], [], 0
    for w_shape, b_shape in layout:
        n = math.prod(w_shape)
        W = theta[..., at: at + n].reshape(*lead, *w_shape)
        at += n
        b = None
        if b_shape is not None:
            b = theta[..., at: at + b_shape[0]].reshape(*lead, *b_shape)
            at += b_shape[0]
        out.append((W, b))
    return tuple(out)


def _perturbed_losses(network: Network, theta: np.ndarray, steps: np.ndarray, layout: list, X, Y) -> np.ndarray:
    """L(theta + steps_i e_(i mod P)) for every step i, ``(len(steps),)`` (``steps`` may hold
    several rounds of P steps, e.g. plus then minus): the perturbed copies of theta are built and
    evaluated a chunk at a time, so memory stays bounded for any network size."""
    P, S = theta.size, steps.size
    per_draw = P + sum(network.widths) * X.shape[1]
    chunk = max(1, _MAX_STACK_ENTRIES // per_draw)
    out = []
    for start in range(0, S, chunk):
        idx = np.arange(start, min(S, start + chunk))
        thetas = np.tile(theta, (idx.size, 1))
        thetas[np.arange(idx.size), idx % P] += steps[idx]
        out.append(np.asarray(loss_value(network, _unflatten(thetas, layout), X, Y)))
    return np.concatenate(out)


def _as64(X, Y):
    return np.asarray(X, dtype=np.float64), None if Y is None else np.asarray(Y, dtype=np.float64)


def finite_difference(network: Network, params, X: np.ndarray, Y, *, step: float | None = None,
                      kink_margin: float | None = None) -> tuple:
    """Central differences of the reduced loss, float64; canonical Gradients.

    ``step`` is relative: h_i = step max(1, |theta_i|) (default ``DEFAULT_STEP``). Refuses with
    ``OracleNotApplicable`` when a pre_activation is within ``kink_margin`` of a kink (default
    ``KINK_MARGIN``, scaled by step / DEFAULT_STEP for larger steps)."""
    step = DEFAULT_STEP if step is None else float(step)
    if not step > 0:
        raise ValueError(f"step must be positive, got {step}")
    margin = KINK_MARGIN * max(1.0, step / DEFAULT_STEP) if kink_margin is None else float(kink_margin)
    X, Y = _as64(X, Y)
    theta, layout = _flatten(params)
    distance = kink_distance(network, _unflatten(theta, layout), X)
    if distance < margin:
        raise OracleNotApplicable(
            f"finite differences need every pre-activation at least {margin:g} from a kink (the kink "
            f"margin); one is {distance:.3g} away, so a step of {step:g} could straddle the kink")
    h = step * np.maximum(1.0, np.abs(theta))
    plus, minus = (theta + h) - theta, (theta - h) - theta  # the steps actually taken, exactly
    # both sides in one stacked evaluation (each copy's loss is computed on its own)
    both = _perturbed_losses(network, theta, np.concatenate([plus, minus]), layout, X, Y)
    grad = (both[: theta.size] - both[theta.size:]) / (plus - minus)
    return _unflatten(grad, layout)


def complex_step(network: Network, params, X: np.ndarray, Y, *, h: float = COMPLEX_STEP) -> tuple:
    """Complex-step derivative Im L(theta + i h e_i) / h of the reduced loss, float64.

    Refuses with ``OracleNotApplicable`` when an activation is not analytic in NumPy
    (``Activation.analytic`` False, e.g. gelu) or a pre_activation sits exactly on a kink."""
    not_analytic = sorted({a.name for layer in range(1, network.depth + 1)
                           for a in network.layer_activations(layer) if not a.analytic})
    if not_analytic:
        raise OracleNotApplicable(
            f"complex step needs analytic activations; {', '.join(not_analytic)} is not analytic as "
            f"NumPy evaluates it (no complex erf): use finite_difference instead")
    if not h > 0:
        raise ValueError(f"h must be positive, got {h}")
    X, Y = _as64(X, Y)
    theta, layout = _flatten(params)
    if kink_distance(network, _unflatten(theta, layout), X) == 0.0:
        raise OracleNotApplicable(
            "complex step: a pre-activation sits exactly on a kink, where the derivative is a "
            "convention (a subgradient), not a limit; the complex step would pick one side")
    steps = np.full(theta.size, 1j * h)
    grad = _perturbed_losses(network, theta.astype(np.complex128), steps, layout, X, Y).imag / h
    return _unflatten(grad, layout)


def scaled_error(approx, exact, loss: float) -> float:
    """max_i |approx_i - exact_i| / max(1, |L|, max_i |exact_i|): the unit of the tolerances.

    ``approx``/``exact`` are canonical Gradients (db None where there is no bias)."""
    diffs, sizes = [0.0], [1.0, abs(float(np.real(loss)))]
    for (aW, ab), (eW, eb) in zip(approx, exact):
        for a, e in ((aW, eW), (ab, eb)):
            if e is None:
                continue
            a, e = np.asarray(a, dtype=np.float64), np.asarray(e, dtype=np.float64)
            diffs.append(float(np.max(np.abs(a - e))) if e.size else 0.0)
            sizes.append(float(np.max(np.abs(e))) if e.size else 0.0)
    return max(diffs) / max(sizes)
