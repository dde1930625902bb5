"""``--api module``: layers written as classes with ``forward(x)`` and ``backward(dout)`` that keep their
gradients in attributes, checked one class at a time like ``--api cs231n``'s functions.

Two families of names are known:

- nnfs (*Neural Networks from Scratch*): ``Layer_Dense(n_inputs, n_neurons)`` with ``weights``
  (n_in, n_out) and ``biases`` (1, n_out); ``forward`` stores ``self.output`` and returns nothing;
  ``backward(dvalues)`` stores ``dweights``, ``dbiases`` and ``dinputs``. ``Activation_ReLU``,
  ``Activation_Sigmoid`` and ``Activation_Tanh`` likewise.
- a Module/Sequential mini-framework: ``Linear(in_features, out_features)`` (weights ``W``, ``weight``
  or ``w``, as (in, out) or torch's (out, in); bias ``b`` or ``bias``), ``ReLU()``, ``Sigmoid()``,
  ``Tanh()`` whose ``forward`` returns the output and ``backward`` returns dx, gradients in ``dW``/``db``
  (or ``grad_W``, ``dweight``, ...); and ``Sequential(*layers)``, checked as a stack
  Linear-ReLU-Linear whose backward must fill each Linear's gradients.

The instance is built in the worker and kept there (a handle); its weights are set through
``__setattr__``, and its numeric attributes read back after ``backward`` (``__vars__``). Where the
names differ, ``--grads dW=grad_weights,db=grad_bias,dx=grad_input`` names the attributes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..reference.layers import affine
from .common import (
    BadReturn,
    Call,
    Layer,
    NotImplementedResult,
    cast_arrays,
    f64,
    hypothesis_strategies,
    increasing_sizes,
)

__all__ = ["OBJECT_LAYERS", "parse_grads", "GRAD_NAMES", "MISTAKES"]

WEIGHT_NAMES = ("weights", "W", "weight", "w")
BIAS_NAMES = ("biases", "b", "bias")
GRAD_NAMES = {"dW": ("dweights", "dW", "grad_W", "dweight", "grad_weight", "grad_weights", "dw", "W_grad"),
              "db": ("dbiases", "db", "grad_b", "dbias", "grad_bias", "grad_biases", "b_grad"),
              "dx": ("dinputs", "dx", "dX", "grad_input", "dinput")}


def parse_grads(text: Any) -> dict[str, str]:
    """``"dW=dweights,db=dbiases"`` -> {"dW": "dweights", "db": "dbiases"}; raises ValueError."""
    if not text:
        return {}
    if isinstance(text, dict):
        items = list(text.items())
    else:
        items = [tuple(p.split("=", 1)) for p in str(text).split(",") if p.strip()]
    out = {}
    for pair in items:
        if len(pair) != 2 or pair[0].strip() not in GRAD_NAMES or not pair[1].strip().isidentifier():
            raise ValueError(f"--grads takes dW=NAME,db=NAME,dx=NAME (attribute names); got {text!r}")
        out[pair[0].strip()] = pair[1].strip()
    return out


def _pick(attrs: dict, names: tuple[str, ...], chosen: str | None, what: str, cls: str) -> Any:
    if chosen:
        if chosen not in attrs:
            raise BadReturn(f"{cls} has no numeric attribute {chosen!r} for {what} after backward")
        return attrs[chosen]
    for n in names:
        if n in attrs:
            return attrs[n]
    raise NotImplementedResult(f"{cls} keeps no {what} in an attribute crosscheck knows ({', '.join(names)}); "
                               f"name it with --grads {what}=ATTRIBUTE")


def _output(value: Any, attrs: dict, names: tuple[str, ...], what: str, cls: str) -> np.ndarray:
    """What forward/backward returned, or (nnfs) the attribute it stored instead."""
    if isinstance(value, np.ndarray):
        return value
    if value is None:
        for n in names:
            if isinstance(attrs.get(n), np.ndarray):
                return attrs[n]
        raise NotImplementedResult(f"{cls}.{what} returned None and stored none of {', '.join(names)}")
    raise BadReturn(f"{cls}.{what} returned {type(value).__name__}, expected an array")


def _dims(mode: str) -> Any:
    st = hypothesis_strategies()
    if mode == "distinct":
        return increasing_sizes(st, 1, 3).map(lambda v: {"N": v[0], "D": v[1], "M": v[2]})
    equal = st.integers(1, 3).map(lambda v: {"N": v, "D": v, "M": v})
    return st.one_of(equal, st.fixed_dictionaries({k: st.integers(1, 3) for k in ("N", "D", "M")}))


def _dense_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    N, D, M = dims["N"], dims["D"], dims["M"]
    return cast_arrays({"x": rng.normal(size=(N, D)), "W": rng.normal(size=(D, M)), "b": rng.normal(size=M),
                        "dout": rng.normal(size=(N, M))}, dtype)


def _set_params(call: Call, obj: Any, cls: str, a: dict) -> tuple[str, bool]:
    """Write W and b into the instance in its own layout; (weight attribute, stored as (out, in))."""
    attrs = call("__vars__", [], on=obj)
    wname = next((n for n in WEIGHT_NAMES if isinstance(attrs.get(n), np.ndarray)), None)
    bname = next((n for n in BIAS_NAMES if isinstance(attrs.get(n), np.ndarray)), None)
    if wname is None:
        raise BadReturn(f"{cls}(n_in, n_out) holds no weight array named {', '.join(WEIGHT_NAMES)}")
    D, M = a["W"].shape
    shape = tuple(np.shape(attrs[wname]))
    if shape not in ((D, M), (M, D)):
        raise BadReturn(f"{cls}({D}, {M}).{wname} has shape {shape}, expected ({D}, {M}) or ({M}, {D})")
    # the layout, (in, out) or torch's (out, in), read off an instance whose two sizes differ
    probe = call("__vars__", [], on=call(cls, [2, 3]))
    out_in = tuple(np.shape(probe.get(wname))) == (3, 2)
    call("__setattr__", [wname, a["W"].T.copy() if out_in else a["W"]], on=obj)
    if bname is not None:
        call("__setattr__", [bname, a["b"].reshape(np.shape(attrs[bname]))], on=obj)
    return wname, out_in


def _dense_run(cls: str):
    def run(call: Call, a: dict, opts: dict) -> dict:
        D, M = a["W"].shape
        obj = call(cls, [D, M])
        _, out_in = _set_params(call, obj, cls, a)
        out = call("forward", [a["x"]], on=obj)
        out = _output(out, call("__vars__", [], on=obj), ("output", "out"), "forward", cls)
        dx = call("backward", [a["dout"]], on=obj)
        attrs = call("__vars__", [], on=obj)
        names = opts.get("grads") or {}
        dx = _output(dx, attrs, (names["dx"],) if "dx" in names else GRAD_NAMES["dx"], "backward", cls)
        dW = np.asarray(_pick(attrs, GRAD_NAMES["dW"], names.get("dW"), "dW", cls))
        db = np.asarray(_pick(attrs, GRAD_NAMES["db"], names.get("db"), "db", cls))
        # compared in the reference's layout: dW (D, M), db (M,) however the class keeps them
        return {"out": out, "dx": dx, "dW": dW.T if out_in and dW.shape == (M, D) else dW,
                "db": db.reshape(-1) if db.size == M else db}
    return run


def _dense_expect(a: dict, got: dict, opts: dict) -> dict:
    x, W, b, dout = (f64(a[k]) for k in ("x", "W", "b", "dout"))
    g = affine.vjp(dout, x, W, b)
    return {"out": affine.forward(x, W, b), "dx": g["dx"], "dW": g["dw"], "db": g["db"]}


_ACTS = {"relu": (lambda z: np.maximum(z, 0), lambda z, y: (z > 0).astype(z.dtype)),
         "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, y: y * (1 - y)),
         "tanh": (np.tanh, lambda z, y: 1 - y**2)}


def _act_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    z = rng.normal(size=(dims["N"], dims["D"]))
    z = np.sign(z + (z == 0)) * (np.abs(z) + 0.05)  # relu's kink stays unambiguous
    return cast_arrays({"x": z, "dout": rng.normal(size=z.shape)}, dtype)


def _act_run(cls: str):
    def run(call: Call, a: dict, opts: dict) -> dict:
        obj = call(cls, [])
        out = _output(call("forward", [a["x"]], on=obj), call("__vars__", [], on=obj), ("output", "out"), "forward",
                      cls)
        dx = call("backward", [a["dout"]], on=obj)
        names = opts.get("grads") or {}
        dx = _output(dx, call("__vars__", [], on=obj), (names["dx"],) if "dx" in names else GRAD_NAMES["dx"],
                     "backward", cls)
        return {"out": out, "dx": dx}
    return run


def _act_expect(kind: str):
    value, prime = _ACTS[kind]

    def expect(a: dict, got: dict, opts: dict) -> dict:
        x, dout = f64(a["x"]), f64(a["dout"])
        y = value(x)
        return {"out": y, "dx": dout * prime(x, y)}
    return expect


# ---- Sequential: Linear-ReLU-Linear as one stack --------------------------------------------------------

def _seq_dims(mode: str) -> Any:
    st = hypothesis_strategies()
    if mode == "distinct":
        return increasing_sizes(st, 1, 4).map(lambda v: {"N": v[0], "D": v[1], "H": v[2], "M": v[3]})
    return st.integers(1, 3).map(lambda v: {"N": v, "D": v, "H": v, "M": v})


def _seq_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    N, D, H, M = dims["N"], dims["D"], dims["H"], dims["M"]
    return cast_arrays({"x": rng.normal(size=(N, D)), "W1": rng.normal(size=(D, H)), "b1": rng.normal(size=H),
                        "W2": rng.normal(size=(H, M)), "b2": rng.normal(size=M), "dout": rng.normal(size=(N, M))},
                       dtype)


def _seq_run(call: Call, a: dict, opts: dict) -> dict:
    names = opts.get("grads") or {}
    linears, flips = [], []
    for i in (1, 2):
        W = a[f"W{i}"]
        obj = call("Linear", list(W.shape))
        flips.append(_set_params(call, obj, "Linear", {"W": W, "b": a[f"b{i}"]})[1])
        linears.append(obj)
    stack = call("Sequential", [linears[0], call("ReLU", []), linears[1]])
    out = _output(call("forward", [a["x"]], on=stack), {}, (), "forward", "Sequential")
    dx = _output(call("backward", [a["dout"]], on=stack), {}, (), "backward", "Sequential")
    got = {"out": out, "dx": dx}
    for i, (obj, flip) in enumerate(zip(linears, flips), start=1):
        attrs = call("__vars__", [], on=obj)
        dW = np.asarray(_pick(attrs, GRAD_NAMES["dW"], names.get("dW"), "dW", "Linear"))
        db = np.asarray(_pick(attrs, GRAD_NAMES["db"], names.get("db"), "db", "Linear"))
        got[f"dW{i}"] = dW.T if flip else dW
        got[f"db{i}"] = db.reshape(-1) if db.size == a[f"b{i}"].size else db
    return got


def _seq_expect(a: dict, got: dict, opts: dict) -> dict:
    x, W1, b1, W2, b2, dout = (f64(a[k]) for k in ("x", "W1", "b1", "W2", "b2", "dout"))
    z1 = x @ W1 + b1
    h = np.maximum(z1, 0)
    g2 = affine.vjp(dout, h, W2, b2)
    g1 = affine.vjp(g2["dx"] * (z1 > 0), x, W1, b1)
    return {"out": h @ W2 + b2, "dx": g1["dx"], "dW1": g1["dw"], "db1": g1["db"], "dW2": g2["dw"], "db2": g2["db"]}


def _fmt(keys: str):
    return lambda d: ", ".join(f"{k}={d[k]}" for k in keys.split() if k in d)


def _dense(cls: str) -> Layer:
    return Layer(cls, (cls,), _fmt("N D M"), _dims, ({"N": 1, "D": 2, "M": 3}, {"N": 2, "D": 3, "M": 5}),
                 _dense_inputs, _dense_run(cls), _dense_expect, (("out",), ("dx", "dW", "db")),
                 "out = x W + b; gradients read from the instance's attributes")


def _act(cls: str, kind: str) -> Layer:
    return Layer(cls, (cls,), _fmt("N D"), _dims, ({"N": 1, "D": 2}, {"N": 3, "D": 4}), _act_inputs, _act_run(cls),
                 _act_expect(kind), (("out",), ("dx",)), f"elementwise {kind}")


OBJECT_LAYERS: dict[str, Layer] = {
    "Layer_Dense": _dense("Layer_Dense"),
    "Activation_ReLU": _act("Activation_ReLU", "relu"),
    "Activation_Sigmoid": _act("Activation_Sigmoid", "sigmoid"),
    "Activation_Tanh": _act("Activation_Tanh", "tanh"),
    "Linear": _dense("Linear"),
    "ReLU": _act("ReLU", "relu"),
    "Sigmoid": _act("Sigmoid", "sigmoid"),
    "Tanh": _act("Tanh", "tanh"),
    "Sequential": Layer("Sequential", ("Sequential", "Linear", "ReLU"), _fmt("N D H M"), _seq_dims,
                        ({"N": 1, "D": 2, "H": 3, "M": 4}, {"N": 2, "D": 3, "H": 5, "M": 4}), _seq_inputs, _seq_run,
                        _seq_expect, (("out",), ("dx", "dW1", "db1", "dW2", "db2")),
                        "Sequential(Linear, ReLU, Linear): the stack's backward fills each Linear's gradients"),
}


# ---- the mistakes the layer diagnosis names for these classes (tuples, as crosscheck.layers.recurrent's) ----

_DENSE = ("Layer_Dense", "Linear")


MISTAKES: tuple[tuple, ...] = (
    ("transposed_dw", _DENSE, "dW", "the weights' gradient is transposed: it has the weights' own shape, "
     "inputs.T @ dvalues", lambda a, e, g: e["dW"].T),
    ("db_not_summed", _DENSE, "db", "the biases' gradient is dvalues itself: sum it over the samples (axis 0)",
     lambda a, e, g: a["dout"] if g.get("db") is not None and np.shape(g["db"]) == a["dout"].shape else None),
    ("extra_1_over_n", _DENSE, "dW", "the weights' gradient is divided by the number of samples: a layer's "
     "backward sums over the batch (the loss's backward divides)", lambda a, e, g: e["dW"] / a["x"].shape[0]),
    ("relu_mask_missing", ("Activation_ReLU", "ReLU"), "dx", "dinputs = dvalues: not zeroed where the input "
     "was <= 0", lambda a, e, g: a["dout"]),
    ("activation_derivative_missing", ("Activation_Sigmoid", "Sigmoid", "Activation_Tanh", "Tanh"), "dx",
     "dinputs = dvalues: the activation's derivative is missing", lambda a, e, g: a["dout"]),
    ("derivative_at_input", ("Activation_Sigmoid", "Sigmoid"), "dx", "the derivative is written in terms of "
     "the output, s (1 - s), but computed with the input x in place of s",
     lambda a, e, g: a["dout"] * (1 - a["x"]) * a["x"]),
    ("derivative_at_input", ("Activation_Tanh", "Tanh"), "dx", "tanh' written as 1 - x^2 with the input x: "
     "it is 1 - tanh(x)^2, 1 - output^2", lambda a, e, g: a["dout"] * (1 - a["x"] ** 2)),
)
