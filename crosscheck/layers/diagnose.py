"""Naming the mistake in a layer: a catalogue of what students get wrong, each as the value the
mistaken code would return, matched against what came back.

Each ``Mistake`` computes, from the example's inputs (and the reference, and where the mistake is about
the student's own randomness, what came back), the array one output takes under that mistake: the
transposed ``dw``, batchnorm's ``dx`` without the path through the mean, the unbiased variance, ... A
failing output that equals a mistake's value (within ``MATCH_RTOL``) names it; several matches are
ranked by how closely they match, then by catalogue order. Outputs no mistake explains get a generic
note (shape, NaN, a scale factor, a sign, wrong values). Mutated inputs and unfilled TODOs are named too.

The catalogue is assembled here; the normalisation layers' entries come from ``norm_mistakes``, more from
``slips``, ``recurrent`` and ``objects`` (plain tuples, so those modules import no diagnosis).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..reference.layers import conv
from .api import Layer, kept_fraction_bound
from .infer import explain
from .norm_mistakes import NORM_MISTAKES
from .objects import MISTAKES as OBJECT_MISTAKES
from .recurrent import MISTAKES as RECURRENT_MISTAKES
from .recurrent import name_mutated
from .report import Part
from .slips import SLIPS

__all__ = ["Mistake", "CATALOGUE", "diagnose", "MISTAKE_IDS", "GENERIC_IDS"]

MATCH_RTOL = {"float64": 1e-7, "float32": 2e-3}

Value = Callable[[dict, dict, dict], "np.ndarray | None"]  # (inputs in float64, expected, got) -> array


@dataclass(frozen=True)
class Mistake:
    id: str
    layers: tuple[str, ...]
    parameter: str
    detail: str
    value: Value


def _f(a: dict) -> dict:
    return {k: np.asarray(v, dtype=np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
            for k, v in a.items()}


# ---- dropout ---------------------------------------------------------------------------------------------

def _fwd_mask(g: dict) -> np.ndarray | None:
    out = g.get("out")
    return None if not isinstance(out, np.ndarray) else (out != 0).astype(np.float64)


def _fresh_mask(a: dict, e: dict, g: dict) -> np.ndarray | None:
    dx, m = g.get("dx"), _fwd_mask(g)
    if not isinstance(dx, np.ndarray) or m is None or dx.shape != m.shape:
        return None
    mask_b = (dx != 0).astype(np.float64)
    if np.array_equal(mask_b, m):
        return None
    return a["dout"] * mask_b / a["keep"]  # a mask of its own, scaled like the forward's


def _kept_other_convention(a: dict, e: dict, g: dict) -> np.ndarray | None:
    frac = g.get("kept_fraction")
    if frac is None or abs(float(frac) - (1 - a["keep"])) > kept_fraction_bound(1 - a["keep"]):
        return None
    return np.asarray(float(frac))


def _dropout_mistakes() -> list[Mistake]:
    L = ("dropout",)
    other = "p read as the other probability than --dropout-p says"  # the sentence is made in _dropout_text
    return [
        Mistake("dropout_not_scaled", L, "out", "out = x * mask: not divided by the keep probability (inverted "
                "dropout scales at train time)", lambda a, e, g: _m(g, a["x"], 1.0)),
        Mistake("dropout_not_scaled", L, "dx", "dx = dout * mask: not divided by the keep probability",
                lambda a, e, g: _m(g, a["dout"], 1.0)),
        Mistake("dropout_fresh_mask", L, "dx", "the backward draws a fresh mask instead of using the one the "
                "forward pass used (keep it in the cache)", _fresh_mask),
        Mistake("dropout_p_convention", L, "out", other, lambda a, e, g: _m(g, a["x"], 1 - a["keep"])),
        Mistake("dropout_p_convention", L, "dx", other, lambda a, e, g: _m(g, a["dout"], 1 - a["keep"])),
        Mistake("dropout_p_convention", L, "kept_fraction", other, _kept_other_convention),
        Mistake("dropout_scaled_by_p", L, "out", "out multiplied by the keep probability instead of divided",
                lambda a, e, g: _m(g, a["x"], 1 / a["keep"])),
        Mistake("dropout_backward_no_mask", L, "dx", "dx = dout / p: the mask is not applied in the backward pass",
                lambda a, e, g: a["dout"] / a["keep"]),
        Mistake("dropout_seed_ignored", L, "out_same_seed", "dropout_param['seed'] is not used: the same seed gave "
                "a different mask (seed NumPy's generator with it)",
                lambda a, e, g: g.get("out_same_seed") if not np.array_equal(g.get("out_same_seed"), g.get("out"))
                else None),
        Mistake("dropout_test_mode", L, "out_test_mode", "in test mode dropout must return x unchanged",
                lambda a, e, g: None),
        Mistake("dropout_test_mode", L, "dx_test_mode", "in test mode dropout_backward must return dout unchanged",
                lambda a, e, g: None),
    ]


def _m(g: dict, base: np.ndarray, keep: float) -> np.ndarray | None:
    m = _fwd_mask(g)
    return None if m is None or m.shape != base.shape else base * m / keep


# ---- the other layers -----------------------------------------------------------------------------------

def _conv_with(w_of: Callable[[np.ndarray], np.ndarray], part: str) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray | None:
        w = w_of(a["w"])
        if w.shape != a["w"].shape:
            return None
        if part == "out":
            return conv.forward(a["x"], w, a["b"], a["stride"], a["pad"])
        return conv.vjp(a["dout"], a["x"], w, a["b"], a["stride"], a["pad"])["dx"]
    return value


def _flip(w: np.ndarray) -> np.ndarray:
    return w[:, :, ::-1, ::-1]


def _transpose(w: np.ndarray) -> np.ndarray:
    return w.transpose(0, 1, 3, 2)


def _pool_overwrite(a: dict, e: dict, g: dict) -> np.ndarray | None:
    """dx[argmax] = dout instead of +=: where windows overlap, the last one written wins."""
    x, dout, ph, pw, s = a["x"], a["dout"], a["ph"], a["pw"], a["stride"]
    if s >= ph and s >= pw:
        return None
    dx = np.zeros_like(x)
    N, C, Ho, Wo = dout.shape
    for i in range(Ho):
        for j in range(Wo):
            win = x[:, :, i * s:i * s + ph, j * s:j * s + pw].reshape(N, C, -1)
            arg = win.argmax(axis=-1)
            for n in range(N):
                for c in range(C):
                    dx[n, c, i * s + arg[n, c] // pw, j * s + arg[n, c] % pw] = dout[n, c, i, j]
    return dx


def _pool_window(share: bool) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray:
        x, dout, ph, pw, s = a["x"], a["dout"], a["ph"], a["pw"], a["stride"]
        dx = np.zeros_like(x)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                d = dout[:, :, i, j][:, :, None, None]
                dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += d / (ph * pw) if share else d
        return dx
    return value


def _pool_ties_all(a: dict, e: dict, g: dict) -> np.ndarray | None:
    x, dout, ph, pw, s = a["x"], a["dout"], a["ph"], a["pw"], a["stride"]
    dx = np.zeros_like(x)
    tied = False
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
            top = win == win.max(axis=(2, 3), keepdims=True)
            tied |= bool((top.sum(axis=(2, 3)) > 1).any())
            dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += top * dout[:, :, i, j][:, :, None, None]
    return dx if tied else None


def _svm_label_counted(a: dict, e: dict, g: dict) -> np.ndarray:
    x, y = a["x"], a["y"]
    N = x.shape[0]
    margins = x - x[np.arange(N), y][:, None] + 1.0  # the label's own margin, 1, left in
    pos = (margins > 0).astype(float)
    dx = pos.copy()
    dx[np.arange(N), y] += -pos.sum(axis=1)
    return dx / N


CATALOGUE: list[Mistake] = [
    # affine
    Mistake("transposed_dw", ("affine",), "dw", "dw is transposed: it must have w's shape (D, M), dw = x.reshape(N, "
            "D).T @ dout", lambda a, e, g: e["dw"].T),
    Mistake("dx_not_reshaped", ("affine",), "dx", "dx is (N, D): reshape it to x's shape (N, d_1, ..., d_k)",
            lambda a, e, g: e["dx"].reshape(e["dx"].shape[0], -1)),
    Mistake("db_not_summed", ("affine",), "db", "db = dout is not summed over the N samples",
            lambda a, e, g: a["dout"]),
    Mistake("db_not_summed", ("affine",), "db", "db is averaged over N instead of summed",
            lambda a, e, g: a["dout"].mean(axis=0)),
    Mistake("db_not_summed", ("affine",), "db", "db summed over the wrong axis (over M, not over N)",
            lambda a, e, g: a["dout"].sum(axis=1)),
    Mistake("dx_uses_w_not_wT", ("affine",), "dx", "dx = dout @ w: it is dout @ w.T",
            lambda a, e, g: (a["dout"] @ a["w"]).reshape(a["x"].shape) if a["w"].shape[0] == a["w"].shape[1] else None),
    Mistake("extra_1_over_n", ("affine",), "dw", "dw divided by N: affine_backward sums over the batch; the 1/N "
            "belongs to the loss", lambda a, e, g: e["dw"] / a["x"].shape[0]),
    Mistake("extra_1_over_n", ("affine",), "dx", "dx divided by N", lambda a, e, g: e["dx"] / a["x"].shape[0]),
    Mistake("missing_bias", ("affine",), "out", "out = x @ w: the bias b is not added",
            lambda a, e, g: e["out"] - a["b"]),
    # relu
    Mistake("relu_mask_missing", ("relu",), "dx", "dx = dout: not masked by x > 0", lambda a, e, g: a["dout"]),
    Mistake("relu_mask_on_dout", ("relu",), "dx", "dx = max(dout, 0): the mask must come from the input x, not "
            "from dout", lambda a, e, g: np.maximum(a["dout"], 0)),
    # losses
    Mistake("missing_1_over_n", ("softmax_loss", "svm_loss"), "dx", "dx is N times too large: the loss is a mean "
            "over the N samples, divide dx by N", lambda a, e, g: e["dx"] * a["x"].shape[0]),
    Mistake("missing_1_over_n", ("softmax_loss", "svm_loss"), "loss", "the loss is N times too large: divide by N "
            "(a mean over the samples)", lambda a, e, g: e["loss"] * a["x"].shape[0]),
    Mistake("softmax_label_term_missing", ("softmax_loss",), "dx", "dx = p / N: subtract 1 at each sample's label",
            lambda a, e, g: e["dx"] + np.eye(a["x"].shape[1])[a["y"]] / a["x"].shape[0]),
    Mistake("svm_label_counted", ("svm_loss",), "dx", "the label's own margin (always 1) is counted: skip j = y_i",
            _svm_label_counted),
    Mistake("svm_label_counted", ("svm_loss",), "loss", "the loss counts the label's own margin of 1 per sample",
            lambda a, e, g: e["loss"] + 1.0),
    # conv
    Mistake("conv_kernel_flipped", ("conv",), "out", "the kernel is flipped (a true convolution): the course's "
            "layer is a cross-correlation, w[f, c, k, l] meets x[..., i*s + k, j*s + l]", _conv_with(_flip, "out")),
    Mistake("conv_kernel_flipped", ("conv",), "dx", "dx computed with the kernel flipped", _conv_with(_flip, "dx")),
    Mistake("conv_kernel_flipped", ("conv",), "dw", "dw is flipped (dw[:, :, ::-1, ::-1])",
            lambda a, e, g: _flip(e["dw"])),
    Mistake("conv_kernel_transposed", ("conv",), "out", "the kernel's height and width are swapped (w.T per channel)",
            _conv_with(_transpose, "out")),
    Mistake("conv_kernel_transposed", ("conv",), "dx", "dx computed with the kernel's height and width swapped",
            _conv_with(_transpose, "dx")),
    Mistake("conv_kernel_transposed", ("conv",), "dw", "dw has height and width swapped (F, C, WW, HH)",
            lambda a, e, g: _transpose(e["dw"])),
    Mistake("pad_not_removed", ("conv",), "dx", "dx still has the padding: crop dx_pad[:, :, pad:pad+H, pad:pad+W]",
            lambda a, e, g: np.pad(e["dx"], ((0, 0), (0, 0), (a["pad"],) * 2, (a["pad"],) * 2)) if a["pad"] else None),
    Mistake("pad_slice_at_zero", ("conv",), "dx", "dx = dx_pad[:, :, pad:-pad, pad:-pad] is empty when pad = 0 "
            "(-0 is 0): slice pad:pad+H", lambda a, e, g: e["dx"][:, :, 0:0, 0:0] if a["pad"] == 0 else None),
    Mistake("db_not_summed", ("conv",), "db", "db not summed over N, H' and W' (shape (N, F))",
            lambda a, e, g: a["dout"].sum(axis=(2, 3))),
    Mistake("db_not_summed", ("conv",), "db", "db summed over N only, not over H' and W'",
            lambda a, e, g: a["dout"].sum(axis=0)),
    # pooling
    Mistake("pool_grad_to_window", ("max_pool",), "dx", "dout is routed to every element of the window: only the "
            "maximum receives it", _pool_window(share=False)),
    Mistake("pool_grad_to_window", ("max_pool",), "dx", "dout is spread evenly over the window (average pooling's "
            "gradient): only the maximum receives it", _pool_window(share=True)),
    Mistake("pool_ties_all_routed", ("max_pool",), "dx", "at a tie every maximum of the window receives the "
            "whole dout ((window == max) * dout): the subgradients of max weigh the tied entries by at most 1 "
            "in total; route dout to one of them (np.argmax)", _pool_ties_all),
    Mistake("pool_overwrites_overlap", ("max_pool",), "dx", "dx[max] = dout overwrites where windows overlap "
            "(stride < pool size): accumulate with +=", _pool_overwrite),
    *(Mistake(*m) for m in NORM_MISTAKES),  # the normalisation layers (crosscheck.layers.norm_mistakes)
    *_dropout_mistakes(),
    *(Mistake(*s) for s in SLIPS),
    *(Mistake(*m) for m in RECURRENT_MISTAKES),  # assignment 3's layers (crosscheck.layers.recurrent)
    *(Mistake(*m) for m in OBJECT_MISTAKES),  # layers written as classes (crosscheck.layers.objects)
]
MISTAKE_IDS: tuple[str, ...] = tuple(dict.fromkeys(m.id for m in CATALOGUE))
# what the diagnosis says when no catalogued mistake matches
GENERIC_IDS = ("wrong_shape", "nan", "sign", "scale", "wrong_values", "wrong_entries", "axis_factor", "reshaped",
               "transposed")


def _rel(got: np.ndarray, cand: np.ndarray) -> float:
    denom = max(float(np.linalg.norm(cand)), 1e-300)
    return float(np.linalg.norm(got.astype(np.float64) - cand)) / denom


def diagnose(layer: Layer, inputs: dict, got: dict, expected: dict, parts: list[Part], *,
             mutated: list[str] = (), not_implemented: str = "", opts: dict | None = None,
             dtype: str = "float64") -> list[dict]:
    """The diagnosis of a failing example: ``[{id, parameter, detail}]``, most likely first."""
    out: list[dict] = []
    if not_implemented:
        out.append({"id": "not_implemented", "parameter": "", "detail": not_implemented})
    a = _f(inputs)
    tol = MATCH_RTOL[dtype]
    failing = [p for p in parts if not p.passed]
    matches: list[tuple[float, int, dict]] = []
    for order, m in enumerate(CATALOGUE):
        if layer.name not in m.layers:
            continue
        part = next((p for p in failing if p.name == m.parameter), None)
        g = got.get(m.parameter)
        if part is None or not isinstance(g, np.ndarray):
            continue
        try:
            with np.errstate(all="ignore"):
                cand = m.value(a, expected, got)
        except (ValueError, IndexError, KeyError, ZeroDivisionError):
            cand = None
        if cand is None:
            if m.id == "dropout_test_mode":
                matches.append((1.0, order, {"id": m.id, "parameter": m.parameter, "detail": m.detail}))
            continue
        cand = np.asarray(cand, dtype=np.float64)
        if cand.shape != g.shape or g.dtype.kind not in "biuf":
            continue
        gf, cf = np.isfinite(g), np.isfinite(cand)
        if not np.array_equal(gf, cf):  # NaN where the mistake gives NaN (the unbiased variance at N = 1)
            continue
        r = _rel(g[gf], cand[cf]) if gf.any() else 0.0
        if r <= tol:
            matches.append((r, order, {"id": m.id, "parameter": m.parameter, "detail": m.detail}))
    matches.sort(key=lambda t: (t[0] > tol * 1e-3, t[1]))  # exact matches first, then catalogue order
    seen = set()
    explained = set()
    for _, _, d in matches:
        explained.add(d["parameter"])
        if d["id"] in seen:
            continue
        seen.add(d["id"])
        out.append(d)
    for p in failing:
        if p.name not in explained:
            out.append(explain(layer.name, p.name, got.get(p.name), expected.get(p.name), a, p.reason,
                               p.rel_error, p.tolerance))
    for d in out:
        if d["id"] == "dropout_p_convention":
            d["detail"] = _dropout_text(d["parameter"], (opts or {}).get("dropout_p", "keep"))
    if mutated:
        out.append({"id": "mutates_inputs", "parameter": ", ".join(name_mutated(m) for m in mutated),
                    "detail": "the function changed its input arrays in place (copy before modifying)"})
    return out


def _dropout_text(parameter: str, declared: str) -> str:
    """The dropout convention sentence, true to the option that was passed."""
    said, read = ("keep", "drop") if declared == "keep" else ("drop", "keep")
    return (f"{parameter}: the code reads dropout_param['p'] as the {read} probability, but --dropout-p {said} "
            f"(the option used) says p is the {said} probability")
