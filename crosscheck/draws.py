"""Parameter and data draws for a network: NumPy only, deterministic in a seed.

Hypothesis chooses the structure (network, convention, batch size, seed); the values come
from NumPy's generator, which is ~2.5x cheaper per example than drawing arrays through
hypothesis (docs/measurements.md, "Speed") and lets one example carry D stacked draws for vectorised checks.

Values are scaled so nothing overflows or saturates silently (weights ~ N(0, 1/n_in), so
pre-activations stay O(1)), and every pre-activation keeps ``KINK_MARGIN`` from a kink.
A draw that violates that, puts a neuron in a saturating tail (|sigma'| below the
activation's ``saturation_floor``: tanh, sigmoid, elu, softplus, gelu), or saturates a
sigmoid read by the bce loss, is redrawn.
With ``kinks=True`` instead, some neurons sit exactly on their kink: their weight row and
bias are zero, so the pre-activation is exactly 0 in every precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import CrosscheckError
from .model.activations import get_activation
from .model.network import Network
from .reference.forward import forward

__all__ = ["Draws", "draw", "DrawError", "KINK_MARGIN", "kink_distance", "kinked_neurons", "on_kink"]

# Pre-activations keep this distance from kinks: larger than the finite-difference step
# (~1e-6 here) and than float32 rounding of an O(1) pre-activation (~1e-7), so every
# oracle and every precision sees the same branch. docs/measurements.md: jax check_grads failed a
# correct relu net 4.1e-5 from zero inside its 1e-4 step.
KINK_MARGIN = 1e-3
_SIGMOID_FLOOR = 1e-4  # bce reads log(a) and log(1 - a): keep a inside [1e-4, 1 - 1e-4]
_MAX_REDRAWS = 50


class DrawError(CrosscheckError, RuntimeError):
    """No valid values exist (or were found) for this network: e.g. a dead relu feeding
    bias-free layers pins every later relu exactly on its kink. Strategies reject such
    examples rather than report them."""


@dataclass(frozen=True, eq=False)
class Draws:
    """D draws for one network, canonical and stacked along axis 0.

    params: ((W: (D, n_l, n_{l-1}), b: (D, n_l) | None), ...), X: (D, n_0, m), Y: (D, n_k, m) | None.
    ``on_kink`` marks draws with a pre-activation exactly on a kink (only with kinks=True).
    """

    network: Network
    params: tuple
    X: np.ndarray
    Y: np.ndarray | None
    on_kink: np.ndarray

    @property
    def count(self) -> int:
        return int(self.X.shape[0])

    def one(self, d: int) -> tuple:
        """(params, X, Y) of draw d, unstacked."""
        params = tuple((W[d], None if b is None else b[d]) for W, b in self.params)
        return params, self.X[d], None if self.Y is None else self.Y[d]

    def astype(self, dtype) -> Draws:
        cast = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
        return Draws(self.network, tuple((cast(W), cast(b)) for W, b in self.params),
                     cast(self.X), cast(self.Y), self.on_kink)


def _draw_raw(network: Network, rng: np.random.Generator, m: int, D: int):
    params = []
    for layer in range(1, network.depth + 1):
        n_out, n_in = network.weight_shape(layer)
        W = rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(D, n_out, n_in))
        b = rng.normal(0.0, 0.5, size=(D, n_out)) if network.bias else None
        params.append((W, b))
    X = rng.normal(0.0, 1.0, size=(D, network.n_in, m))
    loss = network.loss_fn.name
    nk = network.n_out
    if not network.loss_fn.needs_target:
        Y = None
    elif network.targets in ("onehot", "labels"):
        # canonical one-hot columns; labels are their row index at the user's edge
        Y = np.zeros((D, nk, m))
        np.put_along_axis(Y, rng.integers(0, nk, size=(D, 1, m)), 1.0, axis=1)
    elif network.targets == "binary":
        Y = rng.integers(0, 2, size=(D, nk, m)).astype(np.float64)
    elif loss == "bce":
        Y = rng.uniform(0.0, 1.0, size=(D, nk, m))
    elif loss == "softmax_ce":
        Y = rng.dirichlet(np.ones(nk), size=(D, m)).transpose(0, 2, 1)
    else:
        Y = rng.normal(0.0, 1.0, size=(D, nk, m))
    if network.l1:
        _keep_off_zero(network, params)
    return params, X, Y


def _keep_off_zero(network: Network, params) -> None:
    """With an L1 penalty, |w| has a kink at 0: move every penalised entry at least
    2 KINK_MARGIN from it (its sign kept, 0 counted as +), in place. ``kinks=True`` then zeroes
    whole rows on purpose (``_place_on_kinks``)."""
    for W, b in params:
        for a in (W, b) if network.penalty_bias and b is not None else (W,):
            near = np.abs(a) < 2 * KINK_MARGIN
            a[near] = np.where(a[near] < 0, -2 * KINK_MARGIN, 2 * KINK_MARGIN)


def kink_distance(network: Network, Z: list) -> np.ndarray:
    """Per draw, the smallest |Z - kink| over every neuron that has a kink (inf if none).

    ``Z`` is the forward pass's list of stacked pre-activations (D, n_l, m)."""
    D = Z[1].shape[0]
    best = np.full(D, np.inf)
    for layer in range(1, network.depth + 1):
        # the neurons sharing their kinks at once (a minimum is exact in any grouping)
        for kinks, rows in kinked_neurons(network, layer).items():
            z = Z[layer][:, rows, :]
            for k in kinks:
                best = np.minimum(best, np.abs(z - k).min(axis=(-1, -2)))
    return best


