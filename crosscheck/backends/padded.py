"""One compiled JAX function for every small architecture: zero padding (``JaxBackend(mode="padded")``).

JAX compiles once per architecture (0.13-0.3 s, docs/measurements.md), which is most of a sweep's
time when every hypothesis example is a new network. Here every network of depth <= K, widths
<= P, batch size <= M and D <= Dp stacked draws becomes the same fixed-shape computation, so
one compile serves them all (shapes are rounded up to a few buckets, ``padded_shape``):

- weights ``W: (K, P, P)`` hold the real ``(n_l, n_{l-1})`` block top left and zeros
  elsewhere; biases ``(K, P)`` likewise (all zero for a network without bias, whose db is
  dropped: ``Z = W A + 0`` is exactly ``W A``);
- a padded neuron runs the identity on a pre_activation that is exactly 0 (zero row, zero
  bias), so its activation is exactly 0, it feeds nothing forward and its delta is exactly 0;
- layers past the network's depth pass their input through: ``A = where(live, Sigma(Z), A)``;
- each neuron's activation is data: an integer code selects among the activation table's
  ``jax`` natives through ``where`` chains. Each native sees ``where(selected, Z, 0)``, so an
  unselected branch receives a zero cotangent at a point where its derivative is finite, and
  the selected one is the native function itself;
- the loss is data too: every table loss runs on guarded inputs (padded output rows set to a
  neutral value, padded samples to a copy of sample 0, both outside the gradient) and the
  selected per-sample loss is kept; padded samples weigh 0 and the mean's m is a data divisor.

So the gradient of the real entries is the function jax.grad computes for the unpadded network
(rounding may differ only through exact zeros added inside sums), and every padded entry of
the gradient is exactly 0. ``unpack`` checks that on every call and raises ``PaddingError``
otherwise: a free extra check.

The padded path works in the canonical layout (columns, out_in, separate bias). A convention
is a pure, exact layout conversion (``crosscheck.model.conventions``); torch's batched path and
JAX's per-case ``gradients`` still build every layout natively.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model.activations import ACTIVATIONS
from ..model.case import Gradients
from ..model.losses import LOSSES
from ..model.network import Network

__all__ = ["PaddedShape", "PaddingError", "padded_shape", "fits", "paddable", "pack", "unpack",
           "padded_loss", "PAD_LIMITS"]

# Past these the padded computation costs more than a compile saves (measured in
# benchmarks/bench_sweep.py and bench_batched.py): "auto" mode runs such calls natively.
PAD_LIMITS = {"width": 32, "samples": 64, "depth": 8}

# How a padded output row is made neutral for each loss (rows are summed per sample):
# "zero": A = Y = 0 adds 0 (output reads row 0 only; readout's alpha is zero-padded);
# "half": A = Y = 1/2 adds a constant (bce's logs stay finite);
# "below": A = (largest real A of that sample) - 1e3, Y = 0: exp underflows to exactly 0 in
# float32 and float64, so the softmax over the real rows is unchanged.
_ROW_FILL = {"output": "zero", "readout": "zero", "half_sse": "zero", "sse": "zero", "bce": "half",
             "softmax_ce": "below"}
_BELOW = 1e3

ACTIVATION_CODES = {name: i for i, name in enumerate(ACTIVATIONS)}
LOSS_CODES = {name: i for i, name in enumerate(LOSSES)}


class PaddingError(RuntimeError):
    """A padded gradient entry came out non-zero: the padding (or the library) is wrong."""


@dataclass(frozen=True)
class PaddedShape:
    """The fixed shape one compiled function serves: depth K, width P, samples M, draws Dp."""

    depth: int
    width: int
    samples: int
    draws: int


def _bucket(n: int, minimum: int) -> int:
    return max(minimum, 1 << max(0, int(n) - 1).bit_length())


def padded_shape(network: Network, m: int, draws: int) -> PaddedShape:
    """Round every size up to a bucket, so that many architectures share one shape."""
    return PaddedShape(_bucket(network.depth, 4), _bucket(max(network.widths), 16), _bucket(m, 8),
                       _bucket(draws, 16))


def paddable(network: Network) -> bool:
    """Whether the padded path knows how to neutralise this network's loss on padded rows."""
    return network.loss in _ROW_FILL and network.loss in LOSS_CODES


def fits(network: Network, m: int) -> bool:
    """Whether padding pays here (``PAD_LIMITS``) and the loss is paddable."""
    return (paddable(network) and max(network.widths) <= PAD_LIMITS["width"]
            and m <= PAD_LIMITS["samples"] and network.depth <= PAD_LIMITS["depth"])


