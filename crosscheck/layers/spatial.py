"""The layer API's convolutional-network layers: spatial batchnorm, spatial groupnorm, naive convolution
and max pooling (see ``crosscheck.layers.api`` for what each function of a layer does).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..reference.layers import conv, norm, pool
from . import kinks
from .common import (
    Call,
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
)

__all__: list[str] = []


def spatial_dims(mode: str) -> Any:
    st = hypothesis_strategies()
    if mode == "distinct":
        return increasing_sizes(st, 1, 4).map(lambda v: {"N": v[0], "C": v[1], "H": v[2], "W": v[3]})
    return st.fixed_dictionaries({k: st.integers(1, 3) for k in "NCHW"})


def sbn_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    N, C, H, W = dims["N"], dims["C"], dims["H"], dims["W"]
    eps, momentum = norm_params(rng, opts)
    x = rng.normal(size=(N, C, H, W)) * rng.uniform(0.5, 3.0, size=(1, C, 1, 1)) + rng.normal(size=(1, C, 1, 1)) * 2
    arrays = cast_arrays({"x": x, "gamma": rng.normal(size=C), "beta": rng.normal(size=C),
                    "dout": rng.normal(size=(N, C, H, W)), "running_mean": rng.normal(size=C),
                    "running_var": rng.uniform(0.5, 2.0, size=C)}, dtype)
    return {**arrays, "eps": eps, "momentum": momentum}


def sbn_expect(a: dict, got: dict, opts: dict) -> dict:
    x, g, b, dout = (f64(a[k]) for k in ("x", "gamma", "beta", "dout"))
    return {"out": norm.spatial_batchnorm_forward(x, g, b, a["eps"]), **running_stats(a, (0, 2, 3)),
            "out_test_mode": test_mode_out(a, (0, 2, 3)),
            **norm.spatial_batchnorm_vjp(dout, x, g, b, a["eps"]),
            "_scales": norm.cancellation_scales(dout, g.reshape(1, -1, 1, 1), x, (0, 2, 3), a["eps"], (0, 2, 3))}


def gn_dims(mode: str) -> Any:
    st = hypothesis_strategies()
    if mode == "distinct":
        # G < C/G is not required; C = G * per_group, all of N, G, C, H, W distinct where they can be
        return increasing_sizes(st, 1, 4).flatmap(lambda v: st.integers(2, 3).map(
            lambda per: {"N": v[0], "G": v[1], "C": v[1] * per, "H": v[2], "W": v[3]}))
    return st.fixed_dictionaries({"N": st.integers(1, 3), "G": st.integers(1, 2), "per": st.integers(1, 2),
                                  "H": st.integers(1, 3), "W": st.integers(1, 3)}).map(
        lambda d: {"N": d["N"], "G": d["G"], "C": d["G"] * d["per"], "H": d["H"], "W": d["W"]})


def gn_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    N, G, C, H, W = (dims[k] for k in ("N", "G", "C", "H", "W"))
    eps, _ = norm_params(rng, opts)
    x = rng.normal(size=(N, C, H, W)) * rng.uniform(0.5, 3.0, size=(N, C, 1, 1)) + rng.normal(size=(N, C, 1, 1)) * 2
    return {**cast_arrays({"x": x, "gamma": rng.normal(size=(1, C, 1, 1)), "beta": rng.normal(size=(1, C, 1, 1)),
                     "dout": rng.normal(size=(N, C, H, W))}, dtype), "G": G, "eps": eps}


def gn_run(call: Call, a: dict, opts: dict) -> dict:
    out, cache = got_pair(call("spatial_groupnorm_forward", [a["x"], a["gamma"], a["beta"], a["G"], {"eps": a["eps"]}],
                            keep=(1,)), "spatial_groupnorm_forward", ("out", "cache"))
    return {"out": got_array(out, "spatial_groupnorm_forward", "out"),
            **got_grads(call("spatial_groupnorm_backward", [a["dout"], cache]), "spatial_groupnorm_backward",
                     ("dx", "dgamma", "dbeta"))}


def gn_expect(a: dict, got: dict, opts: dict) -> dict:
    x, g, b, dout = (f64(a[k]) for k in ("x", "gamma", "beta", "dout"))
    N, C, H, W = x.shape
    grouped = (N, a["G"], C // a["G"], H, W)
    return {"out": norm.groupnorm_forward(x, g, b, a["G"], a["eps"]),
            **norm.groupnorm_vjp(dout, x, g, b, a["G"], a["eps"]),
            "_scales": norm.cancellation_scales(dout, g, x, (2, 3, 4), a["eps"], (0, 2, 3), grouped)}


# convolution ------------------------------------------------------------------------------------------------

def conv_dims(mode: str) -> Any:
    st = hypothesis_strategies()
    geometry = st.fixed_dictionaries({"stride": st.integers(1, 3), "pad": st.integers(0, 2),
                                      "Ho": st.integers(1, 3), "Wo": st.integers(1, 3)})
    if mode == "distinct":
        sizes = increasing_sizes(st, 1, 5, first_max=2, step_max=1).map(
            lambda v: {"N": v[0], "C": v[1], "F": v[2], "HH": v[3], "WW": v[4]})
    else:  # square kernels and square outputs: a transposed kernel has the right shape here
        sizes = st.fixed_dictionaries({k: st.integers(1, 3) for k in ("N", "C", "F", "HH")}).map(
            lambda d: {**d, "WW": d["HH"]})
        geometry = geometry.map(lambda g: {**g, "Wo": g["Ho"]})

    def build(t: tuple) -> dict | None:
        s, g = t
        H = (g["Ho"] - 1) * g["stride"] + s["HH"] - 2 * g["pad"]
        W = (g["Wo"] - 1) * g["stride"] + s["WW"] - 2 * g["pad"]
        return {**s, **g, "H": H, "W": W}

    return st.tuples(sizes, geometry).map(build).filter(lambda d: d["H"] >= 1 and d["W"] >= 1)


def conv_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    N, C, F, H, W, HH, WW = (dims[k] for k in ("N", "C", "F", "H", "W", "HH", "WW"))
    return {**cast_arrays({"x": rng.normal(size=(N, C, H, W)), "w": rng.normal(size=(F, C, HH, WW)),
                     "b": rng.normal(size=F), "dout": rng.normal(size=(N, F, dims["Ho"], dims["Wo"]))}, dtype),
            "stride": dims["stride"], "pad": dims["pad"]}


def conv_run(call: Call, a: dict, opts: dict) -> dict:
    param = {"stride": a["stride"], "pad": a["pad"]}
    out, cache = got_pair(call("conv_forward_naive", [a["x"], a["w"], a["b"], param], keep=(1,)), "conv_forward_naive",
                       ("out", "cache"))
    return {"out": got_array(out, "conv_forward_naive", "out"),
            **got_grads(call("conv_backward_naive", [a["dout"], cache]), "conv_backward_naive", ("dx", "dw", "db"))}


def conv_expect(a: dict, got: dict, opts: dict) -> dict:
    x, w, b, dout = (f64(a[k]) for k in ("x", "w", "b", "dout"))
    return {"out": conv.forward(x, w, b, a["stride"], a["pad"]), **conv.vjp(dout, x, w, b, a["stride"], a["pad"])}


# max pooling ------------------------------------------------------------------------------------------------

def pool_dims(mode: str) -> Any:
    st = hypothesis_strategies()
    geometry = st.fixed_dictionaries({"stride": st.integers(1, 3), "Ho": st.integers(1, 3), "Wo": st.integers(1, 3)})
    if mode == "distinct":
        sizes = increasing_sizes(st, 1, 2).flatmap(lambda v: increasing_sizes(st, 1, 2, first_max=2, step_max=1).map(
            lambda p: {"N": v[0], "C": v[1], "ph": p[0], "pw": p[1]}))
    else:
        sizes = st.fixed_dictionaries({k: st.integers(1, 3) for k in ("N", "C", "ph", "pw")})
    def build(t: tuple, ties: bool) -> dict:
        s, g = t
        stride = max(s["ph"], s["pw"], g["stride"]) if ties else g["stride"]  # ties: windows apart
        return {**s, **g, "stride": stride, "H": (g["Ho"] - 1) * stride + s["ph"],
                "W": (g["Wo"] - 1) * stride + s["pw"], "kinks": ties}

    return st.tuples(sizes, geometry, st.booleans()).map(lambda t: build(t[:2], t[2]))


def pool_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    N, C, H, W = dims["N"], dims["C"], dims["H"], dims["W"]
    # a permutation per channel, spaced 0.1 apart with jitter below 0.05: no ties in any window
    ranks = np.stack([rng.permutation(H * W) for _ in range(N * C)]).reshape(N, C, H, W)
    x = (ranks * 0.1 + rng.uniform(0, 0.05, size=(N, C, H, W))) * rng.choice([-1.0, 1.0]) + rng.normal()
    if dims.get("kinks"):
        x = kinks.place_pool(N, C, H, W, rng)
    return {**cast_arrays({"x": x, "dout": rng.normal(size=(N, C, dims["Ho"], dims["Wo"]))}, dtype),
            "ph": dims["ph"], "pw": dims["pw"], "stride": dims["stride"]}


def pool_run(call: Call, a: dict, opts: dict) -> dict:
    param = {"pool_height": a["ph"], "pool_width": a["pw"], "stride": a["stride"]}
    out, cache = got_pair(call("max_pool_forward_naive", [a["x"], param], keep=(1,)), "max_pool_forward_naive",
                       ("out", "cache"))
    return {"out": got_array(out, "max_pool_forward_naive", "out"),
            **got_grads(call("max_pool_backward_naive", [a["dout"], cache]), "max_pool_backward_naive", ("dx",))}


def pool_expect(a: dict, got: dict, opts: dict) -> dict:
    x, dout = f64(a["x"]), f64(a["dout"])
    ref = pool.vjp(dout, x, a["ph"], a["pw"], a["stride"])["dx"]
    dx, note = kinks.accept_pool(x, dout, a["ph"], a["pw"], a["stride"], got.get("dx"), ref)
    return {"out": pool.forward(x, a["ph"], a["pw"], a["stride"]), "dx": dx, **({"_note": note} if note else {})}


