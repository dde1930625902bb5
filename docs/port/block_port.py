"""The worked transformer-block port of docs/port.md: a torch block and a pure-JAX port (no flax)."""

import jax
import jax.numpy as jnp
import torch
from torch import nn

from crosscheck.port import tap


class Block(nn.Module):
    """A pre-norm transformer block, batch-first: x + attn(ln1(x)), then x + mlp(ln2(x))."""

    def __init__(self, e=16, heads=4):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(e), nn.LayerNorm(e)
        self.attn = nn.MultiheadAttention(e, heads, batch_first=True)
        self.fc1, self.act, self.fc2 = nn.Linear(e, 4 * e), nn.GELU(), nn.Linear(4 * e, e)

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))


def layer_norm(p, x, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / jnp.sqrt(var + eps) * p["scale"] + p["bias"]


def dense(p, x):
    return x @ p["kernel"] + p["bias"]


def block(p, x, heads=4, approximate=False):
    """The port, on the parameters crosscheck's built-in rules produce (p["fc1"]["kernel"] = fc1.weight.T)."""
    b, t, e = x.shape
    d = e // heads
    h = tap("ln1", layer_norm(p["ln1"], x))
    q, k, v = (dense(p["attn"][n], h).reshape(b, t, heads, d).transpose(0, 2, 1, 3)
               for n in ("query", "key", "value"))
    a = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(d), -1) @ v
    x = x + tap("attn", dense(p["attn"]["out_proj"], a.transpose(0, 2, 1, 3).reshape(b, t, e)))
    h = tap("act", jax.nn.gelu(dense(p["fc1"], layer_norm(p["ln2"], x)), approximate=approximate))
    return x + dense(p["fc2"], h)


def make_torch():
    torch.manual_seed(0)
    return Block()


def make_jax():
    return block


def make_jax_tanh_gelu():
    return lambda p, x: block(p, x, approximate=True)