def _codes(network: Network, shape: PaddedShape) -> np.ndarray:
    codes = np.full((shape.depth, shape.width), ACTIVATION_CODES["identity"], dtype=np.int32)
    for layer in range(1, network.depth + 1):
        spec = network.activations[layer - 1]
        names = (spec,) * network.widths[layer] if isinstance(spec, str) else spec
        # "relu:1" names the reference's subgradient; JAX's native is the base activation's
        codes[layer - 1, : len(names)] = [ACTIVATION_CODES[n.partition(":")[0]] for n in names]
    return codes


def pack(network: Network, params: Any, X: np.ndarray, Y: np.ndarray | None, shape: PaddedShape) -> dict:
    """Canonical stacked arrays (``W: (D, n_l, n_{l-1})``, ``X: (D, n_0, m)``) zero-padded to ``shape``.

    Returns the padded loss's arguments: ``ws: (Dp, K, P, P)``, ``bs: (Dp, K, P)``,
    ``X, Y: (Dp, P, M)`` (differentiated or vmapped) and the architecture as data."""
    D, _, m = X.shape
    K, P, M, Dp = shape.depth, shape.width, shape.samples, shape.draws
    dtype = X.dtype
    ws = np.zeros((Dp, K, P, P), dtype)
    bs = np.zeros((Dp, K, P), dtype)
    for layer, (W, b) in enumerate(params):
        n_out, n_in = W.shape[1:]
        ws[:D, layer, :n_out, :n_in] = W
        if b is not None:
            bs[:D, layer, :n_out] = b
    Xp = np.zeros((Dp, P, M), dtype)
    Xp[:D, : X.shape[1], :m] = X
    Yp = np.zeros((Dp, P, M), dtype)
    if Y is not None:
        Yp[:D, : Y.shape[1], :m] = Y
    alpha = np.zeros(P, dtype)
    alpha[: network.n_out] = network.alpha
    rows = np.zeros(P, bool)
    rows[: network.n_out] = True
    cols = np.zeros(M, bool)
    cols[:m] = True
    return {
        "ws": ws, "bs": bs, "X": Xp, "Y": Yp,
        "codes": _codes(network, shape),
        "live": np.arange(K) < network.depth,
        "rows": rows, "cols": cols,
        "divisor": np.asarray({"sum": 1, "mean": m, "mean_all": m * network.n_out}[network.reduction], dtype),
        "loss_code": np.asarray(LOSS_CODES[network.loss], np.int32),
        "alpha": alpha,
        **_penalty_args(network, shape, m, dtype),
    }


def _penalty_args(network: Network, shape: PaddedShape, m: int, dtype: Any) -> dict:
    """The penalty as data: ``penalty = c(m) (l2, l1)`` and masks of the penalised real entries,
    so padded entries contribute nothing and get an exactly zero gradient (the mask multiplies
    the cotangent before JAX's abs'(0) = 1 is applied)."""
    K, P = shape.depth, shape.width
    wmask = np.zeros((K, P, P), bool)
    bmask = np.zeros((K, P), bool)
    for layer in range(1, network.depth + 1):
        n_out, n_in = network.weight_shape(layer)
        wmask[layer - 1, :n_out, :n_in] = True
        bmask[layer - 1, :n_out] = network.bias and network.penalty_bias
    c = network.penalty_scale(m)
    return {"penalty": np.asarray([c * network.l2, c * network.l1], dtype), "wmask": wmask, "bmask": bmask}


def unpack(network: Network, gW: np.ndarray, gb: np.ndarray, D: int) -> Gradients:
    """Canonical gradients from the padded ``gW: (Dp, K, P, P)``, ``gb: (Dp, K, P)``.

    Raises ``PaddingError`` when a padded entry of a real draw is not exactly 0 (unless a real
    entry is already NaN or infinite: then the comparison reports that, with its location)."""
    gW, gb = gW[:D], gb[:D]
    real_W = np.zeros(gW.shape[1:], bool)
    real_b = np.zeros(gb.shape[1:], bool)
    out = []
    for layer in range(1, network.depth + 1):
        n_out, n_in = network.weight_shape(layer)
        real_W[layer - 1, :n_out, :n_in] = True
        # without bias the zero bias's gradient (delta summed) is real, just not asked for
        real_b[layer - 1, :n_out] = True
        dW = np.ascontiguousarray(gW[:, layer - 1, :n_out, :n_in])
        db = np.ascontiguousarray(gb[:, layer - 1, :n_out]) if network.bias else None
        out.append((dW, db))
    stray_W = gW[:, ~real_W]
    stray_b = gb[:, ~real_b]
    if np.any(stray_W != 0) or np.any(stray_b != 0):
        real_finite = np.isfinite(gW[:, real_W]).all() and np.isfinite(gb[:, real_b]).all()
        if real_finite:
            worst = max(float(np.max(np.abs(stray_W), initial=0.0)), float(np.max(np.abs(stray_b), initial=0.0)))
            raise PaddingError(f"jax padded mode: gradient entries of the zero padding of {network.describe()} "
                               f"are not exactly 0 (largest {worst:.3g}); run with JaxBackend(mode='native') "
                               "to compare the unpadded network")
    return tuple(out)


