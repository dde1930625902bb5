"""Known porting mistakes, each as a torch re-computation of one submodule: what the module computes
when the JAX port made that mistake. ``variants_for(module)`` lists them for a torch module;
``crosscheck.port.diagnose`` runs them, and one that makes torch agree with JAX names the mistake.

Parameter mistakes are computed with ``torch.func.functional_call`` on a rearranged parameter, so
the gradient still reaches the original parameter (a gradient-only mistake is seen too). Defaults
(eps, approximate gelu, BatchNorm's conventions) come from the audit's table
(``crosscheck.audit.defaults`` and ``crosscheck.audit.table.CONVENTIONS``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .rules import GATES, conv_permutation, rule_kind

__all__ = ["Variant", "variants_for", "audit_defaults"]


@dataclass(frozen=True)
class Variant:
    mistake: str
    fix: str
    fn: Callable  # fn(module, args, kwargs) -> the output torch would give with the mistake
    detail: str = ""
    convention: str | None = None


_AUDIT: dict[str, Any] = {}


def audit_defaults() -> dict[str, Any]:
    """The defaults the audit reads from the installed libraries (flax's when installed), and the
    audit's conventions with their texts filled in."""
    if not _AUDIT:
        import jax
        import torch

        from ..audit.defaults import read
        from ..audit.spec import Libs
        from ..audit.table import CONVENTIONS

        try:
            import flax.linen as linen
        except ImportError:
            linen = None
        d = read(Libs(torch=torch, jax=jax, linen=linen))
        import inspect

        d["standardize.eps"] = inspect.signature(jax.nn.standardize).parameters["epsilon"].default
        _AUDIT.update(d)
        _AUDIT["conventions"] = CONVENTIONS
    return _AUDIT


def _call(module, replace: dict, args, kwargs):
    from torch.func import functional_call

    state = {**dict(module.named_parameters()), **dict(module.named_buffers()), **replace}
    return functional_call(module, state, args, kwargs)


def _param(mistake: str, fix: str, name: str, f: Callable, detail: str = "") -> Variant:
    return Variant(mistake, fix, lambda m, a, k: _call(m, {name: f(getattr_path(m, name))}, a, k), detail)


def getattr_path(m: Any, name: str) -> Any:
    for part in name.split("."):
        m = getattr(m, part)
    return m


def _fmt_perm(p) -> str:
    return "(" + ", ".join(str(i) for i in p) + ")"


def _linear(m) -> list[Variant]:
    out = []
    if m.weight.shape[0] == m.weight.shape[1]:
        out.append(_param("kernel not transposed (a square layer, so no shape error)", "kernel = weight.T",
                          "weight", lambda w: w.T, "torch's Linear stores weight (out, in) and computes x @ weight.T; "
                          "flax's Dense computes x @ kernel with kernel (in, out)"))
    if m.bias is not None:
        out.append(_param("missing bias", "copy the bias (bias = torch's bias) and use_bias=True", "bias",
                          lambda b: b * 0))
    return out


_AXES = {1: ("out", "in", "k"), 2: ("out", "in", "kh", "kw"), 3: ("out", "in", "kd", "kh", "kw")}


def _conv(m) -> list[Variant]:
    import torch

    n = m.weight.ndim - 2
    p0 = conv_permutation(n)
    inv = tuple(sorted(range(n + 2), key=lambda i: p0[i]))
    names = _AXES[n]
    out = []
    for q in itertools.permutations(range(n + 2)):
        if q == p0:
            continue
        if tuple(m.weight.permute(q).permute(inv).shape) != tuple(m.weight.shape):
            continue
        read_as = ", ".join(names[i] for i in q)
        want = ", ".join(names[i] for i in p0)
        out.append(_param(f"conv kernel permuted {_fmt_perm(q)} instead of {_fmt_perm(p0)}",
                          f"kernel = weight.permute{_fmt_perm(p0)}", "weight",
                          lambda w, q=q: w.permute(q).permute(inv),
                          f"the JAX kernel's axes hold torch's ({read_as}); flax reads them as ({want}) (HWIO)"))
    if m.bias is not None:
        out.append(_param("missing bias", "copy the bias (bias = torch's bias) and use_bias=True", "bias",
                          lambda b: b * 0))
    conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}[n]
    if isinstance(m.padding, tuple) and getattr(m, "padding_mode", "zeros") == "zeros":
        def same(mod, args, kwargs):
            x = args[0]
            pads, pairs = [], []
            for i in range(n):
                size, k, s, d = x.shape[2 + i], mod.kernel_size[i], mod.stride[i], mod.dilation[i]
                total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
                pairs.append((total // 2, total - total // 2))
            for lo, hi in reversed(pairs):
                pads += [lo, hi]
            same.pairs = pairs  # type: ignore[attr-defined]
            return conv(torch.nn.functional.pad(x, pads), mod.weight, mod.bias, mod.stride, 0, mod.dilation,
                        mod.groups)
        ks = m.kernel_size
        even = [k for k in ks if k % 2 == 0]
        explicit = ", ".join(f"({p}, {p})" for p in m.padding)
        out.append(Variant("'SAME' padding where torch pads explicitly",
                           f"padding=[{explicit}] in flax.linen.Conv / lax.conv_general_dilated (explicit pairs)",
                           same, f"torch pads {tuple(m.padding)} on each side; 'SAME' pads (lo, hi) = "
                           f"(total // 2, total - total // 2)" + (f", asymmetric for the even kernel {ks}"
                                                                   if even else "")))
        if any(p for p in m.padding):
            out.append(Variant("'VALID' padding (none) where torch pads explicitly",
                               f"padding=[{explicit}] (explicit pairs)",
                               lambda mod, a, k: conv(a[0], mod.weight, mod.bias, mod.stride, 0, mod.dilation,
                                                      mod.groups)))
    perm_in = (0, n + 1) + tuple(range(1, n + 1))
    perm_out = (0,) + tuple(range(2, n + 2)) + (1,)
    layout = "NCHW" if n == 2 else ("NCW" if n == 1 else "NCDHW")
    last = "NHWC" if n == 2 else ("NWC" if n == 1 else "NDHWC")
    tr_in = _fmt_perm((0,) + tuple(range(2, n + 2)) + (1,))
    tr_out = _fmt_perm(perm_in)

    def nhwc_in(mod, a, k):
        x = a[0]
        if tuple(x.permute(perm_in).shape) != tuple(x.shape):
            raise ValueError("shape")
        return mod._conv_forward(x.permute(perm_in), mod.weight, mod.bias) if hasattr(mod, "_conv_forward") \
            else mod.forward(x.permute(perm_in))
    out.append(Variant(f"{layout} input read as {last}: no transpose before the conv", f"x = jnp.transpose(x, "
                       f"{tr_in}) before the conv, and y = jnp.transpose(y, {tr_out}) after", nhwc_in,
                       f"torch's input is {layout}; flax's Conv takes {last}"))

    def nhwc_out(mod, a, k):
        y = mod._conv_forward(a[0], mod.weight, mod.bias)
        if tuple(y.permute(perm_out).shape) != tuple(y.shape):
            raise ValueError("shape")
        return y.permute(perm_out)
    out.append(Variant(f"output left {last} where torch returns {layout}", f"y = jnp.transpose(y, {tr_out}) after "
                       "the conv", nhwc_out))
    return out


def _conv_transpose(m) -> list[Variant]:
    n = m.weight.ndim - 2
    spatial = tuple(range(2, 2 + n))
    out = [_param("transposed-conv kernel not flipped", f"kernel = jnp.flip(weight, {spatial})"
                  f".transpose{_fmt_perm(spatial + (0, 1))}", "weight", lambda w: w.flip(spatial),
                  "flax's ConvTranspose (transpose_kernel=False) is a dilated conv: torch's kernel must be "
                  "flipped in space")]
    if m.bias is not None:
        out.append(_param("missing bias", "copy the bias and use_bias=True", "bias", lambda b: b * 0))
    return out


def _embedding(m) -> list[Variant]:
    import torch.nn.functional as F

    if m.padding_idx is None:
        return []
    return [Variant(f"padding row {m.padding_idx} receives a gradient",
                    f"mask it in JAX: e = jnp.where((ids == {m.padding_idx})[..., None], jax.lax.stop_gradient(e), e) "
                    "(torch's Embedding(padding_idx=...) never updates that row)",
                    lambda mod, a, k: F.embedding(a[0], mod.weight),
                    "the outputs agree; only the gradient of that row differs")]


def _eps_candidates(torch_eps: float, key: str) -> list[tuple[float, str]]:
    d = audit_defaults()
    named = [(d.get(f"{key}.eps.flax"), f"flax's default ({key})"), (d.get("standardize.eps"),
             "jax.nn.standardize's default")]
    out, seen = [], {float(torch_eps)}
    for v, where in named + [(e, "") for e in (1e-6, 1e-5, 1e-12, 1e-8, 1e-3, 0.0)]:
        if v is None or float(v) in seen:
            continue
        seen.add(float(v))
        out.append((float(v), where))
    return out


def _norm(m) -> list[Variant]:
    import torch.nn.functional as F

    conv = audit_defaults()["conventions"]
    out = []
    is_ln = type(m).__name__ == "LayerNorm"
    cid = "layernorm-eps" if is_ln else "groupnorm-eps"
    flax_name = "LayerNorm" if is_ln else "GroupNorm"
    for e, where in _eps_candidates(m.eps, "layernorm" if is_ln else "groupnorm"):
        if is_ln:
            def fn(mod, a, k, e=e):
                return F.layer_norm(a[0], mod.normalized_shape, mod.weight, mod.bias, e)
        else:
            def fn(mod, a, k, e=e):
                return F.group_norm(a[0], mod.num_groups, mod.weight, mod.bias, e)
        note = conv[cid].note.split(":")[0]
        out.append(Variant(f"eps {e:g} where torch uses {m.eps:g}" + (f" ({where})" if where else ""),
                           f"flax.linen.{flax_name}(epsilon={m.eps:g})", fn,
                           f"audit table, {cid}: {note}", cid))
    if getattr(m, "bias", None) is not None:
        out.append(_param("missing bias", f"flax.linen.{flax_name}(use_bias=True) and bias = torch's bias", "bias",
                          lambda b: b * 0))
    return out


def _batchnorm(m) -> list[Variant]:
    import torch.nn.functional as F

    out = [Variant("train vs eval mode: JAX normalises with the batch's statistics, torch (eval) with the "
                   "running ones", "flax.linen.BatchNorm(use_running_average=True) in evaluation",
                   lambda mod, a, k: F.batch_norm(a[0], None, None, mod.weight, mod.bias, True, 0.0, mod.eps))]
    for e, where in _eps_candidates(m.eps, "batchnorm"):
        out.append(Variant(f"eps {e:g} where torch uses {m.eps:g}" + (f" ({where})" if where else ""),
                           f"flax.linen.BatchNorm(epsilon={m.eps:g})",
                           lambda mod, a, k, e=e: F.batch_norm(a[0], mod.running_mean, mod.running_var, mod.weight,
                                                               mod.bias, False, 0.0, e)))
    if m.running_var is not None:
        out.append(Variant("running statistics: JAX's var is torch's running_var's square root (a std was "
                           "converted as the variance)", "var = running_var (flax's batch_stats 'var' is a variance)",
                           lambda mod, a, k: F.batch_norm(a[0], mod.running_mean, mod.running_var.sqrt(), mod.weight,
                                                          mod.bias, False, 0.0, mod.eps)))
    if m.bias is not None:
        out.append(_param("missing bias", "flax.linen.BatchNorm(use_bias=True), bias = torch's bias", "bias",
                          lambda b: b * 0))
    return out


def _gelu(m) -> list[Variant]:
    import torch.nn.functional as F

    other = "tanh" if m.approximate == "none" else "none"
    conv = audit_defaults()["conventions"]["gelu-approximate"]
    fix = "jax.nn.gelu(x, approximate=False)" if other == "tanh" else "jax.nn.gelu(x, approximate=True)"
    return [Variant(f"approximate gelu ({'tanh' if other == 'tanh' else 'erf'} form) where torch uses the "
                    f"{'erf' if other == 'tanh' else 'tanh'} form", fix,
                    lambda mod, a, k: F.gelu(a[0], approximate=other), f"audit table, gelu-approximate: {conv.note}",
                    "gelu-approximate")]


def _blocks(w, n, order):
    """``w``'s n equal row blocks, re-stacked in ``order``."""
    import torch

    chunks = w.chunk(n, 0)
    return torch.cat([chunks[i] for i in order], 0)


def _rnn(m) -> list[Variant]:
    gates = GATES[type(m).__name__]
    n = len(gates)
    names = [nm for nm, _ in m.named_parameters()]
    out = []
    for jax_order in itertools.permutations(gates):
        if jax_order == gates:
            continue
        src = [jax_order.index(g) for g in gates]  # torch's gate g is computed from JAX's block of g
        idx = [gates.index(g) for g in jax_order]

        def fn(mod, a, k, src=src):
            return _call(mod, {nm: _blocks(getattr(mod, nm), n, src) for nm in names}, a, k)
        out.append(Variant(f"gate order: the JAX model reads the gate blocks as ({', '.join(jax_order)}); torch's "
                           f"order is ({', '.join(gates)})",
                           f"kernel = weight.reshape({n}, H, -1)[{list(idx)}].reshape({n} * H, -1).T (and the same "
                           "for the biases)", fn))
    if m.bias:
        hh = [nm for nm in names if nm.startswith("bias_hh")]
        out.append(Variant("missing bias: bias_hh dropped (torch adds bias_ih + bias_hh)",
                           "add both biases: b = bias_ih + bias_hh, or keep both",
                           lambda mod, a, k: _call(mod, {nm: getattr(mod, nm) * 0 for nm in hh}, a, k)))
    return out


def _attention(m) -> list[Variant]:
    if getattr(m, "in_proj_weight", None) is None:
        return []
    e, h = m.embed_dim, m.num_heads
    dh = e // h
    roles = ("q", "k", "v")
    has_b = m.in_proj_bias is not None
    out = []
    for order in itertools.permutations(range(3)):
        if order == (0, 1, 2):
            continue
        src = [order.index(i) for i in range(3)]

        def fn(mod, a, k, src=src):
            rep = {"in_proj_weight": _blocks(mod.in_proj_weight, 3, src)}
            if has_b:
                rep["in_proj_bias"] = _blocks(mod.in_proj_bias, 3, src)
            return _call(mod, rep, a, k)
        out.append(Variant(f"packed in-projection split as ({', '.join(roles[i] for i in order)}); torch packs "
                           "(q, k, v)", "query, key, value = in_proj_weight.chunk(3) in that order (kernel = "
                           "block.T)", fn))
    for scale, what in ((1.0, "no scaling"), (1.0 / dh, "1/d_head"), (e ** -0.5, "1/sqrt(embed_dim)")):
        c = scale * dh ** 0.5
        if abs(c - 1.0) < 1e-12:
            continue

        def fn(mod, a, k, c=c):
            import torch

            f = torch.ones(3 * e, dtype=mod.in_proj_weight.dtype)
            f[:e] = c
            rep = {"in_proj_weight": mod.in_proj_weight * f[:, None]}
            if has_b:
                rep["in_proj_bias"] = mod.in_proj_bias * f
            return _call(mod, rep, a, k)
        out.append(Variant(f"attention scores scaled by {what}; torch scales by 1/sqrt(d_head) = 1/sqrt({dh})",
                           f"scores = q @ k.T / sqrt({dh})  (d_head = embed_dim / num_heads)", fn,
                           "the audit's row attention (scaling): torch and jax.nn.dot_product_attention both "
                           "scale by 1/sqrt(d_head)"))
    out.append(_param("out projection kernel not transposed", "out kernel = out_proj.weight.T", "out_proj.weight",
                      lambda w: w.T))
    out.append(_param("in-projection blocks not transposed", "kernel = in_proj_weight[block].T for q, k and v",
                      "in_proj_weight", lambda w: __import__("torch").cat([b.T for b in w.chunk(3, 0)], 0)))
    return out


def variants_for(module: Any) -> list[Variant]:
    """Every known mistake for one torch module (none for a module no rule covers)."""
    name = type(module).__name__
    kind = rule_kind(module)
    if name == "GELU":
        return _gelu(module)
    table = {"linear": _linear, "conv": _conv, "conv_transpose": _conv_transpose, "embedding": _embedding,
             "norm": _norm, "batchnorm": _batchnorm, "rnn": _rnn, "attention": _attention}
    return table[kind](module) if kind in table else []
