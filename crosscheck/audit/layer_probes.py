"""Audit rows for the layers a port converts: conv (layout, padding, dilation, groups), pooling
(``ceil_mode``, padding, ``count_include_pad``), attention (scaling, mask convention) and the LSTM's
gate order. torch's spelling against JAX's (``jax.lax`` / ``jax.nn``; flax where named) at fixed
inputs, values and derivatives, against NumPy definitions written here:

* a conv or an average pool is linear in ``x``: its derivative is the transpose of the matrix the
  NumPy definition applies (built column by column);
* a max pool at distinct values routes each output's weight to its window's maximum;
* attention and the LSTM cell are analytic: their derivative is taken by complex step
  (``Im f(x + i h e_j) / h``, exact to rounding, no subtraction).

``crosscheck.port`` reads the conventions these rows document; nothing here reads the port check.
"""

from __future__ import annotations

import numpy as np

from .models import Model
from .spec import Point, Probe, Side

__all__ = ["layer_probes", "attention", "conv2d", "avg_pool"]

_R = np.random.RandomState(7)
X = _R.normal(size=(1, 2, 4, 4)).round(3)          # NCHW, distinct values
K = _R.normal(size=(2, 2, 3, 3)).round(3)          # OIHW
KG = _R.normal(size=(2, 1, 3, 3)).round(3)         # groups = 2: (O, I/g, kh, kw)
XP = _R.normal(size=(1, 1, 5, 5)).round(3)         # pooling input, odd size: ceil_mode matters
XA = _R.normal(size=(1, 1, 3, 4)).round(3)         # attention: (B, heads, T, d)
H, IN = 2, 3
W_IH = _R.normal(size=(4 * H, IN)).round(3) * 0.5   # torch LSTM packing: gates (i, f, g, o)
W_HH = _R.normal(size=(4 * H, H)).round(3) * 0.5
B_IH = _R.normal(size=4 * H).round(3) * 0.5
B_HH = _R.normal(size=4 * H).round(3) * 0.5
XS = _R.normal(size=(2, IN)).round(3)               # two time steps, so h_{t-1} matters


# ---- NumPy definitions ------------------------------------------------------------------------------
def conv2d(x, k, stride=1, pad=((0, 0), (0, 0)), dilation=1, groups=1):
    """torch's F.conv2d (cross-correlation), NCHW x OIHW, explicit (lo, hi) padding per axis."""
    x = np.pad(x, ((0, 0), (0, 0)) + tuple(pad))
    n, c, h, w = x.shape
    o, ig, kh, kw = k.shape
    eh, ew = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    oh, ow = (h - eh) // stride + 1, (w - ew) // stride + 1
    out = np.zeros((n, o, oh, ow), dtype=np.result_type(x, k))
    per = o // groups
    for oc in range(o):
        g = oc // per
        for i in range(oh):
            for j in range(ow):
                rows, cols = slice(i * stride, i * stride + eh, dilation), slice(j * stride, j * stride + ew, dilation)
                patch = x[:, g * ig:(g + 1) * ig, rows, cols]
                out[:, oc, i, j] = (patch * k[oc]).sum(axis=(1, 2, 3))
    return out


