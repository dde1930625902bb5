"""What the layer API's modules share: the ``Layer`` record, the strategies' helpers, the checks on
what a student's function returned, and the dtype the reference computes in.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..reference.layers import norm

Call = Callable[..., Any]  # call(function_name, args, keep=(), with_args=False) -> value (, args after)


class NotImplementedResult(Exception):
    """A function returned None where arrays were due: the assignment's TODO is not filled in."""


class BadReturn(Exception):
    """A function returned something of the wrong form (not a tuple, not arrays)."""


def hypothesis_strategies():
    from hypothesis import strategies as st

    return st


# ---- helpers ----------------------------------------------------------------------------------------

def increasing_sizes(st: Any, first_min: int, count: int, first_max: int = 3, step_max: int = 2) -> Any:
    """``count`` strictly increasing integers starting at >= first_min: distinct however they shrink."""
    return st.tuples(st.integers(first_min, first_max), *[st.integers(1, step_max)] * (count - 1)).map(
        lambda t: tuple(int(v) for v in np.cumsum(t)))


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...], margin: float = 0.05) -> np.ndarray:
    """Normal-ish values with |x| >= margin: relu's kink and dropout's zero test stay unambiguous."""
    z = rng.normal(size=shape)
    return np.sign(z + (z == 0)) * (np.abs(z) + margin)


def got_array(value: Any, what: str, name: str) -> np.ndarray:
    if value is None:
        raise NotImplementedResult(f"{what} returned None for {name} (is the TODO filled in?)")
    if isinstance(value, (float, int, np.generic)) and not isinstance(value, bool):
        return np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise BadReturn(f"{what} returned {type(value).__name__} for {name}, expected a NumPy array")
    return value


def got_pair(value: Any, what: str, names: tuple[str, str]) -> tuple[Any, Any]:
    if value is None:
        raise NotImplementedResult(f"{what} returned None, expected ({', '.join(names)})")
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise BadReturn(f"{what} returned {_describe(value)}, expected a pair ({', '.join(names)})")
    return value[0], value[1]


def got_grads(value: Any, what: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    if len(names) == 1:
        return {names[0]: got_array(value, what, names[0])}
    if value is None:
        raise NotImplementedResult(f"{what} returned None, expected ({', '.join(names)})")
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        raise BadReturn(f"{what} returned {_describe(value)}, expected ({', '.join(names)})")
    return {n: got_array(v, what, n) for n, v in zip(names, value)}


def _describe(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__


def cast_arrays(arrays: dict[str, Any], dtype: str) -> dict[str, Any]:
    return {k: v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
            for k, v in arrays.items()}


# the dtype the reference computes in: float64, except for the float32 policy's own-rounding bound
REFERENCE_DTYPE: ContextVar[type] = ContextVar("REFERENCE_DTYPE", default=np.float64)


def f64(a: Any) -> Any:
    return np.asarray(a, dtype=REFERENCE_DTYPE.get()) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a


# ---- the layers -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Layer:
    """One layer of the API; see the module docstring."""

    name: str
    functions: tuple[str, ...]
    describe_dims: Callable[[dict], str]
    dims: Callable[[str], Any]
    first: tuple[dict, ...]  # explicit first examples: N = 1 and N > 1, distinct dimensions
    inputs: Callable[[dict, np.random.Generator, str, dict], dict]
    run: Callable[[Call, dict, dict], dict]
    expect: Callable[[dict, dict, dict], dict]
    groups: tuple[tuple[str, ...], ...]  # names judged together (the floor of the tolerance is per group)
    summary: str


def with_kinks(strategy: Any) -> Any:
    """Some examples exactly on kinks (``crosscheck.layers.kinks``); shrinks to none."""
    return strategy.flatmap(lambda d: hypothesis_strategies().booleans().map(lambda k: {**d, "kinks": k}))


def norm_params(rng: np.random.Generator, opts: dict | None = None) -> tuple[float, float]:
    # eps and momentum vary, so a hard-coded 1e-5 or 0.9 shows; a re-drawn case fixes eps large enough
    # to matter (opts["eps"], crosscheck.layers.redraw)
    eps, momentum = float(rng.choice([1e-5, 1e-3, 0.1])), float(rng.choice([0.9, 0.5, 0.25]))
    return float((opts or {}).get("eps", eps)), float((opts or {}).get("momentum", momentum))


def bn_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    N, D = dims["N"], dims["D"]
    eps, momentum = norm_params(rng, opts)
    # features on different scales and offsets: normalising over the wrong axis changes values
    x = rng.normal(size=(N, D)) * rng.uniform(0.5, 3.0, size=D) + rng.normal(size=D) * 2
    arrays = cast_arrays({"x": x, "gamma": rng.normal(size=D), "beta": rng.normal(size=D),
                          "dout": rng.normal(size=(N, D)),
                    "running_mean": rng.normal(size=D), "running_var": rng.uniform(0.5, 2.0, size=D)}, dtype)
    return {**arrays, "eps": eps, "momentum": momentum}


def _bn_param(a: dict) -> dict:
    return {"mode": "train", "eps": a["eps"], "momentum": a["momentum"],
            "running_mean": a["running_mean"].copy(), "running_var": a["running_var"].copy()}


def bn_run(forward: str, backward: str) -> Callable:
    def run(call: Call, a: dict, opts: dict) -> dict:
        bn_param = _bn_param(a)
        value = call(forward, [a["x"], a["gamma"], a["beta"], bn_param], keep=(1,), with_args=True)
        (out, cache), after = got_pair(value[0], forward, ("out", "cache")), value[1]
        got = {"out": got_array(out, forward, "out")}
        written = after[3] if len(after) > 3 and isinstance(after[3], dict) else {}
        for key in ("running_mean", "running_var"):
            got[key] = got_array(written.get(key), f"{forward} (bn_param[{key!r}] after the call)", key)
        got.update(got_grads(call(backward, [a["dout"], cache]), backward, ("dx", "dgamma", "dbeta")))
        # test mode: normalised with the running statistics passed in, as the course's test branch does
        # (the batch's own statistics, or a missing gamma/beta, pass every train-mode comparison)
        test_param = {**_bn_param(a), "mode": "test"}
        test_out, _ = got_pair(call(forward, [a["x"], a["gamma"], a["beta"], test_param], keep=(1,)),
                               f"{forward} (test mode)", ("out", "cache"))
        got["out_test_mode"] = got_array(test_out, f"{forward} (test mode)", "out")
        return got

    return run


def test_mode_out(a: dict, axes: tuple[int, ...]) -> np.ndarray:
    """Test mode's output: x normalised with the running statistics passed in (not the updated ones)."""
    x, rm, rv = f64(a["x"]), f64(a["running_mean"]), f64(a["running_var"])
    shape = [1] * x.ndim
    shape[1] = x.shape[1]
    g, b = f64(a["gamma"]).reshape(shape), f64(a["beta"]).reshape(shape)
    return g * (x - rm.reshape(shape)) / np.sqrt(rv.reshape(shape) + a["eps"]) + b


def running_stats(a: dict, axes: tuple[int, ...]) -> dict:
    rm, rv = norm.running_stats(f64(a["x"]), f64(a["running_mean"]), f64(a["running_var"]), a["momentum"], axes)
    return {"running_mean": rm, "running_var": rv}


