"""Independent oracles for the per-layer references: the same layer written with torch.nn.functional
and differentiated by torch.autograd, written with jax.numpy / jax.lax and differentiated by
``jax.vjp``, and central finite differences (plus the complex step where the layer is analytic) of
the reference forward pass. torch and JAX are imported inside the functions that use them.

Each ``Family`` names a layer of ``crosscheck.layers.api`` (whose strategies draw the inputs), the
inputs it is differentiated with respect to, and the reference forward and VJP. Every oracle returns
``{"out": ..., "dx": ..., ...}`` for the vector-Jacobian product with the example's ``dout`` (a loss
layer's output is its scalar loss, and its VJP takes dout = 1).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..reference.layers import affine, conv, dropout, losses, norm, pool, relu, rnn
from . import recurrent_oracles

__all__ = ["Family", "FAMILIES", "torch_vjp", "jax_vjp", "numeric_vjp", "reference_vjp", "add_mask"]


@dataclass(frozen=True)
class Family:
    name: str  # the layer in crosscheck.layers.api.LAYERS whose strategies draw the inputs
    wrt: tuple[str, ...]  # differentiable inputs
    forward: Callable[[dict], Any]  # the reference forward, NumPy (complex-safe when analytic)
    vjp: Callable[[dict], dict]  # the reference VJP at a["dout"]: {"d" + name: array}
    analytic: bool  # complex step applies (no comparisons on the input's values)
    loss: bool = False  # the output is a scalar loss; the VJP is its gradient
    scales: Callable[[dict], dict] | None = None  # size of the terms that cancel in dx (compare_parts)


def add_mask(a: dict, rng: np.random.Generator) -> dict:
    """dropout's inputs for an oracle: a fixed 0/1 mask with P(1) = keep (the randomness is the
    implementation's business; the derivative is taken with the mask fixed)."""
    if "keep" in a and "mask" not in a:
        a = dict(a, mask=(rng.random(a["x"].shape) < a["keep"]).astype(a["x"].dtype))
    return a


def _bn(a: dict) -> dict:
    return norm.batchnorm_vjp(a["dout"], a["x"], a["gamma"], a["beta"], a["eps"])


FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("affine", ("x", "w", "b"), lambda a: affine.forward(a["x"], a["w"], a["b"]),
           lambda a: affine.vjp(a["dout"], a["x"], a["w"], a["b"]), True),
    Family("relu", ("x",), lambda a: relu.forward(a["x"]), lambda a: relu.vjp(a["dout"], a["x"]), False),
    Family("softmax_loss", ("x",), lambda a: losses.softmax_loss(a["x"], a["y"])[0],
           lambda a: {"dx": losses.softmax_loss(a["x"], a["y"])[1]}, True, loss=True),
    Family("svm_loss", ("x",), lambda a: losses.svm_loss(a["x"], a["y"])[0],
           lambda a: {"dx": losses.svm_loss(a["x"], a["y"])[1]}, False, loss=True),
    Family("batchnorm", ("x", "gamma", "beta"),
           lambda a: norm.batchnorm_forward(a["x"], a["gamma"], a["beta"], a["eps"]), _bn, True),
    Family("layernorm", ("x", "gamma", "beta"),
           lambda a: norm.layernorm_forward(a["x"], a["gamma"], a["beta"], a["eps"]),
           lambda a: norm.layernorm_vjp(a["dout"], a["x"], a["gamma"], a["beta"], a["eps"]), True),
    Family("dropout", ("x",), lambda a: dropout.forward(a["x"], a["mask"], a["keep"]),
           lambda a: dropout.vjp(a["dout"], a["mask"], a["keep"]), True),
    Family("conv", ("x", "w", "b"), lambda a: conv.forward(a["x"], a["w"], a["b"], a["stride"], a["pad"]),
           lambda a: conv.vjp(a["dout"], a["x"], a["w"], a["b"], a["stride"], a["pad"]), True),
    Family("max_pool", ("x",), lambda a: pool.forward(a["x"], a["ph"], a["pw"], a["stride"]),
           lambda a: pool.vjp(a["dout"], a["x"], a["ph"], a["pw"], a["stride"]), False),
    Family("spatial_batchnorm", ("x", "gamma", "beta"),
           lambda a: norm.spatial_batchnorm_forward(a["x"], a["gamma"], a["beta"], a["eps"]),
           lambda a: norm.spatial_batchnorm_vjp(a["dout"], a["x"], a["gamma"], a["beta"], a["eps"]), True),
    Family("spatial_groupnorm", ("x", "gamma", "beta"),
           lambda a: norm.groupnorm_forward(a["x"], a["gamma"], a["beta"], a["G"], a["eps"]),
           lambda a: norm.groupnorm_vjp(a["dout"], a["x"], a["gamma"], a["beta"], a["G"], a["eps"]), True),
]}