def _pool(x, k, s, pad, reduce, fill):
    x = np.pad(x, ((0, 0), (0, 0)) + tuple(pad), constant_values=fill)
    oh, ow = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
    out = np.zeros(x.shape[:2] + (oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(x[:, :, i * s:i * s + k, j * s:j * s + k])
    return out


def avg_pool(x, k, s, pad, count_pad):
    """avg_pool2d: zeros padded; divided by k*k (count_include_pad) or by the real entries counted."""
    total = _pool(x, k, s, pad, lambda p: p.sum(axis=(2, 3)), 0.0)
    if count_pad:
        return total / (k * k)
    count = _pool(np.ones_like(x), k, s, pad, lambda p: p.sum(axis=(2, 3)), 0.0)
    return total / count


def linear(f) -> Model:
    """A model of a function linear in x: value f(x), derivative A^T w with A built column by column."""
    def vjp(x, t, w):
        x = np.asarray(x)
        g = np.zeros(x.size, dtype=np.result_type(x, np.float32))
        for j in range(x.size):
            e = np.zeros(x.size, dtype=x.dtype)
            e[j] = 1
            g[j] = np.sum(np.asarray(w) * f(e.reshape(x.shape)))
        return g.reshape(x.shape).astype(x.dtype, copy=False)
    return Model(lambda x, t: f(np.asarray(x)), vjp)


def max_pool_model(k, s, pad) -> Model:
    def value(x, t):
        return _pool(np.asarray(x), k, s, pad, lambda p: p.max(axis=(2, 3)), -np.inf)

    def vjp(x, t, w):
        x = np.asarray(x)
        idx = np.arange(x.size, dtype=np.float64).reshape(x.shape)
        xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pad), constant_values=-np.inf)
        ip = np.pad(idx, ((0, 0), (0, 0)) + tuple(pad), constant_values=-1)
        g = np.zeros(x.size, dtype=x.dtype)
        oh, ow = (xp.shape[2] - k) // s + 1, (xp.shape[3] - k) // s + 1
        for b in range(x.shape[0]):
            for c in range(x.shape[1]):
                for i in range(oh):
                    for j in range(ow):
                        win = xp[b, c, i * s:i * s + k, j * s:j * s + k]
                        a = np.unravel_index(np.argmax(win), win.shape)
                        g[int(ip[b, c, i * s + a[0], j * s + a[1]])] += np.asarray(w)[b, c, i, j]
        return g.reshape(x.shape)
    return Model(value, vjp)


def float32_softmax(model: Model) -> Model:
    """``model`` computed with its softmax in float32 (jax.nn.dot_product_attention's): the same formula
    to within float32 rounding, for values and derivatives of size ~1."""
    def bound(x, eps):
        e = np.full(np.shape(x), 16 * float(np.finfo(np.float32).eps))
        return e, e
    return Model(model.value, model.vjp, bound)


def complex_step(f) -> Model:
    """An analytic f: value f(x), derivative sum_k w_k Im f(x + i h e_j)_k / h (exact to rounding)."""
    def vjp(x, t, w):
        x = np.asarray(x)
        ctype = np.complex64 if x.dtype == np.float32 else np.complex128
        h = 1e-20
        g = np.zeros(x.size, dtype=x.dtype)
        for j in range(x.size):
            z = x.astype(ctype).ravel()
            z[j] += 1j * h
            g[j] = np.sum(np.asarray(w) * (f(z.reshape(x.shape)).imag / h))
        return g.reshape(x.shape)
    return Model(lambda x, t: f(np.asarray(x)).real.astype(np.asarray(x).dtype), vjp)


