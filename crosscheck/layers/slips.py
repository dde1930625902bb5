"""More of the layer catalogue (``crosscheck.layers.diagnose``): slips found on fresh code (issue 18),
each as the value the slipped code returns, computed from the example's inputs.

Each entry is ``(id, layers, output, detail, value)``; ``value(a, e, g)`` takes the inputs in float64
``a``, the reference's outputs ``e`` and what came back ``g``, and returns the array that output takes
under the slip, or None where the slip changes nothing on this example (so it cannot be told apart).

    conv: the stride ignored when sliding (forward or backward); dx cropped at the top left instead of
          having the pad removed; im2col's columns in another order than the flattened filters; dw
          assigned (=) per sample instead of accumulated;
    max pool: the flat argmax unravelled with the wrong window dimension; the window's offset left out;
    normalisation: eps left out of the backward's 1/std; dgamma from x - mu; reshape where a transpose
          belongs; test mode with the batch's statistics, without gamma/beta, or without eps; running_var
          holding the standard deviation;
    relu: dx = (x > 0) without dout; softmax: normalised over the batch (axis 0).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import permutations

import numpy as np

from ..reference.layers import conv, norm

__all__ = ["SLIPS"]

Value = Callable[[dict, dict, dict], "np.ndarray | None"]


# ---- convolution ------------------------------------------------------------------------------------

def _conv_step1(a: dict) -> dict | None:
    """out, dx, dw when the windows slide with step 1 but the output keeps the strided size (Ho, Wo)."""
    x, w, b, dout, s, pad = a["x"], a["w"], a["b"], a["dout"], a["stride"], a["pad"]
    if s == 1:
        return None
    N, F, Ho, Wo = dout.shape
    HH, WW = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    if Ho - 1 + HH > xp.shape[2] or Wo - 1 + WW > xp.shape[3]:
        return None
    out = np.zeros((N, F, Ho, Wo))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, :, i:i + HH, j:j + WW]
            out[:, :, i, j] = np.einsum("nckl,fckl->nf", patch, w) + b
            dw += np.einsum("nf,nckl->fckl", dout[:, :, i, j], patch)
            dxp[:, :, i:i + HH, j:j + WW] += np.einsum("nf,fckl->nckl", dout[:, :, i, j], w)
    H, W = x.shape[2:]
    return {"out": out, "dx": dxp[:, :, pad:pad + H, pad:pad + W], "dw": dw}


def _step1(part: str) -> Value:
    return lambda a, e, g: (_conv_step1(a) or {}).get(part)


def _cropped_top_left(a: dict, e: dict, g: dict) -> np.ndarray | None:
    if a["pad"] == 0:
        return None
    pad = a["pad"]
    xp = np.pad(a["x"], ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = conv.vjp(a["dout"], xp, a["w"], a["b"], a["stride"], 0)["dx"]
    return dxp[:, :, :a["x"].shape[2], :a["x"].shape[3]]


def _im2col_orders(a: dict) -> list[np.ndarray]:
    """The kernels the code effectively applies when its patches are flattened in another order of
    (C, HH, WW) than ``w.reshape(F, -1)``: w_eff[f] = w.reshape(F, *order) read back in (C, HH, WW)."""
    w = a["w"]
    F, C, HH, WW = w.shape
    sizes = (C, HH, WW)
    out = []
    for order in permutations(range(3)):
        if order == (0, 1, 2):
            continue
        shaped = w.reshape(F, *(sizes[i] for i in order))
        back = np.argsort(order)
        out.append(shaped.transpose(0, *(1 + int(i) for i in back)))
    return out


def _im2col(part: str) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray | None:
        got = g.get(part)
        for w_eff in _im2col_orders(a):
            if part == "out":
                cand = conv.forward(a["x"], w_eff, a["b"], a["stride"], a["pad"])
            else:
                cand = conv.vjp(a["dout"], a["x"], w_eff, a["b"], a["stride"], a["pad"])["dx"]
            if isinstance(got, np.ndarray) and got.shape == cand.shape and np.allclose(got, cand, rtol=1e-6,
                                                                                       atol=1e-9):
                return cand
        return None
    return value


def _last_sample(part: str) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray | None:
        if a["x"].shape[0] < 2:
            return None
        return conv.vjp(a["dout"][-1:], a["x"][-1:], a["w"], a["b"], a["stride"], a["pad"])[part]
    return value


# ---- max pooling ------------------------------------------------------------------------------------

def _pool_route(place: Callable[[np.ndarray, int, int], tuple], offset: bool = True) -> Value:
    """dx with dout routed to ``place(k, ph, pw)`` inside each window (k: the flat argmax), at the
    window's offset or (``offset=False``) at the origin of x."""
    def value(a: dict, e: dict, g: dict) -> np.ndarray | None:
        x, dout, ph, pw, s = a["x"], a["dout"], a["ph"], a["pw"], a["stride"]
        N, C, Ho, Wo = dout.shape
        dx = np.zeros_like(x)
        for i in range(Ho):
            for j in range(Wo):
                k = x[:, :, i * s:i * s + ph, j * s:j * s + pw].reshape(N, C, -1).argmax(axis=2)
                r, c = place(k, ph, pw)
                r, c = (r + i * s, c + j * s) if offset else (r, c)
                if (r >= x.shape[2]).any() or (c >= x.shape[3]).any():
                    return None  # the slipped code raises here instead
                n, ch = np.indices((N, C))
                np.add.at(dx, (n, ch, r, c), dout[:, :, i, j])
        return dx
    return value