def padded_loss(jax: Any) -> Any:
    """``loss(ws, bs, X, Y, codes, live, rows, cols, divisor, loss_code, alpha, penalty, wmask, bmask)`` of one draw.

    ``ws: (K, P, P)``, ``bs: (K, P)``, ``X, Y: (P, M)``, ``codes: (K, P)`` activation codes,
    ``live: (K,)``, ``rows: (P,)`` real outputs, ``cols: (M,)`` real samples, ``alpha: (P,)``,
    ``penalty: (2,)`` = c(m) (l2, l1), ``wmask: (K, P, P)``/``bmask: (K, P)`` the penalised real entries."""
    jnp = jax.numpy
    stop = jax.lax.stop_gradient
    activations = [(code, act.jax(jax)) for code, act in ((ACTIVATION_CODES[n], a) for n, a in ACTIVATIONS.items())]
    losses = [(LOSS_CODES[n], loss.jax(jax), _ROW_FILL[n]) for n, loss in LOSSES.items() if n in _ROW_FILL]

    def sigma(codes_l, Z):
        out = Z  # identity for padded neurons
        for code, fn in activations:
            chosen = (codes_l == code)[:, None]
            # the native sees Z only where chosen: elsewhere 0, where every native's derivative is finite
            out = jnp.where(chosen, fn(jnp.where(chosen, Z, 0)), out)
        return out

    def penalty(ws, bs, weights, wmask, bmask):
        total = jnp.zeros((), ws.dtype)
        for a, mask in ((ws, wmask), (bs, bmask)):
            total = (total + weights[0] * jnp.where(mask, a * a, 0).sum()
                     + weights[1] * jnp.where(mask, jnp.abs(a), 0).sum())
        return total

    def loss(ws, bs, X, Y, codes, live, rows, cols, divisor, loss_code, alpha, weights, wmask, bmask):
        def layer(A, inputs):
            W, b, codes_l, live_l = inputs
            Z = W @ A + b[:, None]
            return jnp.where(live_l, sigma(codes_l, Z), A), None

        # a scan compiles the layer body once, whatever the depth bucket
        A, _ = jax.lax.scan(layer, X, (ws, bs, codes, live))
        keep = rows[:, None] & cols[None, :]
        # padded samples: a copy of sample 0 (finite wherever the real loss is), outside the gradient
        A_cols = jnp.where(cols[None, :], A, stop(A[:, :1]))
        Y_cols = jnp.where(cols[None, :], Y, Y[:, :1])
        per_sample = jnp.zeros(A.shape[1], A.dtype)
        for code, fn, fill in losses:
            chosen = loss_code == code
            if fill == "zero":
                a_fill, y_fill = jnp.zeros_like(A), jnp.zeros_like(Y)
            elif fill == "half":
                a_fill, y_fill = jnp.full_like(A, 0.5), jnp.full_like(Y, 0.5)
            else:
                top = jnp.max(jnp.where(rows[:, None], stop(A_cols), -jnp.inf), axis=0)
                a_fill, y_fill = jnp.broadcast_to(top - _BELOW, A.shape), jnp.zeros_like(Y)
            # unselected losses see constants only, so their (possibly infinite) derivatives get no path
            a_in = jnp.where(keep & chosen, A, jnp.where(rows[:, None], stop(A_cols), a_fill))
            y_in = jnp.where(rows[:, None], Y_cols, y_fill)
            per_sample = jnp.where(chosen, fn(a_in, y_in, alpha), per_sample)
        return jnp.where(cols, per_sample, 0).sum() / divisor + penalty(ws, bs, weights, wmask, bmask)

    return loss