def _norm_scales(axes: tuple[int, ...], param_axes: tuple[int, ...], group: bool = False) -> Callable[[dict], dict]:
    def scales(a: dict) -> dict:
        x, g = a["x"], a["gamma"]
        gb = g.reshape(1, -1, 1, 1) if x.ndim == 4 and g.ndim == 1 else g
        grouped = (x.shape[0], a["G"], x.shape[1] // a["G"], *x.shape[2:]) if group else None
        return norm.cancellation_scales(a["dout"], gb, x, axes, a["eps"], param_axes, grouped)
    return scales


for _name, _scales in (("batchnorm", _norm_scales((0,), (0,))), ("layernorm", _norm_scales((1,), (0,))),
                       ("spatial_batchnorm", _norm_scales((0, 2, 3), (0, 2, 3))),
                       ("spatial_groupnorm", _norm_scales((2, 3, 4), (0, 2, 3), group=True))):
    FAMILIES[_name] = dataclasses.replace(FAMILIES[_name], scales=_scales)

_H = lambda a: a["prev_h"].shape[1]  # noqa: E731 - lstm_step's dout is [dnext_h, dnext_c] side by side
_LSTM_STEP = ("x", "prev_h", "prev_c", "Wx", "Wh", "b")
FAMILIES.update({f.name: f for f in [  # assignment 3 (crosscheck.layers.recurrent, crosscheck.reference.layers.rnn)
    Family("rnn_step", ("x", "prev_h", "Wx", "Wh", "b"),
           lambda a: rnn.rnn_step_forward(a["x"], a["prev_h"], a["Wx"], a["Wh"], a["b"]),
           lambda a: rnn.rnn_step_vjp(a["dout"], a["x"], a["prev_h"], a["Wx"], a["Wh"], a["b"]), True),
    Family("rnn", ("x", "h0", "Wx", "Wh", "b"), lambda a: rnn.rnn_forward(a["x"], a["h0"], a["Wx"], a["Wh"], a["b"]),
           lambda a: rnn.rnn_vjp(a["dout"], a["x"], a["h0"], a["Wx"], a["Wh"], a["b"]), True),
    Family("word_embedding", ("W",), lambda a: rnn.embedding_forward(a["x"], a["W"]),
           lambda a: rnn.embedding_vjp(a["dout"], a["x"], a["W"]), True),
    Family("temporal_affine", ("x", "w", "b"), lambda a: rnn.temporal_affine_forward(a["x"], a["w"], a["b"]),
           lambda a: rnn.temporal_affine_vjp(a["dout"], a["x"], a["w"], a["b"]), True),
    Family("temporal_softmax_loss", ("x",), lambda a: rnn.temporal_softmax_loss(a["x"], a["y"], a["mask"])[0],
           lambda a: {"dx": rnn.temporal_softmax_loss(a["x"], a["y"], a["mask"])[1]}, True, loss=True),
    Family("lstm_step", _LSTM_STEP, lambda a: np.concatenate(rnn.lstm_step_forward(*(a[k] for k in _LSTM_STEP)), 1),
           lambda a: rnn.lstm_step_vjp(a["dout"][:, :_H(a)], a["dout"][:, _H(a):], *(a[k] for k in _LSTM_STEP)),
           True),
    Family("lstm", ("x", "h0", "Wx", "Wh", "b"), lambda a: rnn.lstm_forward(a["x"], a["h0"], a["Wx"], a["Wh"], a["b"]),
           lambda a: rnn.lstm_vjp(a["dout"], a["x"], a["h0"], a["Wx"], a["Wh"], a["b"]), True),
]})


def reference_vjp(family: Family, a: dict) -> dict:
    """The reference's forward and VJP, in the dtype of the inputs."""
    return {"out": np.asarray(family.forward(a)), **family.vjp(a)}


# ---- torch.nn.functional + torch.autograd -----------------------------------------------------------------

def _torch_forward(name: str, t: dict, a: dict) -> Any:
    import torch
    import torch.nn.functional as F

    x = t.get("x")  # word_embedding differentiates W alone
    if name == "affine":
        return x.reshape(x.shape[0], -1) @ t["w"] + t["b"]
    if name == "relu":
        return F.relu(x)
    if name == "softmax_loss":
        return F.cross_entropy(x, torch.as_tensor(a["y"]))
    if name == "svm_loss":  # multi_margin_loss averages over the C classes too
        return F.multi_margin_loss(x, torch.as_tensor(a["y"]), margin=1.0) * x.shape[1]
    if name in ("batchnorm", "spatial_batchnorm"):
        per_channel = int(np.prod(x.shape)) // x.shape[1]
        if per_channel > 1:
            return F.batch_norm(x, None, None, t["gamma"], t["beta"], training=True, eps=a["eps"])
        # torch refuses one value per channel in training mode; the same formula by hand, autograd's VJP
        shape = (1, -1) + (1,) * (x.dim() - 2)
        xhat = (x - x.mean(dim=0, keepdim=True)) / torch.sqrt(x.var(dim=0, unbiased=False, keepdim=True) + a["eps"])
        return xhat * t["gamma"].reshape(shape) + t["beta"].reshape(shape)
    if name == "layernorm":
        return F.layer_norm(x, (x.shape[1],), t["gamma"], t["beta"], eps=a["eps"])
    if name == "dropout":
        return x * torch.as_tensor(a["mask"]) / a["keep"]
    if name == "conv":
        return F.conv2d(x, t["w"], t["b"], stride=a["stride"], padding=a["pad"])
    if name == "max_pool":
        return F.max_pool2d(x, (a["ph"], a["pw"]), a["stride"])
    if name == "spatial_groupnorm":
        N, C, H, W = x.shape
        if (C // a["G"]) * H * W > 1:
            return F.group_norm(x, a["G"], t["gamma"].reshape(C), t["beta"].reshape(C), eps=a["eps"])
        # one value per group: torch refuses it; the formula by hand, autograd's VJP
        xg = x.reshape(N, a["G"], -1)
        xhat = (xg - xg.mean(dim=2, keepdim=True)) / torch.sqrt(xg.var(dim=2, unbiased=False, keepdim=True) + a["eps"])
        return xhat.reshape(x.shape) * t["gamma"] + t["beta"]
    return recurrent_oracles.torch_forward(name, t, a)


def torch_vjp(family: Family, a: dict) -> dict:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only contend (with JAX in the same process, too)
    try:
        t = {k: torch.tensor(a[k], requires_grad=True) for k in family.wrt}
        out = _torch_forward(family.name, t, a)
        if family.loss:
            out.backward()
        else:
            out.backward(torch.as_tensor(a["dout"]))
        return {"out": out.detach().numpy(), **{"d" + k: t[k].grad.numpy() for k in family.wrt}}
    finally:
        torch.set_num_threads(threads)


# ---- jax.numpy / jax.lax + jax.vjp --------------------------------------------------------------------------

def _jax_forward(name: str, a: dict) -> Callable:
    import jax
    import jax.numpy as jnp

    def normalize(x: Any, axes: tuple[int, ...], eps: float) -> Any:
        mu = jnp.mean(x, axis=axes, keepdims=True)
        return (x - mu) / jnp.sqrt(jnp.var(x, axis=axes, keepdims=True) + eps)

    if name == "affine":
        return lambda x, w, b: x.reshape(x.shape[0], -1) @ w + b
    if name == "relu":
        return jax.nn.relu
    if name == "softmax_loss":
        return lambda x: -jnp.mean(jax.nn.log_softmax(x, axis=1)[jnp.arange(x.shape[0]), a["y"]])

    if name == "svm_loss":
        def svm(x: Any) -> Any:
            rows = jnp.arange(x.shape[0])
            margins = x - x[rows, a["y"]][:, None] + 1.0
            margins = jnp.where(jax.nn.one_hot(a["y"], x.shape[1], dtype=bool), 0.0, margins)
            return jnp.sum(jax.nn.relu(margins)) / x.shape[0]
        return svm
    if name == "batchnorm":
        return lambda x, g, b: normalize(x, (0,), a["eps"]) * g + b
    if name == "layernorm":
        return lambda x, g, b: normalize(x, (1,), a["eps"]) * g + b
    if name == "dropout":
        return lambda x: x * jnp.asarray(a["mask"]) / a["keep"]
    if name == "conv":
        p, s = a["pad"], a["stride"]
        return lambda x, w, b: jax.lax.conv_general_dilated(
            x, w, (s, s), [(p, p), (p, p)], dimension_numbers=("NCHW", "OIHW", "NCHW"),
            precision=jax.lax.Precision.HIGHEST) + b[None, :, None, None]
    if name == "max_pool":
        return lambda x: jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, a["ph"], a["pw"]),
                                               (1, 1, a["stride"], a["stride"]), "VALID")
    if name == "spatial_batchnorm":
        return lambda x, g, b: normalize(x, (0, 2, 3), a["eps"]) * g.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)

    if name == "spatial_groupnorm":
        def gn(x: Any, g: Any, b: Any) -> Any:
            N, C, H, W = x.shape
            xg = normalize(x.reshape(N, a["G"], C // a["G"], H, W), (2, 3, 4), a["eps"])
            return xg.reshape(x.shape) * g + b
        return gn
    return recurrent_oracles.jax_forward(name, a)


@contextlib.contextmanager
def _x64(dtype: Any) -> Iterator[None]:
    import jax

    with contextlib.ExitStack() as stack:
        if np.dtype(dtype) == np.float64:
            stack.enter_context(jax.enable_x64(True))
        yield


# inputs that are data (traced) rather than settings (compiled in)
_TRACED = ("y", "mask", "dout", "idx")


@functools.lru_cache(maxsize=256)
def _jitted_vjp(name: str, loss: bool, settings: tuple) -> Callable:
    """One jitted forward + VJP per family and settings (eps, stride, G, ...); jit compiles once per shape."""
    import jax
    import jax.numpy as jnp

    def run(args: tuple, data: dict) -> tuple:
        fn = _jax_forward(name, {**dict(settings), **data})
        out, pullback = jax.vjp(fn, *args)
        cot = jnp.ones((), dtype=out.dtype) if loss else data["dout"].astype(out.dtype)
        return out, pullback(cot)

    return jax.jit(run)


def jax_vjp(family: Family, a: dict) -> dict:
    import jax.numpy as jnp

    settings = tuple(sorted((k, v) for k, v in a.items() if not isinstance(v, np.ndarray)))
    with _x64(a[family.wrt[0]].dtype):  # a float input (word_embedding's x is indices)
        data = {k: jnp.asarray(a[k]) for k in _TRACED if k in a}
        out, grads = _jitted_vjp(family.name, family.loss, settings)(tuple(jnp.asarray(a[k]) for k in family.wrt),
                                                                     data)
        result = {"out": np.asarray(out), **{"d" + k: np.asarray(g) for k, g in zip(family.wrt, grads)}}
    return result


# ---- numeric oracles on the reference forward ----------------------------------------------------------------

FD_STEP = 2.0**-17  # relative step, as crosscheck.reference.numeric (near eps^(1/3))
CS_STEP = 1e-30


def _scalar(family: Family, a: dict) -> Any:
    out = family.forward(a)
    return out if family.loss else np.sum(a["dout"] * out)


def _central(family: Family, a: dict, k: str, idx: tuple, h: float) -> float:
    base = a[k]
    up, down = base.copy(), base.copy()
    up[idx] += h
    down[idx] -= h
    return (_scalar(family, {**a, k: up}) - _scalar(family, {**a, k: down})) / (up[idx] - down[idx])


def numeric_vjp(family: Family, a: dict, method: str = "finite_difference") -> dict:
    """The VJP of the reference forward pass by central differences of L = sum(dout * out) (the loss
    itself for a loss layer) one input entry at a time, extrapolated (Richardson), or by the complex
    step where analytic."""
    a = {k: (np.asarray(v, dtype=np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
         for k, v in a.items()}
    out: dict = {"out": np.asarray(family.forward(a))}
    for k in family.wrt:
        base = a[k]
        grad = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            if method == "complex_step":
                z = base.astype(np.complex128)
                z[idx] += 1j * CS_STEP
                grad[idx] = np.imag(_scalar(family, {**a, k: z})) / CS_STEP
                continue
            h = FD_STEP * max(1.0, abs(float(base[idx])))
            # Richardson: (4 D(h/2) - D(h)) / 3 cancels the h^2 term of the central difference, so the
            # curvature of a normalisation over two close samples (var ~ eps) does not swamp it
            grad[idx] = (4 * _central(family, a, k, idx, h / 2) - _central(family, a, k, idx, h)) / 3
        out["d" + k] = grad
    return out