# ---- normalisation ----------------------------------------------------------------------------------

_BN = ("batchnorm", "batchnorm_alt")
_BN_ALL = _BN + ("spatial_batchnorm",)


def _geometry(layer: str, a: dict) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(the axes normalised over, the axes gamma is summed over, gamma's broadcast shape)."""
    x = a["x"]
    if layer in _BN:
        return (0,), (0,), (1, -1)
    if layer == "layernorm":
        return (1,), (0,), (1, -1)
    return (0, 2, 3), (0, 2, 3), (1, -1, 1, 1) if x.ndim == 4 else (1, -1)


def _std(layer: str, a: dict, eps: float) -> np.ndarray:
    axes = _geometry(layer, a)[0]
    return np.sqrt(a["x"].var(axis=axes, keepdims=True) + eps)


def _eps_dropped_dx(layer: str) -> Value:
    """xhat from the forward (with eps), but 1/sqrt(var) without eps in the backward's last factor."""
    def value(a: dict, e: dict, g: dict) -> np.ndarray:
        return e["dx"] * _std(layer, a, a["eps"]) / _std(layer, a, 0.0)
    return value


def _eps_dropped_everywhere(layer: str) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray:
        axes, _, shape = _geometry(layer, a)
        dxhat = a["dout"] * a["gamma"].reshape(shape)
        return norm.normalize_vjp(dxhat, a["x"], axes, 0.0)
    return value


def _dgamma_centered(layer: str) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray:
        axes, sum_axes, _ = _geometry(layer, a)
        xc = a["x"] - a["x"].mean(axis=axes, keepdims=True)
        return (a["dout"] * xc).sum(axis=sum_axes)
    return value


def _reshaped(layer: str, part: str) -> Value:
    """Normalised over x.reshape(D, N) (a reshape where x.T belongs), read back with reshape(N, D)."""
    def value(a: dict, e: dict, g: dict) -> np.ndarray | None:
        x = a["x"]
        N, D = x.shape
        if N == 1 or D == 1:
            return None
        axis = (0,) if layer == "layernorm" else (1,)
        xr = x.reshape(D, N)
        if part == "out":
            return norm.normalize(xr, axis, a["eps"])[0].reshape(N, D) * a["gamma"] + a["beta"]
        return norm.normalize_vjp((a["dout"] * a["gamma"]).reshape(D, N), xr, axis, a["eps"]).reshape(N, D)
    return value


def _test_mode(layer: str, *, affine: bool = True, eps: bool = True, batch: bool = False) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray:
        axes, _, shape = _geometry(layer, a)
        shape = (1, -1, 1, 1) if layer == "spatial_batchnorm" else (1, -1)
        x = a["x"]
        if batch:
            mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        else:
            mu, var = a["running_mean"].reshape(shape), a["running_var"].reshape(shape)
        xhat = (x - mu) / np.sqrt(var + (a["eps"] if eps else 0.0))
        return a["gamma"].reshape(shape) * xhat + a["beta"].reshape(shape) if affine else xhat
    return value


def _running_std(layer: str, eps: bool) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray:
        axes = _geometry(layer, a)[0]
        std = np.sqrt(a["x"].var(axis=axes) + (a["eps"] if eps else 0.0))
        return a["momentum"] * a["running_var"] + (1 - a["momentum"]) * std
    return value


def _norm_slips(layer: str) -> list[tuple]:
    L = (layer,)
    out = [
        ("eps_missing_in_backward", L, "dx", "dx divides by sqrt(var) without eps (the forward's xhat has it): "
         "use the same sqrt(var + eps) as the forward", _eps_dropped_dx(layer)),
        ("eps_missing_in_backward", L, "dx", "dx computed without eps (sqrt(var), not sqrt(var + eps))",
         _eps_dropped_everywhere(layer)),
        ("dgamma_from_centered", L, "dgamma", "dgamma = sum(dout * (x - mu)): it is sum(dout * xhat), with xhat "
         "= (x - mu) / sqrt(var + eps)", _dgamma_centered(layer)),
    ]
    if layer in _BN + ("layernorm",):
        what = "x.reshape(D, N)" if layer == "layernorm" else "x.reshape(D, N) over axis 1"
        out += [("reshape_not_transpose", L, p, f"{p} of normalising {what} and reshaping back: reshape "
                 "reorders the entries; x.T (and .T back) is what swaps the axes", _reshaped(layer, p))
                for p in ("out", "dx")]
    if layer in _BN_ALL:
        out += [
            ("test_mode_batch_stats", L, "out_test_mode", "test mode normalises with the batch's own mean and "
             "variance: it must use bn_param's running_mean and running_var", _test_mode(layer, batch=True)),
            ("test_mode_no_affine", L, "out_test_mode", "test mode returns the normalised x without gamma * xhat "
             "+ beta", _test_mode(layer, affine=False)),
            ("test_mode_eps_missing", L, "out_test_mode", "test mode divides by sqrt(running_var) without eps",
             _test_mode(layer, eps=False)),
            ("test_mode_batch_stats", L, "out_test_mode", "test mode normalises with the batch's statistics and "
             "returns it without gamma and beta", _test_mode(layer, batch=True, affine=False)),
            ("running_stats", L, "running_var", "running_var averages the standard deviation (np.std), not the "
             "variance", _running_std(layer, eps=False)),
            ("running_stats", L, "running_var", "running_var averages sqrt(var + eps), not the variance",
             _running_std(layer, eps=True)),
        ]
    return out


# ---- relu and softmax --------------------------------------------------------------------------------

def _softmax_over_batch(part: str) -> Value:
    def value(a: dict, e: dict, g: dict) -> np.ndarray | None:
        x, y = a["x"], a["y"]
        N = x.shape[0]
        if N == 1:
            return None
        p = np.exp(x - x.max(axis=0, keepdims=True))
        p /= p.sum(axis=0, keepdims=True)
        if part == "loss":
            return np.asarray(-np.log(p[np.arange(N), y]).mean())
        p[np.arange(N), y] -= 1
        return p / N
    return value


SLIPS: list[tuple] = [
    ("conv_stride_ignored", ("conv",), "out", "the windows slide with step 1 (x_pad[..., i:i+HH, j:j+WW]): start "
     "them at i*stride, j*stride", _step1("out")),
    ("conv_stride_ignored", ("conv",), "dx", "dx's windows slide with step 1, whatever the stride: start them at "
     "i*stride, j*stride", _step1("dx")),
    ("conv_stride_ignored", ("conv",), "dw", "dw's windows slide with step 1, whatever the stride",
     _step1("dw")),
    ("pad_cropped_top_left", ("conv",), "dx", "dx = dx_pad[:, :, :H, :W] keeps the top-left pad and cuts the "
     "bottom right: crop dx_pad[:, :, pad:pad+H, pad:pad+W]", _cropped_top_left),
    ("im2col_order", ("conv",), "out", "the patch columns are flattened in another order of (C, HH, WW) than "
     "w.reshape(F, -1): flatten both the same way", _im2col("out")),
    ("im2col_order", ("conv",), "dx", "dx computed with patches flattened in another order than the filters",
     _im2col("dx")),
    ("accumulated_by_assignment", ("conv",), "dw", "dw holds the last sample's contribution only: it is assigned "
     "(=) per sample where it must be accumulated (+=) over the batch", _last_sample("dw")),
    ("accumulated_by_assignment", ("conv",), "db", "db holds the last sample's contribution only: accumulate it "
     "over the batch", _last_sample("db")),
    ("pool_argmax_unravel", ("max_pool",), "dx", "the flat argmax k is unravelled as (k // pool_height, k % "
     "pool_height): the window's rows are pool_width long, use np.unravel_index(k, (ph, pw))",
     _pool_route(lambda k, ph, pw: (k // ph, k % ph))),
    ("pool_argmax_unravel", ("max_pool",), "dx", "the flat argmax k is unravelled as (k % pool_width, k // "
     "pool_width): row and column swapped", _pool_route(lambda k, ph, pw: (k % pw, k // pw))),
    ("pool_window_offset", ("max_pool",), "dx", "dout is written at the maximum's position inside the window, "
     "without the window's offset (i*stride, j*stride)", _pool_route(lambda k, ph, pw: (k // pw, k % pw),
                                                                      offset=False)),
    ("dout_not_used", ("relu",), "dx", "dx = (x > 0): the mask is not multiplied by dout",
     lambda a, e, g: (a["x"] > 0).astype(np.float64)),
    ("softmax_wrong_axis", ("softmax_loss",), "loss", "softmax normalised over the batch (axis 0): each row "
     "(sample) must sum to 1 over the classes, axis 1", _softmax_over_batch("loss")),
    ("softmax_wrong_axis", ("softmax_loss",), "dx", "dx of a softmax normalised over the batch (axis 0) instead "
     "of over the classes", _softmax_over_batch("dx")),
    *[s for layer in _BN_ALL + ("layernorm",) for s in _norm_slips(layer)],
]