def _softmax(s):
    e = np.exp(s - s.real.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attention(x, mask=None):
    """softmax(q k^T / sqrt(d)) v with q = k = v = x: (B, heads, T, d); mask True = attend."""
    s = x @ np.swapaxes(x, -1, -2) / np.sqrt(x.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -1e30)
    return _softmax(s) @ x


CAUSAL = np.tril(np.ones((4, 4), dtype=bool))[:3, :3]


def _sig(z):
    return 1 / (1 + np.exp(-z))


def lstm(xs):
    """torch's LSTM over the rows of xs from h = c = 0: gates (i, f, g, o) in W_IH's row blocks."""
    h = np.zeros(H, dtype=xs.dtype)
    c = np.zeros(H, dtype=xs.dtype)
    outs = []
    for x in xs:
        z = W_IH @ x + B_IH + W_HH @ h + B_HH
        i, f, g, o = np.split(z, 4)
        c = _sig(f) * c + _sig(i) * np.tanh(g)
        h = _sig(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs)


# ---- the spellings ---------------------------------------------------------------------------------
def _c(L, a, x):
    return L.torch.as_tensor(a, dtype=x.dtype)


def _j(L, a, x):
    return L.jnp.asarray(a, dtype=x.dtype)


def _lax_conv(L, x, k, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    return L.jax.lax.conv_general_dilated(x, _j(L, k, x), stride, padding, rhs_dilation=dilation,
                                          feature_group_count=groups)


def _reduce_window(L, x, init, op, k, s, pad):
    return L.jax.lax.reduce_window(x, init, op, (1, 1, k, k), (1, 1, s, s), ((0, 0), (0, 0)) + tuple(pad))


def _torch_lstm(L):
    def f(x, t):
        torch = L.torch
        cell = torch.nn.LSTM(IN, H).to(x.dtype)
        with torch.no_grad():
            for name, a in (("weight_ih_l0", W_IH), ("weight_hh_l0", W_HH), ("bias_ih_l0", B_IH), ("bias_hh_l0", B_HH)):
                getattr(cell, name).copy_(torch.as_tensor(a))
        return cell(x[:, None, :])[0][:, 0, :]
    return f


def _jax_lstm(L):
    def f(xs, t):
        jnp, jax = L.jnp, L.jax
        wi, wh, b = _j(L, W_IH.T, xs), _j(L, W_HH.T, xs), _j(L, B_IH + B_HH, xs)

        def step(carry, x):
            h, c = carry
            i, fg, g, o = jnp.split(x @ wi + h @ wh + b, 4)  # torch's block order (i, f, g, o)
            c = jax.nn.sigmoid(fg) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h
        z = jnp.zeros(H, xs.dtype)
        return jax.lax.scan(step, (z, z), xs)[1]
    return f


def _sdpa_jax(L, mask=None):
    def f(x, t):
        q = L.jnp.swapaxes(x, 1, 2)  # jax.nn.dot_product_attention is (B, T, heads, d)
        m = None if mask is None else L.jnp.asarray(mask)[None, None]
        return L.jnp.swapaxes(L.jax.nn.dot_product_attention(q, q, q, mask=m), 1, 2)
    return f


def layer_probes(conventions: dict) -> list[Probe]:
    """The rows; ``conventions``: the audit table's CONVENTIONS."""
    pt = (Point("x (1, 2, 4, 4)", X),)
    F = "F"  # noqa: N806 - spelled as users write it
    common = dict(elementwise=False)
    same = ((0, 1), (0, 1))  # 'SAME' at stride 2 on 4x4 with a 3x3 kernel: total padding 1, all of it after
    P = [
        Probe("conv2d (layout)", linear(lambda x: conv2d(x, K)), "cross-correlation, NCHW x OIHW",
              Side(f"{F}.conv2d(x, w)", lambda L: lambda x, t: L.F.conv2d(x, _c(L, K, x))),
              Side("lax.conv_general_dilated(x, w, (1, 1), 'VALID')  # default dimension numbers: NCHW, OIHW",
                   lambda L: lambda x, t: _lax_conv(L, x, K)), pt, **common),
        Probe("conv2d (padding)", linear(lambda x: conv2d(x, K, pad=((1, 1), (1, 1)))), "zero padding 1 each side",
              Side(f"{F}.conv2d(x, w, padding=1)", lambda L: lambda x, t: L.F.conv2d(x, _c(L, K, x), padding=1)),
              Side("lax.conv_general_dilated(x, w, (1, 1), [(1, 1), (1, 1)])",
                   lambda L: lambda x, t: _lax_conv(L, x, K, padding=((1, 1), (1, 1)))), pt, **common),
        Probe("conv2d (SAME, stride 2)", linear(lambda x: conv2d(x, K, 2, ((1, 1), (1, 1)))),
              "torch's padding=1: symmetric",
              Side(f"{F}.conv2d(x, w, stride=2, padding=1)",
                   lambda L: lambda x, t: L.F.conv2d(x, _c(L, K, x), stride=2, padding=1)),
              Side("lax.conv_general_dilated(x, w, (2, 2), 'SAME')",
                   lambda L: lambda x, t: L.jax.lax.conv_general_dilated(x, _j(L, K, x), (2, 2), "SAME"),
                   linear(lambda x: conv2d(x, K, 2, same)), conventions["same-padding-asymmetric"]), pt, **common),
        Probe("conv2d (dilation)", linear(lambda x: conv2d(x, K, pad=((2, 2), (2, 2)), dilation=2)),
              "dilation 2, padding 2",
              Side(f"{F}.conv2d(x, w, padding=2, dilation=2)",
                   lambda L: lambda x, t: L.F.conv2d(x, _c(L, K, x), padding=2, dilation=2)),
              Side("lax.conv_general_dilated(x, w, (1, 1), [(2, 2)] * 2, rhs_dilation=(2, 2))",
                   lambda L: lambda x, t: _lax_conv(L, x, K, padding=((2, 2), (2, 2)), dilation=(2, 2))),
              pt, **common),
        Probe("conv2d (groups)", linear(lambda x: conv2d(x, KG, groups=2)), "2 groups: (O, I/g, kh, kw)",
              Side(f"{F}.conv2d(x, w, groups=2)", lambda L: lambda x, t: L.F.conv2d(x, _c(L, KG, x), groups=2)),
              Side("lax.conv_general_dilated(x, w, (1, 1), 'VALID', feature_group_count=2)",
                   lambda L: lambda x, t: _lax_conv(L, x, KG, groups=2)), pt, **common),
    ]
    pp = (Point("x (1, 1, 5, 5)", XP),)
    P += [
        Probe("max_pool2d (ceil_mode)", max_pool_model(2, 2, ((0, 1), (0, 1))),
              "ceil_mode: the last partial window kept",
              Side(f"{F}.max_pool2d(x, 2, ceil_mode=True)",
                   lambda L: lambda x, t: L.F.max_pool2d(x, 2, ceil_mode=True)),
              Side("lax.reduce_window(x, -inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), [.., (0, 1), (0, 1)])",
                   lambda L: lambda x, t: _reduce_window(L, x, -np.inf, L.jax.lax.max, 2, 2, ((0, 1), (0, 1)))),
              pp, **common),
        Probe("max_pool2d (padding)", max_pool_model(3, 2, ((1, 1), (1, 1))), "padding 1 with -inf",
              Side(f"{F}.max_pool2d(x, 3, 2, padding=1)", lambda L: lambda x, t: L.F.max_pool2d(x, 3, 2, padding=1)),
              Side("lax.reduce_window(x, -inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2), [.., (1, 1), (1, 1)])",
                   lambda L: lambda x, t: _reduce_window(L, x, -np.inf, L.jax.lax.max, 3, 2, ((1, 1), (1, 1)))),
              pp, **common),
        Probe("avg_pool2d (padding)", linear(lambda x: avg_pool(x, 3, 2, ((1, 1), (1, 1)), False)),
              "count_include_pad=False: divided by the real entries",
              Side(f"{F}.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False)",
                   lambda L: lambda x, t: L.F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False)),
              Side("lax.reduce_window(x, 0, lax.add, (1, 1, 3, 3), (1, 1, 2, 2), [.., (1, 1), (1, 1)]) / 9",
                   lambda L: lambda x, t: _reduce_window(L, x, 0.0, L.jax.lax.add, 3, 2, ((1, 1), (1, 1))) / 9,
                   linear(lambda x: avg_pool(x, 3, 2, ((1, 1), (1, 1)), True)),
                   conventions["avgpool-count-include-pad"]), pp, **common),
    ]
    pa = (Point("q = k = v (1, 1, 3, 4)", XA),)
    P += [
        Probe("attention (scaling)", complex_step(attention), "softmax(q k^T / sqrt(d)) v",
              Side(f"{F}.scaled_dot_product_attention(q, k, v)",
                   lambda L: lambda x, t: L.F.scaled_dot_product_attention(x, x, x)),
              Side("jax.nn.dot_product_attention(q, k, v)  # (B, T, heads, d)", lambda L: _sdpa_jax(L),
                   float32_softmax(complex_step(attention)), conventions["attention-softmax-float32"]), pa, **common),
        Probe("attention (mask)", complex_step(lambda x: attention(x, CAUSAL)), "boolean mask: True = may attend",
              Side(f"{F}.scaled_dot_product_attention(q, k, v, attn_mask=causal)",
                   lambda L: lambda x, t: L.F.scaled_dot_product_attention(x, x, x,
                                                                           attn_mask=L.torch.as_tensor(CAUSAL))),
              Side("jax.nn.dot_product_attention(q, k, v, mask=causal)", lambda L: _sdpa_jax(L, CAUSAL),
                   float32_softmax(complex_step(lambda x: attention(x, CAUSAL))),
                   conventions["attention-softmax-float32"]), pa, **common),
        Probe("lstm (gate order)", complex_step(lstm), "gates (i, f, g, o) in weight_ih's row blocks; b_ih + b_hh",
              Side("torch.nn.LSTM(3, 2) with weight_ih_l0 = W", _torch_lstm),
              Side("lax.scan of a cell: split(x @ W.T + h @ U.T + b, 4) read as (i, f, g, o)", _jax_lstm),
              (Point("two steps (2, 3)", XS),), **common),
    ]
    return P
