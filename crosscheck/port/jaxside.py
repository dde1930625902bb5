"""The JAX side of a port: a flax linen module, a flax nnx module or a pure ``apply_fn(params, x)``,
seen as one pure function ``apply(variables, x)`` with a variables template, plus its intermediates.

A pure function marks what it wants located with ``tap("path.in.torch", value)``: the identity,
which records the value while the port check collects intermediates (flax modules are captured
with ``capture_intermediates`` instead).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UsageError

__all__ = ["JaxModel", "wrap", "tap", "flatten", "unflatten", "match_to_template", "module_key"]

_TAPS: list[dict] = []  # the active recorders (a stack, so a nested check records into its own)


def tap(path: str, value: Any) -> Any:
    """Identity; while ``crosscheck.port`` collects intermediates, records ``value`` under ``path``
    (the torch module path whose output it is, e.g. ``"encoder.ln1"``)."""
    if _TAPS:
        _TAPS[-1][path] = value  # inside the check's jit: a tracer, returned as an output of the traced call
    return value


@dataclass
class JaxModel:
    """``apply(variables, x) -> output``; ``template``: the variables' structure, with JAX's own values
    (nnx state, the user's params) or only shapes (flax linen, ``jax.eval_shape`` of its init), or None;
    ``kind``: "linen", "nnx" or "function"."""

    apply: Callable
    template: Any
    kind: str
    intermediates: Callable[[Any, Any], dict[str, np.ndarray]]
    apply_train: Callable | None = None  # (variables, x) -> (output, new variables): ``train=True``


def _is_linen(m: Any) -> bool:
    try:
        import flax.linen as nn
    except ImportError:
        return False
    return isinstance(m, nn.Module)


def _is_nnx(m: Any) -> bool:
    try:
        from flax import nnx
    except ImportError:
        return False
    return isinstance(m, nnx.Module)


def wrap(jax_model: Any, params: Any, example_x: Any) -> JaxModel:
    """Any accepted JAX model as a ``JaxModel``; ``example_x`` (a JAX array) initialises flax linen."""
    import jax

    if _is_linen(jax_model):
        model = jax_model
        if params is None:
            try:
                # shapes only: flax's initialisers (threefry) cost seconds of XLA compile; the JAX -> torch
                # direction draws its own values in these shapes (check._redraw_from)
                params = jax.eval_shape(model.init, jax.random.PRNGKey(0), example_x)
            except Exception as e:  # noqa: BLE001 - the user's module fails to initialise
                raise UsageError(f"the flax module failed to initialise on the input: {type(e).__name__}: "
                                 f"{str(e).splitlines()[0][:200]}") from None
        params = jax.tree_util.tree_map(lambda a: a, dict(params))

        def apply(v, x):
            return model.apply(v, x)

        @jax.jit
        def captured(v, x):
            return model.apply(v, x, capture_intermediates=True, mutable=["intermediates"])[1]

        def inter(v, x):
            flat = flatten(captured(v, x).get("intermediates", {}))
            out = {}
            for k, val in flat.items():
                parts = k.split("/")
                if parts[-1] in ("__call__", "0") or parts[-2:-1] == ["__call__"]:
                    mod = "/".join(p for p in parts if p not in ("__call__", "0"))
                    out.setdefault(mod, np.asarray(val))
            return out
        def apply_train(v, x):
            out, upd = model.apply(v, x, mutable=["batch_stats"])
            return out, {**v, **upd}
        return JaxModel(apply, params, "linen", inter, apply_train)
    if _is_nnx(jax_model):
        from flax import nnx

        graphdef, state = nnx.split(jax_model)
        to_pure = getattr(nnx, "to_pure_dict", None) or (lambda st: st.to_pure_dict())  # flax >= 0.12 / older
        pure = to_pure(state) if params is None else params

        def apply(v, x):
            s = nnx.split(jax_model)[1]
            nnx.replace_by_pure_dict(s, v)
            return nnx.merge(graphdef, s)(x)

        return JaxModel(apply, pure, "nnx", _tapped(apply))
    if callable(jax_model):
        return JaxModel(jax_model, params, "function", _tapped(jax_model), jax_model)
    raise UsageError(f"the JAX model must be a flax linen or nnx module, or a function apply_fn(params, x); "
                     f"got {type(jax_model).__name__}")


def _tapped(apply: Callable) -> Callable[[Any, Any], dict[str, np.ndarray]]:
    """``intermediates(v, x)``: the values ``tap`` recorded, computed in one jitted call."""
    import jax

    def record(v, x):
        _TAPS.append({})
        try:
            apply(v, x)
        finally:
            rec = _TAPS.pop()
        return rec
    jitted = jax.jit(record)

    def intermediates(v, x):
        if not jax.eval_shape(record, v, x):  # no tap in the function: nothing to compile and run
            return {}
        return {k: np.asarray(a) for k, a in jitted(v, x).items()}
    return intermediates


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict (or list) -> {"a/b/leaf": array}, in insertion order."""
    out: dict[str, Any] = {}
    items = tree.items() if hasattr(tree, "items") else enumerate(tree) if isinstance(tree, (list, tuple)) else None
    if items is None:
        out[prefix] = tree
        return out
    for k, v in items:
        out.update(flatten(v, f"{prefix}/{k}" if prefix else str(k)))
    return out


def unflatten(flat: dict[str, Any]) -> dict:
    tree: dict = {}
    for k, v in flat.items():
        node = tree
        parts = k.split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return tree


_ALIAS = {"out_proj": "out"}  # torch's name -> flax's


def _norm_path(parts: list[str]) -> str:
    """A module path for matching: torch's ``layers.0`` and flax's ``layers_0`` both -> ``layers_0``."""
    return "_".join(re.sub(r"[^0-9a-zA-Z]+", "_", _ALIAS.get(p, p)).lower() for p in parts)


def module_key(path: str) -> str:
    """``"encoder.fc1"`` (torch) and ``"encoder/fc1"`` (flax) -> one key for matching."""
    return _norm_path(path.replace("/", ".").split("."))


def match_to_template(converted: dict, template: Any) -> tuple[dict, list[str]]:
    """Place the built-in rules' leaves (nested by torch path) into the template's structure.

    Leaves pair by module path (``layers.0`` = ``layers_0``; a top-level ``nn.Sequential``'s ``0``
    = flax's ``layers_0``), then, for what is left, in order among leaves of the same name and size
    (flax's automatic names ``Dense_0``). A leaf is reshaped to the template's shape when the sizes
    agree (flax's DenseGeneral attention kernels). Returns (variables, notes); raises UsageError
    naming what cannot be placed."""
    conv = flatten(converted)
    tmpl = flatten(template)

    def key_of(path: str, is_template: bool) -> tuple[str, str]:
        parts = path.split("/")
        leaf = parts[-1]
        mods = parts[:-1]
        if is_template and mods and mods[0] in ("params", "batch_stats"):
            mods = mods[1:]
        return _norm_path(mods), leaf

    tkeys = {t: key_of(t, True) for t in tmpl}
    placed: dict[str, Any] = {}
    left = []
    for c, arr in conv.items():
        mod, leaf = key_of(c, False)
        hits = [t for t, (tm, tl) in tkeys.items() if tl == leaf and t not in placed
                and tm in (mod, "layers_" + mod)]
        if len(hits) == 1:
            placed[hits[0]] = arr
        else:
            left.append((c, arr, leaf))
    for c, arr, leaf in left:
        size = int(np.prod(arr.shape))
        hits = [t for t, (tm, tl) in tkeys.items() if tl == leaf and t not in placed
                and int(np.prod(getattr(tmpl[t], "shape", np.shape(tmpl[t])))) == size]
        if not hits:
            raise UsageError(f"cannot place torch's converted {c.replace('/', '.')} (shape {tuple(arr.shape)}) "
                             f"in the JAX model's parameters (leaves: {', '.join(list(tmpl)[:8])}...); "
                             "pass convert=your_function(state_dict) -> params")
        placed[hits[0]] = arr
    missing = [t for t in tmpl if t not in placed]
    if missing:
        raise UsageError(f"the JAX model has parameters no torch parameter converts to: "
                         f"{', '.join(missing[:5])}; pass convert=")
    out = {}
    for t in tmpl:
        a = placed[t]
        shape = tuple(getattr(tmpl[t], "shape", np.shape(tmpl[t])))
        if tuple(a.shape) != shape:
            a = a.reshape(shape)
        out[t] = a
    return unflatten(out), []
