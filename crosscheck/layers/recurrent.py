"""The recurrent layers of CS231n's assignment 3 (``rnn_layers.py``) for ``--api cs231n``: rnn_step, rnn,
word_embedding, temporal_affine, temporal_softmax_loss, lstm_step and lstm, with the course's
signatures, caches kept in the worker, and gate order (i, f, o, g).

Each entry is a ``crosscheck.layers.common.Layer`` (see ``crosscheck.layers.api``): the dimensions
are distinct through shrinking in ``distinct`` mode (N < T < D < H: a transposed ``Wh`` or a swapped
time axis is a shape error) and small and equal in ``coincident`` mode (square ``Wx``, N = T), where
such code is wrong in its values only. ``T >= 2`` in distinct mode, so the gradient carried from one
step to the previous one always matters. ``MISTAKES`` are the recurrent entries of the layer
diagnosis's catalogue (``crosscheck.layers.diagnose``), as plain tuples so this module imports no
diagnosis: (id, layers, output, detail, value(inputs, expected, got)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..reference.layers import rnn
from .common import (
    Call,
    Layer,
    cast_arrays,
    f64,
    got_array,
    got_grads,
    got_pair,
    hypothesis_strategies,
    increasing_sizes,
)

__all__ = ["RECURRENT_LAYERS", "MISTAKES", "ARGUMENTS", "name_mutated", "default_layers"]

# the arguments of each function by name (a mutated "argument 2" of lstm_step_backward is dnext_c)
ARGUMENTS = {"rnn_step_forward": ("x", "prev_h", "Wx", "Wh", "b"), "rnn_step_backward": ("dnext_h", "cache"),
             "rnn_forward": ("x", "h0", "Wx", "Wh", "b"), "rnn_backward": ("dh", "cache"),
             "word_embedding_forward": ("x", "W"), "word_embedding_backward": ("dout", "cache"),
             "temporal_affine_forward": ("x", "w", "b"), "temporal_affine_backward": ("dout", "cache"),
             "temporal_softmax_loss": ("x", "y", "mask"),
             "lstm_step_forward": ("x", "prev_h", "prev_c", "Wx", "Wh", "b"),
             "lstm_step_backward": ("dnext_h", "dnext_c", "cache"), "lstm_forward": ("x", "h0", "Wx", "Wh", "b"),
             "lstm_backward": ("dh", "cache")}


def _sizes(names: str, mode: str, first_min: int = 1) -> Any:
    """Distinct: strictly increasing in the order of ``names``; coincident: each 1..3 (often equal)."""
    st = hypothesis_strategies()
    keys = names.split()
    if mode == "distinct":
        return increasing_sizes(st, first_min, len(keys)).map(lambda v: dict(zip(keys, v)))
    equal = st.integers(1, 3).map(lambda v: dict.fromkeys(keys, v))
    return st.one_of(equal, st.fixed_dictionaries({k: st.integers(1, 3) for k in keys}))


def _describe(keys: str):
    return lambda d: ", ".join(f"{k}={d[k]}" for k in keys.split() if k in d)


def _weights(rng: np.random.Generator, D: int, H: int, gates: int) -> dict:
    # small enough that tanh and the sigmoids are not saturated: every derivative matters
    return {"Wx": rng.normal(size=(D, gates * H)) / np.sqrt(D + 1), "Wh": rng.normal(size=(H, gates * H)) /
            np.sqrt(H + 1), "b": rng.normal(size=gates * H) * 0.5}


# ---- vanilla RNN ------------------------------------------------------------------------------------------

def _step_inputs(gates: int):
    def inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
        N, D, H = dims["N"], dims["D"], dims["H"]
        a = {"x": rng.normal(size=(N, D)), "prev_h": rng.normal(size=(N, H)) * 0.8, **_weights(rng, D, H, gates),
             "dnext_h": rng.normal(size=(N, H))}
        if gates == 4:
            a.update(prev_c=rng.normal(size=(N, H)), dnext_c=rng.normal(size=(N, H)))
        return cast_arrays(a, dtype)
    return inputs


def _seq_inputs(gates: int):
    def inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
        N, T, D, H = dims["N"], dims["T"], dims["D"], dims["H"]
        return cast_arrays({"x": rng.normal(size=(N, T, D)), "h0": rng.normal(size=(N, H)) * 0.8,
                            **_weights(rng, D, H, gates), "dh": rng.normal(size=(N, T, H))}, dtype)
    return inputs


def _rnn_step_run(call: Call, a: dict, opts: dict) -> dict:
    fwd = "rnn_step_forward"
    next_h, cache = got_pair(call(fwd, [a["x"], a["prev_h"], a["Wx"], a["Wh"], a["b"]], keep=(1,)), fwd,
                             ("next_h", "cache"))
    got = {"next_h": got_array(next_h, fwd, "next_h")}
    got.update(got_grads(call("rnn_step_backward", [a["dnext_h"], cache]), "rnn_step_backward",
                         ("dx", "dprev_h", "dWx", "dWh", "db")))
    return got


def _rnn_step_expect(a: dict, got: dict, opts: dict) -> dict:
    x, h, Wx, Wh, b, d = (f64(a[k]) for k in ("x", "prev_h", "Wx", "Wh", "b", "dnext_h"))
    return {"next_h": rnn.rnn_step_forward(x, h, Wx, Wh, b), **rnn.rnn_step_vjp(d, x, h, Wx, Wh, b)}


def _seq_run(kind: str):
    def run(call: Call, a: dict, opts: dict) -> dict:
        fwd, bwd = f"{kind}_forward", f"{kind}_backward"
        h, cache = got_pair(call(fwd, [a["x"], a["h0"], a["Wx"], a["Wh"], a["b"]], keep=(1,)), fwd, ("h", "cache"))
        got = {"h": got_array(h, fwd, "h")}
        got.update(got_grads(call(bwd, [a["dh"], cache]), bwd, ("dx", "dh0", "dWx", "dWh", "db")))
        return got
    return run


def _seq_expect(kind: str):
    forward, vjp = (rnn.rnn_forward, rnn.rnn_vjp) if kind == "rnn" else (rnn.lstm_forward, rnn.lstm_vjp)

    def expect(a: dict, got: dict, opts: dict) -> dict:
        x, h0, Wx, Wh, b, dh = (f64(a[k]) for k in ("x", "h0", "Wx", "Wh", "b", "dh"))
        return {"h": forward(x, h0, Wx, Wh, b), **vjp(dh, x, h0, Wx, Wh, b)}
    return expect


# ---- word embedding, temporal affine, temporal softmax loss --------------------------------------------------

def _embedding_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    N, T, V, D = dims["N"], dims["T"], dims["V"], dims["D"]
    x = rng.integers(0, V, size=(N, T))
    if x.size >= 2:  # a word seen twice: its rows of dout must add up in dW, not overwrite each other
        x.flat[-1] = x.flat[0]
    return {"x": x, **cast_arrays({"W": rng.normal(size=(V, D)), "dout": rng.normal(size=(N, T, D))}, dtype)}


def _embedding_run(call: Call, a: dict, opts: dict) -> dict:
    fwd = "word_embedding_forward"
    out, cache = got_pair(call(fwd, [a["x"], a["W"]], keep=(1,)), fwd, ("out", "cache"))
    got = {"out": got_array(out, fwd, "out")}
    got.update(got_grads(call("word_embedding_backward", [a["dout"], cache]), "word_embedding_backward", ("dW",)))
    return got


def _embedding_expect(a: dict, got: dict, opts: dict) -> dict:
    W, dout = f64(a["W"]), f64(a["dout"])
    return {"out": rnn.embedding_forward(a["x"], W), **rnn.embedding_vjp(dout, a["x"], W)}


def _taffine_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    N, T, D, M = dims["N"], dims["T"], dims["D"], dims["M"]
    return cast_arrays({"x": rng.normal(size=(N, T, D)), "w": rng.normal(size=(D, M)), "b": rng.normal(size=M),
                        "dout": rng.normal(size=(N, T, M))}, dtype)


def _taffine_run(call: Call, a: dict, opts: dict) -> dict:
    fwd = "temporal_affine_forward"
    out, cache = got_pair(call(fwd, [a["x"], a["w"], a["b"]], keep=(1,)), fwd, ("out", "cache"))
    got = {"out": got_array(out, fwd, "out")}
    got.update(got_grads(call("temporal_affine_backward", [a["dout"], cache]), "temporal_affine_backward",
                         ("dx", "dw", "db")))
    return got


def _taffine_expect(a: dict, got: dict, opts: dict) -> dict:
    x, w, b, dout = (f64(a[k]) for k in ("x", "w", "b", "dout"))
    return {"out": rnn.temporal_affine_forward(x, w, b), **rnn.temporal_affine_vjp(dout, x, w, b)}


def _tsoftmax_inputs(dims: dict, rng: np.random.Generator, dtype: str, opts: dict) -> dict:
    N, T, V = dims["N"], dims["T"], max(dims["V"], 2)
    mask = rng.random((N, T)) < 0.6
    if mask.size >= 2:  # at least one step masked out and one kept: an ignored mask always shows
        mask.flat[0], mask.flat[-1] = True, False
    return {"x": (rng.normal(size=(N, T, V)) * 1.5).astype(dtype), "y": rng.integers(0, V, size=(N, T)),
            "mask": mask}


def _tsoftmax_run(call: Call, a: dict, opts: dict) -> dict:
    fn = "temporal_softmax_loss"
    loss, dx = got_pair(call(fn, [a["x"], a["y"], a["mask"]]), fn, ("loss", "dx"))
    return {"loss": got_array(loss, fn, "loss"), "dx": got_array(dx, fn, "dx")}


def _tsoftmax_expect(a: dict, got: dict, opts: dict) -> dict:
    loss, dx = rnn.temporal_softmax_loss(f64(a["x"]), a["y"], a["mask"])
    return {"loss": np.asarray(loss), "dx": dx}


# ---- LSTM --------------------------------------------------------------------------------------------------

def _lstm_step_run(call: Call, a: dict, opts: dict) -> dict:
    fwd, bwd = "lstm_step_forward", "lstm_step_backward"
    value = call(fwd, [a["x"], a["prev_h"], a["prev_c"], a["Wx"], a["Wh"], a["b"]], keep=(2,))
    if value is None:
        got_pair(value, fwd, ("next_h", "next_c, cache"))  # raises: the TODO is not filled in
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        got_grads(value, fwd, ("next_h", "next_c", "cache"))  # raises BadReturn with what came back
    next_h, next_c, cache = value
    got = {"next_h": got_array(next_h, fwd, "next_h"), "next_c": got_array(next_c, fwd, "next_c")}
    got.update(got_grads(call(bwd, [a["dnext_h"], a["dnext_c"], cache]), bwd,
                         ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db")))
    return got


def _lstm_step_expect(a: dict, got: dict, opts: dict) -> dict:
    x, h, c, Wx, Wh, b, dh, dc = (f64(a[k]) for k in ("x", "prev_h", "prev_c", "Wx", "Wh", "b", "dnext_h",
                                                        "dnext_c"))
    next_h, next_c = rnn.lstm_step_forward(x, h, c, Wx, Wh, b)
    return {"next_h": next_h, "next_c": next_c, **rnn.lstm_step_vjp(dh, dc, x, h, c, Wx, Wh, b)}


# ---- the table ------------------------------------------------------------------------------------------------

_SEQ_GRADS = ("dx", "dh0", "dWx", "dWh", "db")
RECURRENT_LAYERS: dict[str, Layer] = {
    "rnn_step": Layer("rnn_step", ("rnn_step_forward", "rnn_step_backward"), _describe("N D H"),
                      lambda m: _sizes("N D H", m), ({"N": 1, "D": 2, "H": 3}, {"N": 2, "D": 3, "H": 4}),
                      _step_inputs(1), _rnn_step_run, _rnn_step_expect,
                      (("next_h",), ("dx", "dprev_h", "dWx", "dWh", "db")), "next_h = tanh(x Wx + prev_h Wh + b)"),
    "rnn": Layer("rnn", ("rnn_forward", "rnn_backward"), _describe("N T D H"), lambda m: _sizes("N T D H", m),
                 ({"N": 1, "T": 3, "D": 4, "H": 5}, {"N": 2, "T": 3, "D": 4, "H": 6}), _seq_inputs(1),
                 _seq_run("rnn"), _seq_expect("rnn"), (("h",), _SEQ_GRADS),
                 "the step over T time steps; backward through time"),
    "word_embedding": Layer("word_embedding", ("word_embedding_forward", "word_embedding_backward"),
                            _describe("N T V D"), lambda m: _sizes("N T V D", m),
                            ({"N": 1, "T": 3, "V": 4, "D": 5}, {"N": 2, "T": 3, "V": 5, "D": 6}), _embedding_inputs,
                            _embedding_run, _embedding_expect, (("out",), ("dW",)),
                            "out = W[x]; dW adds the rows of repeated words"),
    "temporal_affine": Layer("temporal_affine", ("temporal_affine_forward", "temporal_affine_backward"),
                             _describe("N T D M"), lambda m: _sizes("N T D M", m),
                             ({"N": 1, "T": 2, "D": 3, "M": 4}, {"N": 2, "T": 3, "D": 4, "M": 5}), _taffine_inputs,
                             _taffine_run, _taffine_expect, (("out",), ("dx", "dw", "db")),
                             "out[:, t] = x[:, t] w + b at every step"),
    "temporal_softmax_loss": Layer("temporal_softmax_loss", ("temporal_softmax_loss",), _describe("N T V"),
                                   lambda m: _sizes("N T V", m).map(lambda d: {**d, "V": max(d["V"], 2)}),
                                   ({"N": 1, "T": 3, "V": 4}, {"N": 2, "T": 3, "V": 5}), _tsoftmax_inputs,
                                   _tsoftmax_run, _tsoftmax_expect, (("loss",), ("dx",)),
                                   "masked cross-entropy summed over time, averaged over N"),
    "lstm_step": Layer("lstm_step", ("lstm_step_forward", "lstm_step_backward"), _describe("N D H"),
                       lambda m: _sizes("N D H", m), ({"N": 1, "D": 2, "H": 3}, {"N": 2, "D": 3, "H": 4}),
                       _step_inputs(4), _lstm_step_run, _lstm_step_expect,
                       (("next_h", "next_c"), ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db")),
                       "gates i, f, o, g; next_c = f prev_c + i g; next_h = o tanh(next_c)"),
    "lstm": Layer("lstm", ("lstm_forward", "lstm_backward"), _describe("N T D H"), lambda m: _sizes("N T D H", m),
                  ({"N": 1, "T": 3, "D": 4, "H": 5}, {"N": 2, "T": 3, "D": 4, "H": 6}), _seq_inputs(4),
                  _seq_run("lstm"), _seq_expect("lstm"), (("h",), _SEQ_GRADS), "the LSTM step over T, c0 = 0"),
}


# ---- the recurrent mistakes (crosscheck.layers.diagnose adds them to its catalogue) ----------------------------

def _seq(kind: str, out: str, **mistake: Any):
    vjp = rnn.rnn_vjp if kind == "rnn" else rnn.lstm_vjp

    def value(a: dict, e: dict, g: dict) -> np.ndarray | None:
        if mistake.get("first_step") and a["x"].shape[1] < 2:
            return None
        return vjp(a["dh"], a["x"], a["h0"], a["Wx"], a["Wh"], a["b"], **mistake)[out]
    return value


def _lstm_step(out: str, **mistake: Any):
    def value(a: dict, e: dict, g: dict) -> np.ndarray:
        args = [a[k] for k in ("x", "prev_h", "prev_c", "Wx", "Wh", "b")]
        if out in ("next_h", "next_c"):
            return rnn.lstm_step_forward(*args, **mistake)[0 if out == "next_h" else 1]
        return rnn.lstm_step_vjp(a["dnext_h"], a["dnext_c"], *args, **mistake)[out]
    return value


def _lstm_seq_order(order: tuple[str, ...]):
    return lambda a, e, g: rnn.lstm_forward(a["x"], a["h0"], a["Wx"], a["Wh"], a["b"], order=order)


_SWAPS = (("i", "f", "g", "o"), ("f", "i", "o", "g"), ("i", "o", "f", "g"), ("g", "i", "f", "o"))
_GATE_TEXT = "the gates are read in the order {}: the course's a is split as i, f, o, g"


def _mistakes() -> list[tuple]:
    out: list[tuple] = []
    for kind, layers in (("rnn", ("rnn",)), ("lstm", ("lstm",))):
        for w in ("dWx", "dWh", "db"):
            out.append(("weights_not_summed_over_time", layers, w, f"{w} is the last step's alone (t = 0): the "
                        "weights are shared by every step, so their gradients add up over time (+=)",
                        _seq(kind, w, summed=False)))
        for p in ("dx", "dh0", "dWx", "dWh", "db"):
            out.append(("bptt_stops_early", layers, p, "backpropagation through time stops before t = 0 "
                        "(range(T - 1, 0, -1)): the first step gets no gradient", _seq(kind, p, first_step=1)))
            out.append(("carried_dh_dropped", layers, p, "each step's backward gets dh[:, t] alone: the "
                        "gradient carried from step t+1 (dprev_h) must be added to it", _seq(kind, p, carry_h=False)))
            if kind == "lstm":
                out.append(("carried_dc_dropped", layers, p, "each step's backward gets dnext_c = 0: the cell "
                            "gradient carried from step t+1 (dprev_c) must be passed on", _seq(kind, p, carry_c=False)))
                out.append(("cell_tanh_derivative_missing", layers, p, "dnext_h reaches the cell as dnext_h * o: "
                            "the factor tanh'(next_c) = 1 - tanh(next_c)^2 is missing",
                            _seq(kind, p, cell_tanh_prime=False)))
            else:
                out.append(("tanh_derivative_missing", layers, p, "the step's backward uses dnext_h as the "
                            "gradient of the pre-activation: the factor 1 - next_h^2 is missing",
                            _seq(kind, p, tanh_prime=False)))
    for p in ("dx", "dprev_h", "dWx", "dWh", "db"):
        out.append(("tanh_derivative_missing", ("rnn_step",), p, "dnext_h is used as the gradient of the "
                    "pre-activation: the factor 1 - next_h^2 is missing",
                    lambda a, e, g, p=p: rnn.rnn_step_vjp(a["dnext_h"], a["x"], a["prev_h"], a["Wx"], a["Wh"], a["b"],
                                                          tanh_prime=False)[p]))
    for p in ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"):
        out.append(("cell_tanh_derivative_missing", ("lstm_step",), p, "dnext_h reaches the cell as dnext_h * o: "
                    "the factor tanh'(next_c) = 1 - tanh(next_c)^2 is missing", _lstm_step(p, cell_tanh_prime=False)))
    for order in _SWAPS:
        text = _GATE_TEXT.format(", ".join(order))
        for p in ("next_h", "next_c"):
            out.append(("gate_order", ("lstm_step",), p, text, _lstm_step(p, order=order)))
        out.append(("gate_order", ("lstm",), "h", text, _lstm_seq_order(order)))
        for p in ("dx", "dprev_h", "dWx", "dWh", "db"):
            out.append(("gate_order", ("lstm_step",), p, f"the gradients of the gates are laid out as "
                        f"{', '.join(order)}: the course's da is [di, df, do, dg]", _lstm_step(p, grad_order=order)))
    out.append(("embedding_overwrites", ("word_embedding",), "dW", "dW[x] = dout overwrites the rows of a word "
                "seen more than once: accumulate with np.add.at(dW, x, dout)",
                lambda a, e, g: rnn.embedding_vjp(a["dout"], a["x"], a["W"], accumulate=False)["dW"]))
    for p in ("loss", "dx"):
        out.append(("mask_ignored", ("temporal_softmax_loss",), p, "the mask is ignored: padded steps "
                    "(mask False) must add nothing to the loss or to dx",
                    lambda a, e, g, p=p: _tsoftmax(a, p, mask=np.ones_like(a["mask"]))))
        out.append(("divided_by_nt", ("temporal_softmax_loss",), p, "divided by N * T: the course's loss is "
                    "summed over time and averaged over the N samples only",
                    lambda a, e, g, p=p: _tsoftmax(a, p, divide_by="NT")))
    return out


def _tsoftmax(a: dict, part: str, *, mask: np.ndarray | None = None, divide_by: str = "N") -> np.ndarray:
    loss, dx = rnn.temporal_softmax_loss(a["x"], a["y"], a["mask"] if mask is None else mask, divide_by=divide_by)
    return np.asarray(loss) if part == "loss" else dx


MISTAKES: tuple[tuple, ...] = tuple(_mistakes())


def name_mutated(entry: str) -> str:
    """'lstm_step_backward: argument 2' -> 'lstm_step_backward: argument 2 (dnext_c)'."""
    fn, _, rest = entry.partition(": argument ")
    names = ARGUMENTS.get(fn)
    if names and rest.isdigit() and 1 <= int(rest) <= len(names):
        return f"{entry} ({names[int(rest) - 1]})"
    return entry


def default_layers(chosen: list[str], defined: set[str], layers: dict[str, Layer]) -> list[str]:
    """The layers a whole-module check reports by default: assignment 3's recurrent layers only when the
    module defines one of their functions, assignment 2's only when it defines one of theirs (an
    rnn_layers.py is not told it misses conv; a layers.py is not told it misses lstm)."""
    def writes(names: list[str]) -> bool:
        return any(f in defined for n in names for f in layers[n].functions)

    recurrent = [n for n in chosen if n in RECURRENT_LAYERS]
    others = [n for n in chosen if n not in RECURRENT_LAYERS]
    keep = (recurrent if writes(recurrent) else []) + (others if writes(others) else [])
    return [n for n in chosen if n in keep] or chosen