def kinked_neurons(network: Network, layer: int) -> dict:
    """``{kinks: neuron indices}`` of ``layer``'s neurons that have kinks (a slice when all do)."""
    groups: dict = {}
    per_neuron = network.kinks(layer)
    for i, kinks in enumerate(per_neuron):
        if kinks:
            groups.setdefault(kinks, []).append(i)
    if len(groups) == 1 and len(next(iter(groups.values()))) == len(per_neuron):
        return {next(iter(groups)): slice(None)}
    return groups


def on_kink(network: Network, Z: list) -> np.ndarray:
    return kink_distance(network, Z) == 0.0


def _valid(network: Network, params, X, kinks: bool) -> tuple[np.ndarray, np.ndarray]:
    Z, A = forward(network, params, X)
    ok = np.ones(X.shape[0], dtype=bool)
    for z, a in zip(Z[1:], A[1:]):
        ok &= np.isfinite(z).all(axis=(-1, -2)) & np.isfinite(a).all(axis=(-1, -2))
    ok &= ~_saturated(network, Z)
    dist = kink_distance(network, Z)
    if not kinks:
        ok &= dist >= KINK_MARGIN
    else:
        # a neuron is either exactly on its kink or keeps the margin: nothing in between
        ok &= (dist >= KINK_MARGIN) | _only_exact(network, Z)
    if network.l1:
        # |w| at 0 is a kink too: exactly 0 (only with kinks=True) or at least the margin away
        for W, b in params:
            for a in (W, b) if network.penalty_bias and b is not None else (W,):
                w = np.abs(a.reshape(a.shape[0], -1))
                ok &= ((w >= KINK_MARGIN) | ((w == 0) & kinks)).all(axis=-1)
                dist = np.where((w == 0).any(axis=-1), 0.0, dist)
    if network.loss == "bce":
        a = A[-1]
        ok &= ((a > _SIGMOID_FLOOR) & (a < 1 - _SIGMOID_FLOOR)).all(axis=(-1, -2))
    return ok, dist == 0.0


def _saturated(network: Network, Z: list) -> np.ndarray:
    """Per draw: some neuron sits in a saturating tail, |sigma'(z)| < its floor (not at a kink)."""
    D = Z[1].shape[0]
    out = np.zeros(D, dtype=bool)
    for layer in range(1, network.depth + 1):
        a = network.activations[layer - 1]
        names = (a,) * network.widths[layer] if isinstance(a, str) else a
        for name in set(names):
            act = get_activation(name)
            if not act.saturation_floor:
                continue
            rows = [i for i, n in enumerate(names) if n == name]
            z = Z[layer][:, rows, :]
            slope = np.abs(act.derivative(z))
            tail = (slope < act.saturation_floor) & (z != 0)
            out |= tail.any(axis=(-1, -2))
    return out


