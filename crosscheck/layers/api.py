"""The CS231n layer API: which functions each layer has, how its inputs are drawn, how the student's
functions are called, and what the reference says they must return.

Each ``Layer`` knows

- ``functions``: the names the student's module must define (``affine_forward``, ``affine_backward``);
- ``dims(mode)``: a hypothesis strategy of its dimensions. ``mode="distinct"`` keeps every dimension
  different from the others *through shrinking* (they are built as increasing offsets), so a
  transpose or a missing reshape is a shape error; ``"coincident"`` draws them from a small range
  where N = D = M and square kernels happen, where such code is wrong only in its values;
- ``inputs(dims, rng, dtype, options)``: the arrays and parameter dicts, away from kinks (relu's 0,
  the SVM's hinge, ties in a pooling window) so every subgradient convention agrees;
- ``run(call, inputs)``: calls the student's functions (forward, then backward on the student's own
  cache with a random ``dout``) and returns what came back, by name (``out``, ``dx``, ``dw``, ...);
- ``expect(inputs, got)``: the reference values for those names (``crosscheck.reference.layers``).

Dropout is checked against the mask the student's own forward drew (read back from its output), and
batchnorm's running statistics against the course's update rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..reference.layers import affine, dropout, losses, norm, relu
from . import kinks
from .common import (
    REFERENCE_DTYPE,
    BadReturn,
    Call,
    Layer,
    NotImplementedResult,
    away_from_zero,
    bn_inputs,
    bn_run,
    cast_arrays,
    f64,
    got_array,
    got_grads,
    got_pair,
    hypothesis_strategies,
    increasing_sizes,
    norm_params,
    running_stats,
    test_mode_out,
    with_kinks,
)
from .recurrent import RECURRENT_LAYERS
from .spatial import (
    conv_dims,
    conv_expect,
    conv_inputs,
    conv_run,
    gn_dims,
    gn_expect,
    gn_inputs,
    gn_run,
    pool_dims,
    pool_expect,
    pool_inputs,
    pool_run,
    sbn_expect,
    sbn_inputs,
    spatial_dims,
)

__all__ = ["Layer", "LAYERS", "LAYER_NAMES", "ALIASES", "layer_for_function", "Call", "NotImplementedResult",
           "BadReturn", "REFERENCE_DTYPE", "KEEP_PROBABILITIES", "dropout_p"]


# affine -----------------------------------------------------------------------------------------------

def _affine_dims(mode: str) -> Any:
    st = hypothesis_strategies()
    if mode == "distinct":
        # N < d_1 < ... < d_k and M > D = d_1 ... d_k: every dimension differs from every other
        return st.integers(1, 3).flatmap(lambda k: increasing_sizes(st, 1, k + 1).flatmap(
            lambda v: st.integers(1, 3).map(lambda extra: {
                "N": v[0], "d": list(v[1:]), "M": int(np.prod(v[1:])) + extra})))
    # all equal (square w, N = D = M) or small and independent
    equal = st.integers(1, 3).map(lambda v: {"N": v, "d": [v], "M": v})
    return st.one_of(equal, st.fixed_dictionaries({"N": st.integers(1, 3), "d": st.lists(st.integers(1, 3), min_size=1,
                                                                                         max_size=3),
                                                 "M": st.integers(1, 3)}))


def _affine_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    N, d, M = dims["N"], tuple(dims["d"]), dims["M"]
    D = int(np.prod(d))
    return cast_arrays({"x": rng.normal(size=(N, *d)), "w": rng.normal(size=(D, M)), "b": rng.normal(size=M),
                  "dout": rng.normal(size=(N, M))}, dtype)


def _affine_run(call: Call, a: dict, opts: dict) -> dict:
    out, cache = got_pair(call("affine_forward", [a["x"], a["w"], a["b"]], keep=(1,)), "affine_forward",
                       ("out", "cache"))
    got = {"out": got_array(out, "affine_forward", "out")}
    got.update(got_grads(call("affine_backward", [a["dout"], cache]), "affine_backward", ("dx", "dw", "db")))
    return got


def _affine_expect(a: dict, got: dict, opts: dict) -> dict:
    x, w, b, dout = (f64(a[k]) for k in ("x", "w", "b", "dout"))
    return {"out": affine.forward(x, w, b), **affine.vjp(dout, x, w, b)}


# relu ---------------------------------------------------------------------------------------------------

def _relu_dims(mode: str, kinks: bool = True) -> Any:
    st = hypothesis_strategies()
    if mode == "distinct":
        shapes = st.booleans().flatmap(
            lambda four: increasing_sizes(st, 1, 4 if four else 2).map(lambda v: {"shape": list(v)}))
    else:
        shapes = st.lists(st.integers(1, 3), min_size=2, max_size=4).map(lambda s: {"shape": s})
    return with_kinks(shapes) if kinks else shapes


def _relu_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    shape = tuple(dims["shape"])
    x = away_from_zero(rng, shape)
    if dims.get("kinks"):
        x = kinks.place_relu(x, rng)
    return cast_arrays({"x": x, "dout": rng.normal(size=shape)}, dtype)


def _relu_describe(d: dict) -> str:
    return f"x {tuple(d['shape'])}" + (", on kinks" if d.get("kinks") else "")


def _relu_run(call: Call, a: dict, opts: dict) -> dict:
    out, cache = got_pair(call("relu_forward", [a["x"]], keep=(1,)), "relu_forward", ("out", "cache"))
    return {"out": got_array(out, "relu_forward", "out"),
            **got_grads(call("relu_backward", [a["dout"], cache]), "relu_backward", ("dx",))}


def _relu_expect(a: dict, got: dict, opts: dict) -> dict:
    x, dout = f64(a["x"]), f64(a["dout"])
    dx, note = kinks.accept_relu(x, dout, got.get("dx"), relu.vjp(dout, x)["dx"])
    return {"out": relu.forward(x), "dx": dx, **({"_note": note} if note else {})}


# softmax and SVM losses ----------------------------------------------------------------------------------

def _loss_dims(mode: str, kinks: bool = False) -> Any:
    st = hypothesis_strategies()
    if mode == "distinct":
        dims = increasing_sizes(st, 1, 2).map(lambda v: {"N": v[0], "C": max(v[1], 2)})
    else:
        dims = st.integers(1, 3).flatmap(lambda n: st.integers(2, 3).map(lambda c: {"N": n, "C": c}))
    return with_kinks(dims) if kinks else dims


def _loss_inputs(kind: str) -> Callable:
    def inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
        N, C = dims["N"], dims["C"]
        y = rng.integers(0, C, size=N)
        x = rng.normal(size=(N, C)) * 1.5
        if kind == "svm" and dims.get("kinks"):
            x = kinks.place_svm(N, C, rng)
        elif kind == "svm":  # keep every hinge margin at least 0.05 from its kink
            for _ in range(100):
                m = losses.svm_margins(x, y)
                m[np.arange(N), y] = 1.0
                close = np.abs(m) < 0.05
                if not close.any():
                    break
                x = np.where(close, x + 0.2, x)
        return {**cast_arrays({"x": x}, dtype), "y": y}

    return inputs


def _loss_run(fn: str) -> Callable:
    def run(call: Call, a: dict, opts: dict) -> dict:
        loss, dx = got_pair(call(fn, [a["x"], a["y"]]), fn, ("loss", "dx"))
        return {"loss": got_array(loss, fn, "loss"), "dx": got_array(dx, fn, "dx")}

    return run


def _loss_expect(fn: Callable) -> Callable:
    def expect(a: dict, got: dict, opts: dict) -> dict:
        loss, dx = fn(f64(a["x"]), a["y"])
        note = ""
        if fn is losses.svm_loss:
            dx, note = kinks.accept_svm(f64(a["x"]), a["y"], got.get("dx"), dx)
        return {"loss": np.asarray(loss), "dx": dx, **({"_note": note} if note else {})}

    return expect


# normalisation ---------------------------------------------------------------------------------------------

def _nd_dims(mode: str) -> Any:
    st = hypothesis_strategies()
    if mode == "distinct":
        return increasing_sizes(st, 1, 2).map(lambda v: {"N": v[0], "D": v[1]})
    return st.integers(1, 4).flatmap(lambda n: st.integers(1, 4).map(lambda d: {"N": n, "D": d}))


def _bn_expect(a: dict, got: dict, opts: dict) -> dict:
    x, g, b, dout = (f64(a[k]) for k in ("x", "gamma", "beta", "dout"))
    return {"out": norm.batchnorm_forward(x, g, b, a["eps"]), **running_stats(a, (0,)),
            "out_test_mode": test_mode_out(a, (0,)),
            **norm.batchnorm_vjp(dout, x, g, b, a["eps"]),
            "_scales": norm.cancellation_scales(dout, g, x, (0,), a["eps"], (0,))}


def _ln_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    N, D = dims["N"], dims["D"]
    eps, _ = norm_params(rng, opts)
    x = rng.normal(size=(N, D)) * rng.uniform(0.5, 3.0, size=(N, 1)) + rng.normal(size=(N, 1)) * 2
    return {**cast_arrays({"x": x, "gamma": rng.normal(size=D), "beta": rng.normal(size=D),
                     "dout": rng.normal(size=(N, D))}, dtype), "eps": eps}


def _ln_run(call: Call, a: dict, opts: dict) -> dict:
    out, cache = got_pair(call("layernorm_forward", [a["x"], a["gamma"], a["beta"], {"eps": a["eps"]}], keep=(1,)),
                       "layernorm_forward", ("out", "cache"))
    return {"out": got_array(out, "layernorm_forward", "out"),
            **got_grads(call("layernorm_backward", [a["dout"], cache]), "layernorm_backward",
                        ("dx", "dgamma", "dbeta"))}


def _ln_expect(a: dict, got: dict, opts: dict) -> dict:
    x, g, b, dout = (f64(a[k]) for k in ("x", "gamma", "beta", "dout"))
    return {"out": norm.layernorm_forward(x, g, b, a["eps"]), **norm.layernorm_vjp(dout, x, g, b, a["eps"]),
            "_scales": norm.cancellation_scales(dout, g, x, (1,), a["eps"], (0,))}


# dropout ------------------------------------------------------------------------------------------------------

KEEP_PROBABILITIES = (0.3, 0.5, 0.8)


def _dropout_dims(mode: str) -> Any:
    st = hypothesis_strategies()
    base = _relu_dims(mode, kinks=False)
    return base.flatmap(lambda d: st.sampled_from(KEEP_PROBABILITIES).map(lambda q: {**d, "keep": q}))


def _dropout_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    shape = tuple(dims["shape"])
    return {**cast_arrays({"x": away_from_zero(rng, shape), "dout": rng.normal(size=shape),
                     "x_large": away_from_zero(rng, (40, 50))}, dtype),
            "keep": dims["keep"], "seed": int(rng.integers(0, 2**31 - 1))}


def dropout_p(keep: float, convention: str) -> float:
    """The value of dropout_param["p"] for keep probability ``keep`` under ``--dropout-p``."""
    return keep if convention == "keep" else 1.0 - keep


def _dropout_run(call: Call, a: dict, opts: dict) -> dict:
    p = dropout_p(a["keep"], opts.get("dropout_p", "keep"))
    param = {"p": p, "mode": "train", "seed": a["seed"]}
    out, cache = got_pair(call("dropout_forward", [a["x"], dict(param)], keep=(1,)), "dropout_forward",
                          ("out", "cache"))
    got = {"out": got_array(out, "dropout_forward", "out")}
    got.update(got_grads(call("dropout_backward", [a["dout"], cache]), "dropout_backward", ("dx",)))
    # the kept fraction of the very masks the gradients are judged with (this example's, pooled with every
    # earlier example's of this check): a dropout that drops only on the large probe below cannot pass
    pool = opts.setdefault("_kept_pool", [0, 0, 0.0, 0.0])  # kept, entries, expected kept, its variance
    if got["out"].shape == np.shape(a["x"]):
        n, keep = got["out"].size, a["keep"]
        pool[0] += int(np.count_nonzero(got["out"]))
        pool[1] += n
        pool[2] += keep * n
        pool[3] += n * keep * (1 - keep)
    got["kept_fraction_pooled"] = np.asarray(pool[0] / pool[1] if pool[1] else a["keep"])
    # the same seed must give the same mask (the course's gradient checks rely on it)
    again, _ = got_pair(call("dropout_forward", [a["x"], dict(param)], keep=(1,)), "dropout_forward", ("out", "cache"))
    got["out_same_seed"] = got_array(again, "dropout_forward", "out")
    # many entries at once: the fraction kept tells keep from drop probability
    big, _ = got_pair(call("dropout_forward", [a["x_large"], {"p": p, "mode": "train", "seed": a["seed"] + 1}],
                        keep=(1,)), "dropout_forward", ("out", "cache"))
    got["kept_fraction"] = np.asarray(np.mean(got_array(big, "dropout_forward", "out") != 0))
    test_out, test_cache = got_pair(call("dropout_forward", [a["x"], {"p": p, "mode": "test", "seed": a["seed"]}],
                                      keep=(1,)), "dropout_forward", ("out", "cache"))
    got["out_test_mode"] = got_array(test_out, "dropout_forward (test mode)", "out")
    got["dx_test_mode"] = got_grads(call("dropout_backward", [a["dout"], test_cache]), "dropout_backward (test mode)",
                                 ("dx",))["dx"]
    return got


def kept_fraction_bound(keep: float, n: int = 2000) -> float:
    return 6.0 * np.sqrt(keep * (1 - keep) / n)  # six binomial standard deviations


def _dropout_expect(a: dict, got: dict, opts: dict) -> dict:
    x, dout, keep = f64(a["x"]), f64(a["dout"]), a["keep"]
    out = got.get("out")
    mask = dropout.mask_from_output(out) if isinstance(out, np.ndarray) and out.shape == x.shape else \
        np.ones_like(x)
    frac = got.get("kept_fraction")
    # the kept fraction passes when within six standard deviations of keep (no false failures in practice);
    # reported as the keep probability itself so the comparison shows the expected value
    within = frac is not None and abs(float(frac) - keep) <= kept_fraction_bound(keep)
    kept, entries, mean, var = opts.get("_kept_pool", (0, 0, 0.0, 0.0))
    # pooled over the examples so far: within six standard deviations of what their keep probabilities give
    pooled_ok = entries == 0 or abs(kept - mean) <= 6.0 * np.sqrt(var) + 1e-9
    pooled = got.get("kept_fraction_pooled")
    return {"out": dropout.forward(x, mask, keep), **dropout.vjp(dout, mask, keep),
            "out_same_seed": out if isinstance(out, np.ndarray) else dropout.forward(x, mask, keep),
            "kept_fraction": np.asarray(float(frac) if within else keep),
            "kept_fraction_pooled": np.asarray(float(pooled) if pooled_ok and pooled is not None
                                               else (mean / entries if entries else keep)),
            "out_test_mode": x, "dx_test_mode": dout}


# ---- the table -----------------------------------------------------------------------------------------------

def _fmt(keys: str) -> Callable[[dict], str]:
    return lambda d: ", ".join(f"{k}={d[k]}" for k in keys.split() if k in d)


_FWD, _BWD = ("out",), ("dx", "dw", "db")
LAYERS: dict[str, Layer] = {
    "affine": Layer("affine", ("affine_forward", "affine_backward"),
                    lambda d: f"x {(d['N'], *d['d'])}, w {(int(np.prod(d['d'])), d['M'])}",
                    _affine_dims, ({"N": 1, "d": [2, 3], "M": 7}, {"N": 2, "d": [3], "M": 4}),
                    _affine_inputs, _affine_run, _affine_expect, (_FWD, _BWD),
                    "out = x.reshape(N, D) @ w + b; dx keeps x's shape"),
    "relu": Layer("relu", ("relu_forward", "relu_backward"), _relu_describe, _relu_dims,
                  ({"shape": [1, 2]}, {"shape": [2, 3, 4, 5]}, {"shape": [3, 4], "kinks": True}), _relu_inputs,
                  _relu_run, _relu_expect,
                  (_FWD, ("dx",)), "out = max(0, x)"),
    "softmax_loss": Layer("softmax_loss", ("softmax_loss",), _fmt("N C"), _loss_dims,
                          ({"N": 1, "C": 3}, {"N": 2, "C": 5}), _loss_inputs("softmax"), _loss_run("softmax_loss"),
                          _loss_expect(losses.softmax_loss), (("loss",), ("dx",)), "mean cross-entropy of softmax"),
    "svm_loss": Layer("svm_loss", ("svm_loss",), _fmt("N C kinks"), lambda m: _loss_dims(m, kinks=True),
                      ({"N": 1, "C": 3}, {"N": 2, "C": 5}, {"N": 3, "C": 4, "kinks": True}),
                      _loss_inputs("svm"), _loss_run("svm_loss"), _loss_expect(losses.svm_loss),
                      (("loss",), ("dx",)), "mean multiclass hinge loss, margin 1"),
    "batchnorm": Layer("batchnorm", ("batchnorm_forward", "batchnorm_backward"), _fmt("N D"), _nd_dims,
                       ({"N": 1, "D": 2}, {"N": 3, "D": 4}), bn_inputs, bn_run("batchnorm_forward",
                                                                                 "batchnorm_backward"),
                       _bn_expect,
                       (_FWD, ("running_mean", "running_var"), ("dx", "dgamma", "dbeta"), ("out_test_mode",)),
                       "train mode, normalised over N; running statistics"),
    "batchnorm_alt": Layer("batchnorm_alt", ("batchnorm_forward", "batchnorm_backward_alt"), _fmt("N D"), _nd_dims,
                           ({"N": 1, "D": 2}, {"N": 3, "D": 4}), bn_inputs,
                           bn_run("batchnorm_forward", "batchnorm_backward_alt"), _bn_expect,
                           (_FWD, ("running_mean", "running_var"), ("dx", "dgamma", "dbeta"), ("out_test_mode",)),
                           "batchnorm_forward with batchnorm_backward_alt"),
    "layernorm": Layer("layernorm", ("layernorm_forward", "layernorm_backward"), _fmt("N D"), _nd_dims,
                       ({"N": 1, "D": 2}, {"N": 3, "D": 4}), _ln_inputs, _ln_run, _ln_expect,
                       (_FWD, ("dx", "dgamma", "dbeta")), "each sample normalised over its D features"),
    "dropout": Layer("dropout", ("dropout_forward", "dropout_backward"),
                     lambda d: f"x {tuple(d['shape'])}, keep probability {d['keep']}", _dropout_dims,
                     ({"shape": [1, 3], "keep": 0.5}, {"shape": [3, 4], "keep": 0.8}), _dropout_inputs, _dropout_run,
                     _dropout_expect, (_FWD, ("dx",), ("out_same_seed",), ("kept_fraction",), ("kept_fraction_pooled",),
                                       ("out_test_mode", "dx_test_mode")),
                     "inverted dropout; backward checked against the forward's own mask"),
    "conv": Layer("conv", ("conv_forward_naive", "conv_backward_naive"),
                  lambda d: (f"x {(d['N'], d['C'], d['H'], d['W'])}, w {(d['F'], d['C'], d['HH'], d['WW'])}, "
                             f"stride {d['stride']}, pad {d['pad']}"),
                  conv_dims, ({"N": 1, "C": 2, "F": 3, "HH": 2, "WW": 3, "stride": 1, "pad": 1, "Ho": 2, "Wo": 3,
                                "H": 1, "W": 3},
                               {"N": 2, "C": 3, "F": 4, "HH": 3, "WW": 2, "stride": 2, "pad": 0, "Ho": 2, "Wo": 3,
                                "H": 5, "W": 6}),
                  conv_inputs, conv_run, conv_expect, (_FWD, _BWD), "cross-correlation with stride and zero pad"),
    "max_pool": Layer("max_pool", ("max_pool_forward_naive", "max_pool_backward_naive"),
                      lambda d: f"x {(d['N'], d['C'], d['H'], d['W'])}, pool {d['ph']}x{d['pw']}, stride {d['stride']}"
                      + (", with ties" if d.get("kinks") else ""),
                      pool_dims, ({"N": 1, "C": 2, "ph": 2, "pw": 3, "stride": 2, "Ho": 2, "Wo": 2, "H": 4, "W": 5},
                                   {"N": 2, "C": 3, "ph": 2, "pw": 2, "stride": 1, "Ho": 3, "Wo": 2, "H": 4, "W": 3},
                                   {"N": 2, "C": 2, "ph": 2, "pw": 2, "stride": 2, "Ho": 2, "Wo": 2, "H": 4, "W": 4,
                                    "kinks": True}),
                      pool_inputs, pool_run, pool_expect, (_FWD, ("dx",)), "max over each window"),
    "spatial_batchnorm": Layer("spatial_batchnorm", ("spatial_batchnorm_forward", "spatial_batchnorm_backward"),
                               _fmt("N C H W"), spatial_dims,
                               ({"N": 1, "C": 2, "H": 3, "W": 4}, {"N": 2, "C": 3, "H": 4, "W": 5}), sbn_inputs,
                               bn_run("spatial_batchnorm_forward", "spatial_batchnorm_backward"), sbn_expect,
                               (_FWD, ("running_mean", "running_var"), ("dx", "dgamma", "dbeta"), ("out_test_mode",)),
                               "each channel normalised over N, H, W"),
    "spatial_groupnorm": Layer("spatial_groupnorm", ("spatial_groupnorm_forward", "spatial_groupnorm_backward"),
                               _fmt("N C H W G"), gn_dims,
                               ({"N": 1, "G": 2, "C": 6, "H": 3, "W": 4}, {"N": 2, "G": 3, "C": 6, "H": 4, "W": 5}),
                               gn_inputs, gn_run, gn_expect, (_FWD, ("dx", "dgamma", "dbeta")),
                               "G groups of contiguous channels per sample"),
}
LAYERS.update(RECURRENT_LAYERS)  # assignment 3: rnn_step, rnn, word_embedding, ..., lstm (crosscheck.layers.recurrent)
LAYER_NAMES: tuple[str, ...] = tuple(LAYERS)

# other names a user may type for a layer (--layers conv_naive, --layers batchnorm_backward_alt)
ALIASES = {"conv_naive": "conv", "max_pool_naive": "max_pool", "batchnorm_backward_alt": "batchnorm_alt",
           "groupnorm": "spatial_groupnorm", "spatial_batchnorm_alt": "spatial_batchnorm", "softmax": "softmax_loss",
           "svm": "svm_loss", "pool": "max_pool", "embedding": "word_embedding",
           "temporal_softmax": "temporal_softmax_loss"}


def layer_for_function(name: str) -> str | None:
    """The layer a function of the API belongs to (a backward names its layer; a shared forward the first)."""
    if name in LAYERS:
        return name
    if name in ALIASES:
        return ALIASES[name]
    for layer in LAYERS.values():  # backward functions first: batchnorm_backward_alt -> batchnorm_alt
        if name in layer.functions[1:]:
            return layer.name
    for layer in LAYERS.values():
        if name in layer.functions:
            return layer.name
    return None
