"""Small torch models and their pure-JAX ports, written the way published ports write them, with the
knobs where porting mistakes get planted. Each JAX port takes torch's input layout and the params
the built-in rules produce (``crosscheck.port.rules``: ``p["fc1"]["kernel"]`` = ``fc1.weight.T``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import torch
from torch import nn


# ---- MLP ------------------------------------------------------------------------------------------
class MLP(nn.Module):
    def __init__(self, n=8, out=4):
        super().__init__()
        self.fc1, self.act, self.fc2, self.ln, self.head = (nn.Linear(n, n), nn.GELU(), nn.Linear(n, n),
                                                           nn.LayerNorm(n), nn.Linear(n, out))

    def forward(self, x):
        return self.head(self.ln(self.fc2(self.act(self.fc1(x)))))


def dense(p, x, bias=True):
    return x @ p["kernel"] + (p["bias"] if bias else 0.0)


def layer_norm(p, x, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / jnp.sqrt(var + eps) * p["scale"] + p["bias"]


def mlp_jax(approximate=False, eps=1e-5, head_bias=True):
    def apply(p, x):
        h = jax.nn.gelu(dense(p["fc1"], x), approximate=approximate)
        h = layer_norm(p["ln"], dense(p["fc2"], h), eps)
        return dense(p["head"], h, head_bias)
    return apply


# ---- CNN ------------------------------------------------------------------------------------------
class CNN(nn.Module):
    """C_in = C_out = 4 and H = W = 4: the sizes where a wrong permutation keeps its shape."""

    def __init__(self, c=4):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, stride=2, padding=1)
        self.head = nn.Linear(c, 3)

    def forward(self, x):
        h = self.conv2(self.relu(self.conv1(x)))
        return self.head(h.mean((2, 3)))


def conv_nhwc(p, x, stride=1, padding=((1, 1), (1, 1)), bias=True):
    y = jax.lax.conv_general_dilated(x, p["kernel"], (stride, stride), padding,
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + p["bias"] if bias else y


def cnn_jax(padding2=((1, 1), (1, 1)), transpose_input=True, conv1_bias=True):
    def apply(p, x):
        if transpose_input:
            x = jnp.transpose(x, (0, 2, 3, 1))  # torch's NCHW -> NHWC
        h = jax.nn.relu(conv_nhwc(p["conv1"], x, bias=conv1_bias))
        h = conv_nhwc(p["conv2"], h, stride=2, padding=padding2)
        return dense(p["head"], h.mean((1, 2)))
    return apply


# ---- BatchNorm ------------------------------------------------------------------------------------
class BNNet(nn.Module):
    def __init__(self, n=6):
        super().__init__()
        self.fc, self.bn, self.relu, self.head = nn.Linear(n, n), nn.BatchNorm1d(n), nn.ReLU(), nn.Linear(n, 3)

    def forward(self, x):
        return self.head(self.relu(self.bn(self.fc(x))))


def bn_jax(eps=1e-5, batch_stats=False, var_of=lambda v: v):
    def apply(p, x):
        h = dense(p["fc"], x)
        b = p["bn"]
        if batch_stats:  # training-mode normalisation
            mean, var = h.mean(0), h.var(0)
        else:
            mean, var = b["mean"], var_of(b["var"])
        h = (h - mean) / jnp.sqrt(var + eps) * b["scale"] + b["bias"]
        return dense(p["head"], jax.nn.relu(h))
    return apply


# ---- attention block --------------------------------------------------------------------------------
class Block(nn.Module):
    """A post-norm transformer block's attention half, batch-first."""

    def __init__(self, e=8, heads=2):
        super().__init__()
        self.attn = nn.MultiheadAttention(e, heads, batch_first=True)
        self.ln = nn.LayerNorm(e)
        self.ff = nn.Linear(e, e)

    def forward(self, x):
        a, _ = self.attn(x, x, x, need_weights=False)
        return self.ff(self.ln(x + a))


def block_jax(heads=2, scale=None, order=("query", "key", "value")):
    def apply(p, x):
        a = p["attn"]
        b, t, e = x.shape
        d = e // heads
        q, k, v = (dense(a[name], x).reshape(b, t, heads, d).transpose(0, 2, 1, 3) for name in order)
        s = (q @ k.transpose(0, 1, 3, 2)) * (d ** -0.5 if scale is None else scale)
        o = (jax.nn.softmax(s, -1) @ v).transpose(0, 2, 1, 3).reshape(b, t, e)
        h = layer_norm(p["ln"], x + dense(a["out_proj"], o))
        return dense(p["ff"], h)
    return apply


