"""Default arguments, read from the installed libraries' signatures, and the normalisation layers'
running statistics, probed by running one training step (flax.linen only when installed).

``read(libs)`` returns every default the table needs (thresholds, slopes, bounds, ignore_index,
momentum): nothing here is hard-coded, so the probes follow the installed versions and a changed
default shows up in the baseline as a changed answer.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import numpy as np

from .spec import DefaultProbe, Libs
from .table import CONVENTIONS

__all__ = ["ABSENT", "signature_default", "doc_default", "read", "default_probes"]

ABSENT = "(no parameter)"


def signature_default(obj: Any, name: str) -> Any:
    """The default of parameter ``name`` of a function or a class's constructor; ABSENT if it has none."""
    target = obj.__init__ if isinstance(obj, type) and "__dataclass_fields__" not in vars(obj) else obj
    param = inspect.signature(target).parameters.get(name)
    if param is None or param.default is inspect.Parameter.empty:
        return ABSENT
    return param.default


def doc_default(obj: Any, name: str) -> Any:
    """A builtin's default from its documented signature line (``var(input, *, correction=1, ...)``),
    for the torch functions ``inspect.signature`` cannot read."""
    try:
        return signature_default(obj, name)
    except (TypeError, ValueError):
        pass
    m = re.search(rf"\b{name}=([^,)\s]+)", (obj.__doc__ or "").split("\n\n")[0] + "\n" + (obj.__doc__ or ""))
    if not m:
        return ABSENT
    text = m.group(1)
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text.strip("'\"")


def _num(v: Any) -> Any:
    return round(float(v), 12) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def _same(lib: str, v: Any) -> Any:
    return _num(v)


def _gelu(lib: str, v: Any) -> Any:
    return {"none": "erf form", "tanh": "tanh form", False: "erf form", True: "tanh form"}.get(v, repr(v))


def _threshold(lib: str, v: Any) -> Any:
    return "none: exact everywhere" if v is ABSENT else f"identity above beta*x > {v:g}"


def _fixed(value: Any):
    return lambda lib, v: value if v is ABSENT else _num(v)


def _dim(lib: str, v: Any) -> Any:
    return {None: "implicit by rank (deprecated)", -1: "last axis"}.get(v, repr(v))


def _reduction(lib: str, v: Any) -> Any:
    return "none: per example" if v is ABSENT else str(v)


def _ignore(lib: str, v: Any) -> Any:
    return "none" if v is ABSENT else f"label {v} ignored"


def _new_weight(lib: str, v: Any) -> Any:
    """BatchNorm momentum as the weight of the new batch statistic."""
    return _num(v) if lib == "torch" else _num(1.0 - v)


def read(L: Libs) -> dict[str, Any]:
    """The defaults the probes are built from, from the installed libraries."""
    import torch.nn as tnn

    F = L.F
    return {
        "softplus.threshold": signature_default(tnn.Softplus, "threshold"),
        "softplus.beta": signature_default(tnn.Softplus, "beta"),
        "leaky_relu.negative_slope.jax": signature_default(L.jax.nn.leaky_relu, "negative_slope"),
        "elu.alpha.jax": signature_default(L.jax.nn.elu, "alpha"),
        "hardtanh.min_val": signature_default(F.hardtanh, "min_val"),
        "hardtanh.max_val": signature_default(F.hardtanh, "max_val"),
        "var.correction": doc_default(L.torch.var, "correction"),
        "var.ddof": signature_default(L.jnp.var, "ddof"),
        "cross_entropy.ignore_index": signature_default(F.cross_entropy, "ignore_index"),
        "batchnorm.momentum.torch": signature_default(tnn.BatchNorm1d, "momentum"),
        "batchnorm.eps.torch": signature_default(tnn.BatchNorm1d, "eps"),
        "layernorm.eps.torch": signature_default(tnn.LayerNorm, "eps"),
        "batchnorm.momentum.flax": signature_default(L.linen.BatchNorm, "momentum") if L.linen else None,
        "batchnorm.eps.flax": signature_default(L.linen.BatchNorm, "epsilon") if L.linen else None,
        "layernorm.eps.flax": signature_default(L.linen.LayerNorm, "epsilon") if L.linen else None,
    }


def _d(function, parameter, tw, t, jw, j, meaning=_same, reference=None, convention=None, requires=None):
    return DefaultProbe(function, parameter, tw, t, jw, j, meaning, reference,
                        CONVENTIONS[convention] if convention else None, requires)


