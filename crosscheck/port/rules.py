"""Built-in conversion rules: a torch state dict -> a JAX parameter tree, traceable by JAX.

``builtin_convert(module)`` returns ``convert(state_dict) -> params``. ``state_dict`` maps torch's
names (``"encoder.fc1.weight"``) to JAX arrays; the result nests by the torch module path
(``{"encoder": {"fc1": {"kernel": ..., "bias": ...}}}``) with flax's leaf names:

================================  ====================================================================
torch                             JAX leaf
================================  ====================================================================
Linear ``weight (out, in)``       ``kernel = weight.T``  ``(in, out)``
ConvNd ``weight (O, I/g, k...)``  ``kernel = weight.permute(2, ..., 1, 0)``  ``(k..., I/g, O)`` (HWIO)
ConvTransposeNd ``(I, O/g, k...)``  ``kernel = flip(weight, k axes).permute(k..., 0, 1)`` (flax's default,
                                  ``transpose_kernel=False``: a plain dilated conv, so the kernel is flipped)
Embedding ``weight (V, E)``       ``embedding = weight``
LayerNorm / GroupNorm             ``scale = weight``, ``bias = bias``
BatchNorm                         ``scale``, ``bias``; ``mean = running_mean``, ``var = running_var``
MultiheadAttention (packed)       ``query/key/value: kernel = in_proj_weight[block].T``; ``out_proj`` as Linear
LSTM / GRU layer l                ``l{l}: kernel_ih = weight_ih.T (in, G*H)``, ``kernel_hh = weight_hh.T``,
                                  ``bias_ih``, ``bias_hh``; gate blocks in torch's order (LSTM i, f, g, o;
                                  GRU r, z, n)
================================  ====================================================================

Every rule is a rearrangement (a permutation of entries), so its linear transpose is its inverse:
``crosscheck.port.check`` loads JAX's weights into torch through it (the JAX -> torch direction).
The rules' layouts are also what ``crosscheck.port.diagnose`` names a departure against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UsageError

__all__ = ["builtin_convert", "conv_permutation", "rule_kind", "GATES"]

GATES = {"LSTM": ("i", "f", "g", "o"), "GRU": ("r", "z", "n")}


def conv_permutation(ndim: int) -> tuple[int, ...]:
    """torch's (O, I, k1..kn) -> flax's (k1..kn, I, O): ``(2, 3, 1, 0)`` for a 2-D conv."""
    return tuple(range(2, 2 + ndim)) + (1, 0)


def rule_kind(module: Any) -> str | None:
    """The built-in rule a torch module falls under, or None."""
    name = type(module).__name__
    if name in ("Linear", "NonDynamicallyQuantizableLinear", "LazyLinear"):
        return "linear"
    if name in ("Conv1d", "Conv2d", "Conv3d"):
        return "conv"
    if name in ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"):
        return "conv_transpose"
    if name == "Embedding":
        return "embedding"
    if name in ("LayerNorm", "GroupNorm"):
        return "norm"
    if name in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"):
        return "batchnorm"
    if name == "MultiheadAttention":
        return "attention"
    if name in ("LSTM", "GRU"):
        return "rnn"
    return None


def _leaves(kind: str, module: Any, prefix: str) -> list[tuple[tuple[str, ...], Callable]]:
    """(relative path, f(state_dict) -> array) for each JAX leaf of one module."""
    p = (prefix + ".") if prefix else ""

    def get(name):
        return lambda sd: sd[p + name]

    out: list[tuple[tuple[str, ...], Callable]] = []
    has_bias = getattr(module, "bias", None) is not None
    if kind == "linear":
        out.append((("kernel",), lambda sd: sd[p + "weight"].T))
    elif kind == "conv":
        perm = conv_permutation(module.weight.ndim - 2)
        out.append((("kernel",), lambda sd: sd[p + "weight"].transpose(perm)))
    elif kind == "conv_transpose":
        n = module.weight.ndim - 2
        spatial = tuple(range(2, 2 + n))

        def kernel(sd):
            import jax.numpy as jnp

            return jnp.flip(sd[p + "weight"], spatial).transpose(spatial + (0, 1))
        out.append((("kernel",), kernel))
    elif kind == "embedding":
        out.append((("embedding",), get("weight")))
    elif kind in ("norm", "batchnorm"):
        if getattr(module, "weight", None) is not None:
            out.append((("scale",), get("weight")))
        if kind == "batchnorm" and getattr(module, "running_mean", None) is not None:
            out.append((("mean",), get("running_mean")))
            out.append((("var",), get("running_var")))
    elif kind == "attention":
        if getattr(module, "in_proj_weight", None) is None:
            raise UsageError(f"{prefix or 'the model'}: MultiheadAttention with separate q/k/v sizes (kdim, vdim) "
                             "has no built-in rule; pass convert=")
        e = module.embed_dim
        for i, name in enumerate(("query", "key", "value")):
            out.append(((name, "kernel"), lambda sd, i=i: sd[p + "in_proj_weight"][i * e:(i + 1) * e].T))
            if module.in_proj_bias is not None:
                out.append(((name, "bias"), lambda sd, i=i: sd[p + "in_proj_bias"][i * e:(i + 1) * e]))
        has_bias = False  # out_proj is converted as its own Linear
    elif kind == "rnn":
        for layer in range(module.num_layers):
            for suffix in ([""] + (["_reverse"] if module.bidirectional else [])):
                key = f"l{layer}{suffix}"
                out.append(((key, "kernel_ih"), lambda sd, s=f"weight_ih_l{layer}{suffix}": sd[p + s].T))
                out.append(((key, "kernel_hh"), lambda sd, s=f"weight_hh_l{layer}{suffix}": sd[p + s].T))
                if module.bias:
                    out.append(((key, "bias_ih"), get(f"bias_ih_l{layer}{suffix}")))
                    out.append(((key, "bias_hh"), get(f"bias_hh_l{layer}{suffix}")))
        has_bias = False
    if has_bias:
        out.append((("bias",), get("bias")))
    return out


def builtin_plan(torch_module: Any) -> list[tuple[str, str, tuple[str, ...], Callable]]:
    """(torch module path, rule kind, JAX leaf path, f(state_dict)) for every converted leaf, in
    module order. Raises UsageError naming a parameter no rule covers."""
    plan = []
    covered: set[str] = set()
    for path, m in torch_module.named_modules():
        kind = rule_kind(m)
        if kind is None:
            continue
        for rel, f in _leaves(kind, m, path):
            plan.append((path, kind, tuple(path.split(".")) + rel if path else rel, f))
        p = (path + ".") if path else ""
        covered.update(p + n for n, _ in m.named_parameters(recurse=kind == "attention"))
    missing = [n for n, _ in torch_module.named_parameters() if n not in covered]
    if missing:
        owner = missing[0].rpartition(".")[0] or "the model"
        mod = torch_module.get_submodule(missing[0].rpartition(".")[0]) if "." in missing[0] else torch_module
        raise UsageError(f"no built-in conversion rule for parameter {missing[0]!r} ({owner}: "
                         f"{type(mod).__name__}); pass convert=your_function(state_dict) -> params")
    return plan


def builtin_convert(torch_module: Any) -> Callable[[dict], dict]:
    """``convert(state_dict) -> nested dict`` for every module the rules cover (module docstring)."""
    plan = builtin_plan(torch_module)

    def convert(sd: dict) -> dict:
        tree: dict = {}
        for _, _, leaf_path, f in plan:
            node = tree
            for k in leaf_path[:-1]:
                node = node.setdefault(k, {})
            node[leaf_path[-1]] = f(sd)
        return tree

    return convert