# ---- LSTM -----------------------------------------------------------------------------------------
class LSTMNet(nn.Module):
    def __init__(self, n=4, hidden=4):
        super().__init__()
        self.lstm = nn.LSTM(n, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def lstm_jax(order=("i", "f", "g", "o"), hh_bias=True):
    """Reads the gate blocks of kernel_ih (in, 4H) in ``order`` (torch's is i, f, g, o)."""
    def apply(p, x):
        c = p["lstm"]["l0"]
        hidden = c["kernel_hh"].shape[0]
        bias = c["bias_ih"] + (c["bias_hh"] if hh_bias else 0.0)

        def step(carry, xt):
            h, cell = carry
            z = xt @ c["kernel_ih"] + h @ c["kernel_hh"] + bias
            gate = dict(zip(order, jnp.split(z, 4, -1)))
            i, f, g, o = (jax.nn.sigmoid(gate["i"]), jax.nn.sigmoid(gate["f"]), jnp.tanh(gate["g"]),
                          jax.nn.sigmoid(gate["o"]))
            cell = f * cell + i * g
            h = o * jnp.tanh(cell)
            return (h, cell), h
        zeros = jnp.zeros((x.shape[0], hidden), x.dtype)
        (h, _), _ = jax.lax.scan(step, (zeros, zeros), jnp.swapaxes(x, 0, 1))
        return dense(p["head"], h)
    return apply


# ---- embedding ------------------------------------------------------------------------------------
class Bag(nn.Module):
    def __init__(self, vocab=10, e=6):
        super().__init__()
        self.emb = nn.Embedding(vocab, e, padding_idx=0)
        self.head = nn.Linear(e, 3)

    def forward(self, ids):
        return self.head(self.emb(ids).mean(1))


def bag_jax(mask_padding=True):
    def apply(p, ids):
        e = p["emb"]["embedding"][ids]
        if mask_padding:  # torch never updates the padding row: no gradient reaches it
            e = jnp.where((ids == 0)[..., None], jax.lax.stop_gradient(e), e)
        return dense(p["head"], e.mean(1))
    return apply


def seeded(cls, *args, seed=0, **kw):
    torch.manual_seed(seed)
    return cls(*args, **kw).double()


# ---- GRU, transposed conv, 1-D conv ---------------------------------------------------------------
class GRUNet(nn.Module):
    def __init__(self, n=4, hidden=4):
        super().__init__()
        self.gru = nn.GRU(n, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[:, -1])


def gru_jax(order=("r", "z", "n")):
    """torch's GRU: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); blocks read in ``order``."""
    def apply(p, x):
        c = p["gru"]["l0"]
        hidden = c["kernel_hh"].shape[0]

        def step(h, xt):
            gi = dict(zip(order, jnp.split(xt @ c["kernel_ih"] + c["bias_ih"], 3, -1)))
            gh = dict(zip(order, jnp.split(h @ c["kernel_hh"] + c["bias_hh"], 3, -1)))
            r = jax.nn.sigmoid(gi["r"] + gh["r"])
            z = jax.nn.sigmoid(gi["z"] + gh["z"])
            n = jnp.tanh(gi["n"] + r * gh["n"])
            h = (1 - z) * n + z * h
            return h, h
        h, _ = jax.lax.scan(step, jnp.zeros((x.shape[0], hidden), x.dtype), jnp.swapaxes(x, 0, 1))
        return dense(p["head"], h)
    return apply


class Up(nn.Module):
    def __init__(self, c=4):
        super().__init__()
        self.up = nn.ConvTranspose2d(c, c, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):
        return self.up(x)


def up_jax(flip=True):
    """torch's ConvTranspose2d(k=3, s=2, p=1, output_padding=1) as a dilated conv on the flipped kernel
    (the built-in rule flips already: ``flip=False`` un-flips it, the mistake)."""
    def apply(p, x):
        k = p["up"]["kernel"] if flip else jnp.flip(p["up"]["kernel"], (0, 1))
        y = jax.lax.conv_general_dilated(jnp.transpose(x, (0, 2, 3, 1)), k, (1, 1), ((1, 2), (1, 2)),
                                         lhs_dilation=(2, 2), dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jnp.transpose(y + p["up"]["bias"], (0, 3, 1, 2))
    return apply


class Conv1dNet(nn.Module):
    def __init__(self, c=4):
        super().__init__()
        self.conv = nn.Conv1d(c, c, 3, padding=1)
        self.head = nn.Linear(c, 2)

    def forward(self, x):
        return self.head(self.conv(x).mean(2))


def conv1d_jax(p, x):
    y = jax.lax.conv_general_dilated(jnp.transpose(x, (0, 2, 1)), p["conv"]["kernel"], (1,), ((1, 1),),
                                     dimension_numbers=("NWC", "WIO", "NWC"))
    return dense(p["head"], (y + p["conv"]["bias"]).mean(1))


def bn_train_jax(momentum=0.1, unbiased=True):
    """BNNet in training mode: normalise with the batch's (biased) statistics; return the running ones
    updated as torch does (``momentum`` weighs the batch; the unbiased variance) unless told otherwise."""
    def apply(p, x):
        h = dense(p["fc"], x)
        b = p["bn"]
        mean, var = h.mean(0), h.var(0)
        out = dense(p["head"], jax.nn.relu((h - mean) / jnp.sqrt(var + 1e-5) * b["scale"] + b["bias"]))
        n = h.shape[0]
        v_run = var * n / (n - 1) if unbiased else var
        new_bn = {**b, "mean": (1 - momentum) * b["mean"] + momentum * mean,
                  "var": (1 - momentum) * b["var"] + momentum * v_run}
        return out, {**p, "bn": new_bn}
    return apply


class Conv3dNet(nn.Module):
    def __init__(self, c=2):
        super().__init__()
        self.conv = nn.Conv3d(c, c, 3, padding=1, dilation=1, groups=2)

    def forward(self, x):
        return self.conv(x)


def conv3d_jax(p, x):
    y = jax.lax.conv_general_dilated(jnp.transpose(x, (0, 2, 3, 4, 1)), p["conv"]["kernel"], (1, 1, 1),
                                     ((1, 1),) * 3, feature_group_count=2,
                                     dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
    return jnp.transpose(y + p["conv"]["bias"], (0, 4, 1, 2, 3))
