"""The recurrent layers written a second and a third time, for ``crosscheck sweep --layers``: with torch
(differentiated by torch.autograd) and with jax.numpy (differentiated by ``jax.vjp``), from the cell
math alone (x Wx + h Wh + b, tanh and sigmoid, gates in the order i, f, o, g), sharing nothing with the
NumPy reference (``crosscheck.reference.layers.rnn``). torch and JAX are imported inside the functions.

Every oracle differentiates one output with one upstream gradient ``dout``; ``oracle_inputs`` names
the layer's own upstream gradients so: ``dout = dh`` (a sequence), ``dnext_h`` (rnn_step), and for
lstm_step ``[dnext_h, dnext_c]`` side by side, the output being ``[next_h, next_c]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RECURRENT", "oracle_inputs", "torch_forward", "jax_forward"]

RECURRENT = ("rnn_step", "rnn", "word_embedding", "temporal_affine", "temporal_softmax_loss", "lstm_step", "lstm")


def oracle_inputs(name: str, a: dict) -> dict:
    """The layer check's inputs with the upstream gradient as ``dout`` (and the word indices as ``idx``,
    data the JAX oracle traces rather than compiles in)."""
    if name == "rnn_step":
        return {**a, "dout": a["dnext_h"]}
    if name == "lstm_step":
        return {**a, "dout": np.concatenate([a["dnext_h"], a["dnext_c"]], axis=1)}
    if name in ("rnn", "lstm"):
        return {**a, "dout": a["dh"]}
    if name == "word_embedding":
        return {**a, "idx": a["x"]}
    return a


def _step(lib: Any, name: str, x: Any, h: Any, c: Any, Wx: Any, Wh: Any, b: Any) -> tuple[Any, Any]:
    a = x @ Wx + h @ Wh + b
    if name == "rnn":
        return lib.tanh(a), None
    H = h.shape[1]
    sig = (lambda z: 1 / (1 + lib.exp(-z)))
    i, f, o, g = sig(a[:, :H]), sig(a[:, H:2 * H]), sig(a[:, 2 * H:3 * H]), lib.tanh(a[:, 3 * H:])
    c = f * c + i * g
    return o * lib.tanh(c), c


def _sequence(lib: Any, stack: Any, name: str, x: Any, h0: Any, Wx: Any, Wh: Any, b: Any) -> Any:
    h, c, hs = h0, h0 * 0, []
    for t in range(x.shape[1]):
        h, c = _step(lib, name, x[:, t], h, c, Wx, Wh, b)
        hs.append(h)
    return stack(hs, 1)


def torch_forward(name: str, t: dict, a: dict) -> Any:
    import torch

    if name == "rnn_step":
        return _step(torch, "rnn", t["x"], t["prev_h"], None, t["Wx"], t["Wh"], t["b"])[0]
    if name == "lstm_step":
        return torch.cat(_step(torch, "lstm", t["x"], t["prev_h"], t["prev_c"], t["Wx"], t["Wh"], t["b"]), 1)
    if name in ("rnn", "lstm"):
        return _sequence(torch, torch.stack, name, t["x"], t["h0"], t["Wx"], t["Wh"], t["b"])
    if name == "word_embedding":
        return torch.nn.functional.embedding(torch.as_tensor(a["x"]), t["W"])
    if name == "temporal_affine":
        return t["x"] @ t["w"] + t["b"]
    if name == "temporal_softmax_loss":
        x = t["x"]
        N, T, V = x.shape
        per_step = torch.nn.functional.cross_entropy(x.reshape(N * T, V), torch.as_tensor(a["y"]).reshape(-1),
                                                     reduction="none")
        return (per_step * torch.as_tensor(a["mask"]).reshape(-1).to(x.dtype)).sum() / N
    raise KeyError(name)


def jax_forward(name: str, a: dict) -> Any:
    import jax
    import jax.numpy as jnp

    if name == "rnn_step":
        return lambda x, h, Wx, Wh, b: _step(jnp, "rnn", x, h, None, Wx, Wh, b)[0]
    if name == "lstm_step":
        return lambda x, h, c, Wx, Wh, b: jnp.concatenate(_step(jnp, "lstm", x, h, c, Wx, Wh, b), axis=1)
    if name in ("rnn", "lstm"):
        return lambda x, h0, Wx, Wh, b: _sequence(jnp, jnp.stack, name, x, h0, Wx, Wh, b)
    if name == "word_embedding":
        return lambda W: jnp.take(W, a["idx"], axis=0)
    if name == "temporal_affine":
        return lambda x, w, b: jnp.einsum("ntd,dm->ntm", x, w, precision=jax.lax.Precision.HIGHEST) + b

    def loss(x: Any) -> Any:
        N = x.shape[0]
        log_p = jax.nn.log_softmax(x, axis=2)
        picked = jnp.take_along_axis(log_p, a["y"][..., None], axis=2)[..., 0]
        return -jnp.sum(jnp.where(a["mask"], picked, 0.0)) / N

    if name == "temporal_softmax_loss":
        return loss
    raise KeyError(name)
