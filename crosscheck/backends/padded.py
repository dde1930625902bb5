"""One compiled JAX program for every small architecture of a layout: zero padding and data.

JAX compiles once per program (0.13-2 s, docs/measurements.md), which was most of a sweep's time
when every hypothesis example was a new network. Here every network of depth <= K, widths <= P,
batch size <= M and D <= Dp stacked draws becomes the same fixed-shape computation, and
everything else that varies between networks is an argument, not structure:

- **shapes**: the arrays sit top left in zero arrays of a few bucket shapes (``padded_shape``):
  ``W: (K, P, P)``, ``b: (K, P)``, ``X, Y: (P, M)``;
- **activations**: a per-layer index selects the layer's native through ``lax.switch`` (only
  the selected branch runs, and it is the native function itself); a layer with one
  activation per neuron selects a branch that picks each neuron's native with ``where``; a
  layer past the network's depth selects a branch that passes its input through;
- **loss, target form, reduction**: a loss index selects the loss (integer ``labels`` are one
  of them), padded output rows and samples are neutralised per loss (``_ROW_FILL``), the
  reduction is a data divisor;
- **penalty**: ``c(m) (l2, l1)`` and masks of the penalised entries (bias included or not);
- **layout**: the program also takes the user's own weights (``pack_layout``, the sweep's native
  share): a flag says W is stored ``in_out`` (the program reads ``where(in_out, W.T, W)``, so JAX
  differentiates the transpose), and an augmented W (bias as its last input column, the fixed
  row ``[0 .. 0, 1]`` of the formal neuron) is padded as it is, beside an X with its constant-1
  row: the formal neuron is one more neuron outside the activation mask, so JAX differentiates
  the homogeneous network the user wrote. Only the samples' orientation (rows are transposed
  to columns) and the bias array's shape (``(n,)``, ``(n, 1)`` or ``(1, n)``, reshaped to
  ``(n,)``) are converted on the host, exactly, before the call and back after it.

So one program per dtype (and bucket shape) serves the canonical padded mode and every layout.

Why the real entries are exact: a padded neuron has a zero weight row and zero bias, so its
pre_activation is exactly 0; it is not in the layer's neuron mask, so it passes 0 on (the
identity) and feeds nothing forward (zero columns); its delta is exactly 0. Padded samples
weigh 0 in the loss and reach it only through ``stop_gradient``. So the real entries' gradient
is the function jax.grad computes for the unpadded network (rounding may differ only through
exact zeros added inside sums), and every padded entry of the gradient is exactly 0:
``unpack_layout`` checks that on every call and raises ``PaddingError`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..model.activations import ACTIVATIONS
from ..model.case import Gradients
from ..model.conventions import Convention
from ..model.losses import LOSSES
from ..model.network import Network
from .fingerprint import fingerprint

__all__ = ["PaddedShape", "PaddingError", "padded_shape", "SMALLEST", "SWEEP_BUCKET", "fits", "paddable",
           "pack", "unpack", "pack_layout", "unpack_layout", "padded_loss", "natives", "natives_key", "PAD_LIMITS",
           "ARGS", "ACTIVATION_CODES", "LOSS_CODES", "MIXED", "PASS", "LABELS"]

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
MIXED = len(ACTIVATION_CODES)  # a layer with one activation per neuron
PASS = MIXED + 1  # a layer past the network's depth
LOSS_CODES = {name: i for i, name in enumerate(LOSSES)}
LABELS = len(LOSS_CODES)  # softmax_ce read with integer class labels (jax_labels)

# the program's arguments, in order; the first five are per draw (vmapped, the first two differentiated)
ARGS = ("ws", "bs", "X", "Y", "labels", "in_out", "act", "codes", "neurons", "rows", "cols", "divisor", "loss_code",
        "alpha", "penalty", "wmask", "bmask")


class PaddingError(RuntimeError):
    """A padded gradient entry came out non-zero: the padding (or the library) is wrong."""


@dataclass(frozen=True)
class PaddedShape:
    """The fixed shape one compiled program serves: depth K, width P, samples M, draws Dp."""

    depth: int
    width: int
    samples: int
    draws: int


# the canonical padded mode computes a bias-free network with a zero bias (Z = W A + 0 is W A)
# and drops its db: one program serves networks with and without bias
_CANONICAL_CONV = Convention("columns", "out_in", "vector", "pairs")


SMALLEST = (4, 16, 8)  # the smallest bucket's (depth, width, samples) unless a caller fits one
# a sweep's default ranges: depth 1-4, widths 2-9 (+1: an augmented layout's formal neuron), batch 1-6
SWEEP_BUCKET = (4, 10, 6)


def _bucket(n: int, smallest: int) -> int:
    """``smallest`` for ``n <= smallest``, else the next power of two."""
    return smallest if n <= smallest else 1 << (int(n) - 1).bit_length()


def padded_shape(network: Network, m: int, draws: int, convention: Convention | None = None,
                 smallest: tuple[int, int, int] = SMALLEST) -> PaddedShape:
    """Round every size up to a bucket, so that many architectures share one shape (an
    augmented layout needs one more row and column: the constant 1 and the formal neuron).

    ``smallest``: the smallest bucket's (depth, width, samples); a default sweep passes
    ``SWEEP_BUCKET``, so every network it draws fits one program with no more padding than its
    largest network needs (P = 10 instead of 16 for widths up to 9: half the program's work)."""
    extra = 1 if convention is not None and convention.augmented else 0
    K, P, M = smallest
    return PaddedShape(_bucket(network.depth, K), _bucket(max(network.widths) + extra, P), _bucket(m, M),
                       _bucket(draws, 16))


def paddable(network: Network) -> bool:
    """Whether the padded path knows how to neutralise this network's loss on padded rows."""
    return network.loss in _ROW_FILL and network.loss in LOSS_CODES


def fits(network: Network, m: int, convention: Convention | None = None) -> bool:
    """Whether padding pays here (``PAD_LIMITS``; an augmented layout needs one more width) and
    the loss is paddable."""
    extra = 1 if convention is not None and convention.augmented else 0
    return (paddable(network) and max(network.widths) + extra <= PAD_LIMITS["width"]
            and m <= PAD_LIMITS["samples"] and network.depth <= PAD_LIMITS["depth"])


# ---- packing: the user's arrays top left in the bucket shapes ------------------------------

def _top_left(arrays: list, shape: tuple[int, ...], draws: int, dtype: Any, layers: int) -> np.ndarray:
    """``arrays[l]: (D, *s_l)`` into zeros ``(draws, layers, *shape)``, each top left."""
    out = np.zeros((draws, layers, *shape), dtype)
    for layer, a in enumerate(arrays):
        out[(slice(0, a.shape[0]), layer, *(slice(0, n) for n in a.shape[1:]))] = a
    return out


def _layer_codes(network: Network, shape: PaddedShape) -> dict:
    """The activations as data: a per-layer index, per-neuron codes (for mixed layers) and the
    mask of the neurons that take the activation (real neurons; not padding, not formal)."""
    K, P = shape.depth, shape.width
    act = np.full(K, PASS, np.int32)
    codes = np.full((K, P), ACTIVATION_CODES["identity"], np.int32)
    neurons = np.zeros((K, P), bool)
    for layer in range(1, network.depth + 1):
        spec = network.activations[layer - 1]
        n = network.widths[layer]
        names = (spec,) * n if isinstance(spec, str) else spec
        # "relu:1" names the reference's subgradient; JAX's native is the base activation's
        found = [ACTIVATION_CODES[name.partition(":")[0]] for name in names]
        codes[layer - 1, :n] = found
        act[layer - 1] = found[0] if len(set(found)) == 1 else MIXED
        neurons[layer - 1, :n] = True
    return {"act": act, "codes": codes, "neurons": neurons}


def pack_layout(network: Network, convention: Convention, Ws: list, bs: list, X: np.ndarray,
                Y: np.ndarray | None, shape: PaddedShape) -> dict:
    """The program's arguments (``ARGS``) from stacked arrays in ``convention``'s user layout.

    ``Ws[l]: (D, *user_weight_shape)`` (padded as they are, in_out or augmented alike),
    ``bs[l]: (D, *user_bias_shape)`` or None, ``X`` and ``Y`` as ``convention.x_to_user``/
    ``y_to_user`` give them (``Y: (D, m)`` integers for labels). Rows are transposed to columns
    and a bias reshaped to ``(D, n)`` here (exact); without a separate bias the program's bias is
    zero (``Z = W A + 0`` is ``W A``) and its gradient is dropped."""
    K, P, M, Dp = shape.depth, shape.width, shape.samples, shape.draws
    dtype = X.dtype
    D = X.shape[0]
    rows = convention.batch == "rows"
    if rows:
        X = np.swapaxes(X, -1, -2)
    m = X.shape[2]
    labels = Y is not None and Y.ndim == 2  # integer class labels (D, m); a canonical Y is one-hot
    if Y is not None and rows and not labels:
        Y = np.swapaxes(Y, -1, -2)
    ws = _top_left(list(Ws), (P, P), Dp, dtype, K)
    present = [b.reshape(D, -1) for b in bs if b is not None]
    bs_p = _top_left(present, (P,), Dp, dtype, K) if present else np.zeros((Dp, K, P), dtype)
    Xp = _top_left([X], (P, M), Dp, dtype, 1)[:, 0]
    Yp = np.zeros((Dp, P, M), dtype) if Y is None or labels else _top_left([Y], (P, M), Dp, dtype, 1)[:, 0]
    Lp = np.zeros((Dp, M), np.int32)
    if labels:
        Lp[:D, :m] = Y
    alpha = np.zeros(P, dtype)
    alpha[: network.n_out] = network.alpha
    return {
        "ws": ws, "bs": bs_p, "X": Xp, "Y": Yp, "labels": Lp,
        "in_out": np.asarray(convention.weights == "in_out"),
        **_cached(("codes", network, shape), lambda: _layer_codes(network, shape)),
        "rows": np.arange(P) < network.n_out, "cols": np.arange(M) < m,
        "divisor": np.asarray({"sum": 1, "mean": m, "mean_all": m * network.n_out}[network.reduction], dtype),
        "loss_code": np.asarray(LABELS if labels else LOSS_CODES[network.loss], np.int32),
        "alpha": alpha,
        **_cached(("penalty", network, convention, shape, m, np.dtype(dtype).name),
                  lambda: _penalty_args(network, convention, shape, m, dtype)),
    }


_ARCHITECTURE_ARGS: dict = {}  # the arguments that depend on the architecture alone, made once each
_ARCHITECTURE_ARGS_MAX = 4096


def _cached(key: tuple, make) -> dict:
    """``make()``'s arrays for ``key`` (read-only: every call with this architecture shares them)."""
    found = _ARCHITECTURE_ARGS.get(key)
    if found is None:
        found = make()
        for a in found.values():
            a.setflags(write=False)
        if len(_ARCHITECTURE_ARGS) >= _ARCHITECTURE_ARGS_MAX:
            _ARCHITECTURE_ARGS.clear()
        _ARCHITECTURE_ARGS[key] = found
    return found


def _penalty_args(network: Network, convention: Convention, shape: PaddedShape, m: int, dtype: Any) -> dict:
    """The penalty as data: ``penalty = c(m) (l2, l1)`` and masks of the penalised entries in the
    user's layout (canonical masks converted like gradients, so an augmented W's fixed row is
    out), so padded entries contribute nothing and get an exactly zero gradient (the mask
    multiplies the cotangent before JAX's abs'(0) = 1 is applied)."""
    K, P = shape.depth, shape.width
    pen_b = network.bias and network.penalty_bias
    canonical = tuple((np.ones(network.weight_shape(layer)), np.full(network.widths[layer], float(pen_b)))
                      for layer in range(1, network.depth + 1))
    if convention == _CANONICAL_CONV:  # canonical arrays (also a bias-free network's zero bias)
        Wm, bm = [W for W, _ in canonical], [b for _, b in canonical]
    else:
        user = replace(convention, params="pairs").params_to_user(canonical, network, gradient=True)
        pairs = convention.has_bias and not convention.augmented
        Wm = [W for W, _ in user] if pairs else list(user)
        bm = [b.reshape(-1) for _, b in user] if pairs else []
    wmask = _top_left([w[None] for w in Wm], (P, P), 1, bool, K)[0]
    bmask = _top_left([b[None] for b in bm], (P,), 1, bool, K)[0] if bm else np.zeros((K, P), bool)
    c = network.penalty_scale(m)
    return {"penalty": np.asarray([c * network.l2, c * network.l1], dtype), "wmask": wmask, "bmask": bmask}


def unpack_layout(network: Network, convention: Convention, gW: np.ndarray, gb: np.ndarray,
                  D: int) -> tuple[list, list]:
    """The user-layout gradients ``(dWs, dbs)``: the top-left blocks of ``gW: (Dp, K, P, P)`` and
    ``gb: (Dp, K, P)`` (a bias reshaped to the user's shape), after checking that every other
    entry of a real draw is exactly 0.

    Raises ``PaddingError`` when a padded entry is not exactly 0 (unless a real entry is
    already NaN or infinite: then the comparison reports that, with its location)."""
    gW, gb = gW[:D], gb[:D]
    real_W = np.zeros(gW.shape[1:], bool)
    real_b = np.zeros(gb.shape[1:], bool)
    dWs, dbs = [], []
    separate = convention.has_bias and not convention.augmented and network.bias
    for layer in range(1, network.depth + 1):
        block = (layer - 1, *(slice(0, n) for n in convention.user_weight_shape(network, layer)))
        real_W[block] = True
        dWs.append(np.ascontiguousarray(gW[(slice(None), *block)]))
        n = network.widths[layer]
        # without a separate bias the zero bias's gradient (delta summed) is real, just not asked
        # for; an augmented layer's formal neuron (one more row of W) has one too
        user_W = convention.user_weight_shape(network, layer)
        real_b[layer - 1, : user_W[1] if convention.weights == "in_out" else user_W[0]] = True
        user_shape = convention.user_bias_shape(network, layer) if separate else None
        dbs.append(None if user_shape is None else gb[:, layer - 1, :n].reshape(D, *user_shape))
    # every padded entry is exactly 0 when the real blocks hold every non-zero entry (a NaN
    # counts as non-zero): two counts instead of copying the padding out, the same verdict
    real_nonzero = sum(np.count_nonzero(dW) for dW in dWs) + sum(
        np.count_nonzero(gb[:, layer, :n]) for layer, n in enumerate(real_b.sum(axis=1)))
    if np.count_nonzero(gW) + np.count_nonzero(gb) == real_nonzero:
        return dWs, dbs
    stray_W = gW[:, ~real_W]
    stray_b = gb[:, ~real_b]
    if np.any(stray_W != 0) or np.any(stray_b != 0):
        real_finite = np.isfinite(gW[:, real_W]).all() and np.isfinite(gb[:, real_b]).all()
        if real_finite:
            worst = max(float(np.max(np.abs(stray_W), initial=0.0)), float(np.max(np.abs(stray_b), initial=0.0)))
            raise PaddingError(f"jax padded mode: gradient entries of the zero padding of {network.describe()} "
                               f"are not exactly 0 (largest {worst:.3g}); run with JaxBackend(mode='native') "
                               "to compare the unpadded network")
    return dWs, dbs


def pack(network: Network, params: Any, X: np.ndarray, Y: np.ndarray | None, shape: PaddedShape) -> dict:
    """Canonical stacked arrays (``W: (D, n_l, n_{l-1})``, ``X: (D, n_0, m)``) packed for the
    program: ``ws: (Dp, K, P, P)``, ``bs: (Dp, K, P)``, ``X, Y: (Dp, P, M)``, the
    architecture as data (labels are one-hot here, as the canonical Y holds them)."""
    Ws = [W for W, _ in params]
    bs = [np.zeros(W.shape[:2], W.dtype) if b is None else b for W, b in params]
    return pack_layout(network, _CANONICAL_CONV, Ws, bs, X, Y, shape)


def unpack(network: Network, gW: np.ndarray, gb: np.ndarray, D: int) -> Gradients:
    """Canonical gradients from the program's ``gW: (Dp, K, P, P)``, ``gb: (Dp, K, P)``
    (``unpack_layout`` checks the padding)."""
    dWs, dbs = unpack_layout(network, _CANONICAL_CONV, gW, gb, D)
    return tuple((dW, db if network.bias else None) for dW, db in zip(dWs, dbs))


# ---- the program ---------------------------------------------------------------------------

def natives_key(jax: Any) -> tuple:
    """The natives' part of a program's key: what the tables' JAX natives compute, read from their
    code (``crosscheck.backends.fingerprint``: 0.5 ms), or where one cannot be read so, from the
    trace of their gradients (``natives``: 0.05-0.1 s of JAX tracing, which a sweep paid before it
    could fork its jobs). A changed or patched native changes either."""
    activations = [(name, act.jax(jax)) for name, act in ACTIVATIONS.items()]
    losses = [(name, loss.jax(jax)) for name, loss in LOSSES.items() if name in _ROW_FILL]
    losses.append(("labels", LOSSES["softmax_ce"].jax_labels(jax)))
    code = fingerprint(activations, losses)
    if code is not None:
        return ("code", code, *_ROW_FILL.items())
    return ("trace", *natives(jax))


def natives(jax: Any) -> tuple:
    """What the tables' JAX natives compute, derivatives included: the jaxpr of each one's
    gradient at a small point. Part of a program's cache key, so a program is shared between
    backends (and read back from an earlier process, ``crosscheck.backends.programs``) only while
    every native (or the library function it calls) is unchanged."""
    # NumPy inputs: tracing them compiles nothing (jax.numpy constructors would, eagerly)
    x = np.asarray([0.5, -0.25])
    A, Y, alpha = np.asarray([[0.5, -1.0], [0.25, 2.0]]), np.eye(2), np.ones(2)
    labels = np.asarray([0, 1], np.int32)

    def summed(f, *rest):
        return lambda a: f(a, *rest).sum()

    grads = [(x, summed(act.jax(jax))) for act in ACTIVATIONS.values()]
    grads += [(A, summed(loss.jax(jax), Y, alpha)) for name, loss in LOSSES.items() if name in _ROW_FILL]
    grads.append((A, summed(LOSSES["softmax_ce"].jax_labels(jax), labels, alpha)))

    def every_gradient(*points):
        return [jax.grad(f)(p) for p, (_, f) in zip(points, grads)]

    # one trace of all of them: one trace each cost a process 0.1-0.2 s more at its start
    return (str(jax.make_jaxpr(every_gradient)(*(p for p, _ in grads))), *_ROW_FILL.items())


def padded_loss(jax: Any) -> Any:
    """``loss(*ARGS)`` of one draw.

    ``ws: (K, P, P)``, ``bs: (K, P)``, ``X, Y: (P, M)``,
    ``labels: (M,)``, ``in_out`` whether W is stored transposed, ``act: (K,)`` layer indices,
    ``codes: (K, P)`` per-neuron codes,
    ``neurons: (K, P)``, ``rows: (P,)`` real outputs, ``cols: (M,)`` real samples, ``alpha: (P,)``,
    ``penalty: (2,)`` = c(m) (l2, l1), ``wmask``/``bmask`` the penalised real entries."""
    jnp = jax.numpy
    lax = jax.lax
    stop = lax.stop_gradient
    natives = [act.jax(jax) for act in ACTIVATIONS.values()]
    losses = {LOSS_CODES[n]: (loss.jax(jax), _ROW_FILL[n]) for n, loss in LOSSES.items() if n in _ROW_FILL}
    losses[LABELS] = (LOSSES["softmax_ce"].jax_labels(jax), "below")

    def neuron(v):  # a (P,) mask against Z: (P, M)
        return v[:, None]

    def linear(W, b, A, in_out):
        # an in_out W is the user's own array: JAX differentiates its transpose
        return jnp.where(in_out, W.T, W) @ A + b[:, None]

    def uniform(fn):
        def branch(Z, A, mask, codes_l):
            chosen = neuron(mask)
            # padded and formal neurons keep Z (the identity); the native sees 0 there
            return jnp.where(chosen, fn(jnp.where(chosen, Z, 0)), Z)
        return branch

    def mixed(Z, A, mask, codes_l):
        out = Z
        for code, fn in enumerate(natives):
            chosen = neuron(mask & (codes_l == code))
            # the native sees Z only where chosen: elsewhere 0, where every native's derivative is finite
            out = jnp.where(chosen, fn(jnp.where(chosen, Z, 0)), out)
        return out

    def passing(Z, A, mask, codes_l):
        return A

    branches = [uniform(fn) for fn in natives] + [mixed, passing]
    select_layer = _switched(jax, branches)

    def loss_branch(fn, fill, is_labels):
        def branch(A, Y, labels, rows, cols, alpha):
            keep = rows[:, None] & cols[None, :]
            # padded samples: a copy of sample 0 (finite wherever the real loss is), outside the gradient
            A_cols = jnp.where(cols[None, :], A, stop(A[:, :1]))
            if fill == "zero":
                a_fill, y_fill = jnp.zeros_like(A), jnp.zeros_like(Y)
            elif fill == "half":
                a_fill, y_fill = jnp.full_like(A, 0.5), jnp.full_like(Y, 0.5)
            else:
                top = jnp.max(jnp.where(rows[:, None], stop(A_cols), -jnp.inf), axis=0)
                a_fill, y_fill = jnp.broadcast_to(top - _BELOW, A.shape), jnp.zeros_like(Y)
            a_in = jnp.where(keep, A, jnp.where(rows[:, None], stop(A_cols), a_fill))
            if is_labels:
                return fn(a_in, jnp.where(cols, labels, labels[0]), alpha)
            y_in = jnp.where(rows[:, None], jnp.where(cols[None, :], Y, Y[:, :1]), y_fill)
            return fn(a_in, y_in, alpha)
        return branch

    loss_branches = [loss_branch(*losses[code], code == LABELS) for code in range(LABELS + 1)]
    select_loss = _switched(jax, loss_branches)

    def penalty(ws, bs, weights, wmask, bmask):
        total = jnp.zeros((), ws.dtype)
        for a, mask in ((ws, wmask), (bs, bmask)):
            total = (total + weights[0] * jnp.where(mask, a * a, 0).sum()
                     + weights[1] * jnp.where(mask, jnp.abs(a), 0).sum())
        return total

    def loss(ws, bs, X, Y, labels, in_out, act, codes, neurons, rows, cols, divisor, loss_code, alpha, weights,
             wmask, bmask):
        def layer(A, inputs):
            W, b, act_l, mask, codes_l = inputs
            return select_layer(act_l, linear(W, b, A, in_out), A, mask, codes_l), None

        # a scan compiles the layer body once, whatever the depth bucket. Unrolled it ran 1.9 -> 1.5 ms
        # of CPU per call, but its executable is twice the size and a process reads it back ~0.1-0.2 s
        # slower: a loss for a 200-example sweep, a wash at 1000 (docs/measurements.md)
        A, _ = lax.scan(layer, X, (ws, bs, act, neurons, codes))
        per_sample = select_loss(loss_code, A, Y, labels, rows, cols, alpha)
        return jnp.where(cols, per_sample, 0).sum() / divisor + penalty(ws, bs, weights, wmask, bmask)

    return loss


def _switched(jax: Any, branches: list) -> Any:
    """``f(index, x, y, *rest) = branches[index](x, y, *rest)``, differentiable in ``x`` and ``y``.

    The forward pass and the backward pass are each one ``lax.switch``, and the backward branch
    is ``jax.vjp`` of the selected branch (JAX's own derivative of the native function). Plain
    ``jax.grad`` through a switch gives the same numbers but keeps every branch's residuals
    alive in every branch (zeros for the unselected ones): with 12 branches, inside a scan, under
    vmap, that made compiling 20x slower and each call 3x slower."""
    lax = jax.lax

    @jax.custom_vjp
    def f(index, x, y, *rest):
        return lax.switch(index, branches, x, y, *rest)

    def fwd(index, x, y, *rest):
        return f(index, x, y, *rest), (index, x, y, rest)

    def bwd(saved, g):
        index, x, y, rest = saved

        def pull(branch):
            def run(x, y, *rest):
                return jax.vjp(lambda a, b: branch(a, b, *rest), x, y)[1](g)
            return run

        dx, dy = lax.switch(index, [pull(b) for b in branches], x, y, *rest)
        return (None, dx, dy) + (None,) * len(rest)

    f.defvjp(fwd, bwd)
    return f