def _only_exact(network: Network, Z: list) -> np.ndarray:
    D = Z[1].shape[0]
    ok = np.ones(D, dtype=bool)
    for layer in range(1, network.depth + 1):
        for i, kinks in enumerate(network.kinks(layer)):
            for k in kinks:
                d = np.abs(Z[layer][:, i, :] - k)
                ok &= ((d == 0) | (d >= KINK_MARGIN)).all(axis=-1)
    return ok


def _place_on_kinks(network: Network, params, rng: np.random.Generator) -> None:
    """Zero the weight row (and bias) of about one kinked neuron per layer, per draw; with an
    L1 penalty also one weight entry per layer (|w| has its kink at 0)."""
    D = params[0][0].shape[0]
    if network.l1:
        for W, _ in params:
            hit = np.flatnonzero(rng.random(D) < 0.7)
            W[hit, rng.integers(0, W.shape[1], hit.size), rng.integers(0, W.shape[2], hit.size)] = 0.0
    for layer in range(1, network.depth + 1):
        kinked = [i for i, ks in enumerate(network.kinks(layer)) if 0.0 in ks]
        if not kinked:
            continue
        W, b = params[layer - 1]
        chosen = rng.choice(kinked, size=D)
        hit = rng.random(D) < 0.7
        for d in np.flatnonzero(hit):
            W[d, chosen[d], :] = 0.0
            if b is not None:
                b[d, chosen[d]] = 0.0


def draw(network: Network, seed: int, *, batch_size: int, draws: int = 1, kinks: bool = False,
         dtype: str | np.dtype = "float64") -> Draws:
    """``draws`` deterministic parameter/data draws for ``network`` from ``seed``.

    Values are drawn in float64 and rounded once to ``dtype``; validity (kink margin,
    saturation) is checked on the rounded values, which are what every party receives."""
    if batch_size < 1 or draws < 1:
        raise ValueError("batch_size and draws must be >= 1")
    rng = np.random.default_rng(seed)
    params, X, Y = _draw_raw(network, rng, batch_size, draws)
    if kinks:
        _place_on_kinks(network, params, rng)

    exact = np.dtype(dtype) == np.float64  # float64 draws are their own rounding: no copies

    def rounded(params, X):
        if exact:
            return params, X
        return tuple((W.astype(dtype).astype(np.float64),
                      None if b is None else b.astype(dtype).astype(np.float64)) for W, b in params), \
            X.astype(dtype).astype(np.float64)

    p64, X64 = rounded(params, X)
    ok, kinked = _valid(network, p64, X64, kinks)
    for _ in range(_MAX_REDRAWS):
        bad = np.flatnonzero(~ok)
        if bad.size == 0:
            break
        new_params, new_X, new_Y = _draw_raw(network, rng, batch_size, bad.size)
        if kinks:
            _place_on_kinks(network, new_params, rng)
        for (W, b), (nW, nb) in zip(params, new_params):
            W[bad] = nW
            if b is not None:
                b[bad] = nb
        X[bad] = new_X
        if Y is not None:
            Y[bad] = new_Y
        # validity is per draw: only the redrawn ones are checked again
        p_new, X_new = rounded(tuple((W[bad], None if b is None else b[bad]) for W, b in params), X[bad])
        ok[bad], kinked[bad] = _valid(network, p_new, X_new, kinks)
    else:
        if not ok.all():
            raise DrawError(f"could not draw values for {network.describe()} that keep a "
                               f"{KINK_MARGIN} margin from kinks and avoid saturation")
    cast = lambda a: None if a is None else np.ascontiguousarray(a.astype(dtype, copy=False))  # noqa: E731
    return Draws(network, tuple((cast(W), cast(b)) for W, b in params), cast(X), cast(Y),
                 np.asarray(kinked))