def _default_probes() -> list[DefaultProbe]:
    sd, dd = signature_default, doc_default
    return [
        _d("gelu", "approximate", "torch.nn.GELU", lambda L: sd(L.torch.nn.GELU, "approximate"),
           "jax.nn.gelu", lambda L: sd(L.jax.nn.gelu, "approximate"), _gelu, "erf form", "gelu-approximate"),
        _d("leaky_relu", "negative_slope", "F.leaky_relu", lambda L: sd(L.F.leaky_relu, "negative_slope"),
           "jax.nn.leaky_relu", lambda L: sd(L.jax.nn.leaky_relu, "negative_slope"), reference=0.01),
        _d("elu", "alpha", "F.elu", lambda L: sd(L.F.elu, "alpha"), "jax.nn.elu", lambda L: sd(L.jax.nn.elu, "alpha"),
           reference=1.0),
        _d("softplus", "threshold", "torch.nn.Softplus", lambda L: sd(L.torch.nn.Softplus, "threshold"),
           "jax.nn.softplus", lambda L: sd(L.jax.nn.softplus, "threshold"), _threshold, "none: exact everywhere",
           "softplus-threshold"),
        _d("softplus", "beta", "torch.nn.Softplus", lambda L: sd(L.torch.nn.Softplus, "beta"),
           "jax.nn.softplus", lambda L: sd(L.jax.nn.softplus, "beta"), _fixed(1.0), 1.0),
        _d("hardtanh", "min_val", "F.hardtanh", lambda L: sd(L.F.hardtanh, "min_val"),
           "jax.nn.hard_tanh", lambda L: sd(L.jax.nn.hard_tanh, "min_val"), _fixed(-1.0), -1.0),
        _d("hardtanh", "max_val", "F.hardtanh", lambda L: sd(L.F.hardtanh, "max_val"),
           "jax.nn.hard_tanh", lambda L: sd(L.jax.nn.hard_tanh, "max_val"), _fixed(1.0), 1.0),
        _d("softmax", "dim / axis", "F.softmax", lambda L: sd(L.F.softmax, "dim"),
           "jax.nn.softmax", lambda L: sd(L.jax.nn.softmax, "axis"), _dim, "last axis", "softmax-dim"),
        _d("log_softmax", "dim / axis", "F.log_softmax", lambda L: sd(L.F.log_softmax, "dim"),
           "jax.nn.log_softmax", lambda L: sd(L.jax.nn.log_softmax, "axis"), _dim, "last axis", "softmax-dim"),
        _d("mse", "reduction", "F.mse_loss", lambda L: sd(L.F.mse_loss, "reduction"),
           "optax.squared_error", lambda L: sd(L.optax.squared_error, "reduction"), _reduction, None,
           "loss-reduction", "optax"),
        _d("cross_entropy", "reduction", "F.cross_entropy", lambda L: sd(L.F.cross_entropy, "reduction"),
           "optax.softmax_cross_entropy", lambda L: sd(L.optax.softmax_cross_entropy, "reduction"), _reduction,
           None, "loss-reduction", "optax"),
        _d("cross_entropy", "ignore_index", "F.cross_entropy", lambda L: sd(L.F.cross_entropy, "ignore_index"),
           "optax.softmax_cross_entropy_with_integer_labels",
           lambda L: sd(L.optax.softmax_cross_entropy_with_integer_labels, "ignore_index"), _ignore, "none",
           "ignore-index", "optax"),
        _d("cross_entropy", "label_smoothing", "F.cross_entropy", lambda L: sd(L.F.cross_entropy, "label_smoothing"),
           "optax.softmax_cross_entropy", lambda L: sd(L.optax.softmax_cross_entropy, "label_smoothing"),
           _fixed(0.0), 0.0, None, "optax"),
        _d("var", "correction / ddof", "torch.var", lambda L: dd(L.torch.var, "correction"),
           "jnp.var", lambda L: sd(L.jnp.var, "ddof"), reference=_num(sd(np.var, "ddof")), convention="var-correction"),
        _d("std", "correction / ddof", "torch.std", lambda L: dd(L.torch.std, "correction"),
           "jnp.std", lambda L: sd(L.jnp.std, "ddof"), reference=_num(sd(np.std, "ddof")), convention="var-correction"),
        _d("layer_norm", "eps", "torch.nn.LayerNorm", lambda L: sd(L.torch.nn.LayerNorm, "eps"),
           "jax.nn.standardize", lambda L: sd(L.jax.nn.standardize, "epsilon")),
        _d("layer_norm", "eps", "torch.nn.LayerNorm", lambda L: sd(L.torch.nn.LayerNorm, "eps"),
           "flax.linen.LayerNorm", lambda L: sd(L.linen.LayerNorm, "epsilon"), convention="layernorm-eps",
           requires="flax"),
        _d("group_norm", "eps", "torch.nn.GroupNorm", lambda L: sd(L.torch.nn.GroupNorm, "eps"),
           "flax.linen.GroupNorm", lambda L: sd(L.linen.GroupNorm, "epsilon"), convention="groupnorm-eps",
           requires="flax"),
        _d("batch_norm", "eps", "torch.nn.BatchNorm1d", lambda L: sd(L.torch.nn.BatchNorm1d, "eps"),
           "flax.linen.BatchNorm", lambda L: sd(L.linen.BatchNorm, "epsilon"), requires="flax"),
        _d("batch_norm", "momentum (as the new batch's weight)", "torch.nn.BatchNorm1d",
           lambda L: sd(L.torch.nn.BatchNorm1d, "momentum"), "flax.linen.BatchNorm",
           lambda L: sd(L.linen.BatchNorm, "momentum"), _new_weight, None, "batchnorm-momentum", "flax"),
    ]


_DEFAULT_PROBES: list[DefaultProbe] = []  # built on first use


def default_probes() -> list[DefaultProbe]:
    """Every default the audit compares, torch's against JAX's (or flax's, optax's)."""
    if not _DEFAULT_PROBES:
        _DEFAULT_PROBES.extend(_default_probes())
    return _DEFAULT_PROBES
