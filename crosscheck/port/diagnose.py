"""Locate and name a port's mistake.

*Where it departs*: torch forward hooks record every submodule's output; flax's
``capture_intermediates`` (or a pure function's ``tap`` calls) record JAX's; the first submodule, in
the order torch ran them, whose outputs differ is the departure.

*What the mistake is*: each submodule, in that order, is re-run in torch the way a known porting
mistake would compute it (``crosscheck.port.variants``): a kernel not transposed, a conv kernel
permuted, an eps or approximate-gelu default from the audit's table, 'SAME' padding, NCHW read as
NHWC, a gate order, a dropped bias, batch statistics in eval mode, a padding row that receives a
gradient. A variant that makes torch's outputs *and* every gradient agree with JAX's (the float64
policy) names the mistake; the first one in torch's order is reported, with its fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..tolerance import policy_for
from .jaxside import JaxModel, module_key
from .run import JaxRunner, Result, TorchSide, compare, relative, x64
from .variants import Variant, variants_for

__all__ = ["Finding", "Diagnosis", "diagnose"]


@dataclass
class Finding:
    """A named mistake at ``path`` (torch's module path), with the fix in the user's terms."""

    path: str
    module: str
    mistake: str
    detail: str = ""
    fix: str = ""
    convention: str | None = None


@dataclass
class Diagnosis:
    findings: list[Finding] = field(default_factory=list)
    departure: str | None = None
    params: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _record(module: Any, tside: TorchSide, x: np.ndarray) -> list[tuple[str, Any, np.ndarray]]:
    """(path, submodule, first output) in the order torch's forward finished them."""
    import torch

    seen: list[tuple[str, Any, np.ndarray]] = []
    handles = []
    for path, m in module.named_modules():
        if not path:
            continue

        def hook(mod, args, out, path=path):
            t = out if isinstance(out, torch.Tensor) else next(
                (o for o in (out if isinstance(out, (tuple, list)) else []) if isinstance(o, torch.Tensor)), None)
            if t is not None:
                seen.append((path, mod, t.detach().numpy().astype(np.float64)))
        handles.append(m.register_forward_hook(hook))
    try:
        tside.outputs(x, "float64")
    finally:
        for h in handles:
            h.remove()
    return seen


def _departure(recorded, inter: dict[str, np.ndarray]) -> str | None:
    rtol = policy_for("float64").rtol
    keys = {module_key(k): v for k, v in inter.items()}
    keys.update({module_key(k.replace("layers_", "", 1)): v for k, v in inter.items() if k.startswith("layers_")})
    for path, _, t in recorded:
        j = keys.get(module_key(path))
        if j is None:
            continue
        j = np.asarray(j, dtype=np.float64)
        # a channels-last intermediate of a port that transposes inside (same shape when C = H = W)
        views = [j] + ([np.moveaxis(j, -1, 1)] if j.ndim >= 3 else [])
        if min(relative(v, t) for v in views) > rtol:
            return path
    return None


def _raised(msg: str) -> Finding | None:
    import re

    low = msg.lower()
    where = re.search(r'in "/([^"]*)"', msg)
    path = where.group(1).replace("/", ".") if where else ""
    if "batch_stats" in low and "mutable" in low:
        return Finding(path, "flax BatchNorm", "train vs eval mode: the JAX model normalises with batch statistics "
                       "(use_running_average=False) while torch is in eval mode",
                       fix="flax.linen.BatchNorm(use_running_average=True) for evaluation (or "
                           "use_running_average=not train)")
    if "dropout" in low and ("rng" in low or "prng" in low):
        return Finding(path, "flax Dropout", "train vs eval mode: the JAX model's dropout is active (deterministic="
                       "False) while torch is in eval mode", fix="nn.Dropout(rate, deterministic=True) for evaluation")
    return None


def _try(variant: Variant, mod: Any, tside: TorchSide, sd, x, cot, n_out) -> Result | None:
    guard = [False]

    def hook(m, args, kwargs, out):
        if guard[0]:
            return None
        guard[0] = True
        try:
            return variant.fn(m, args, kwargs)
        finally:
            guard[0] = False
    h = mod.register_forward_hook(hook, with_kwargs=True)
    try:
        with np.errstate(all="ignore"):
            return tside.run(sd, x, "float64", cot, n_out)
    except Exception:  # noqa: BLE001 - a variant that cannot run here is no explanation
        return None
    finally:
        h.remove()


def diagnose(torch_module: Any, jm: JaxModel, convert: Callable, sd: dict, x: np.ndarray, param_names: list[str],
             tside: TorchSide, runner: JaxRunner, cot_for: Callable) -> Diagnosis:
    """Locate and name what makes the port differ on input ``x`` with weights ``sd`` (float64)."""
    d = Diagnosis()
    tside.load(sd, "float64")
    shapes = tuple(o.shape for o in tside.outputs(x, "float64"))
    try:
        n_jax = runner.count(sd, x, "float64")
        n_out = len(shapes) if n_jax == len(shapes) else 1
        cot = cot_for(shapes)[:n_out]
        jres = runner.run(sd, x, "float64", cot, n_out)
    except Exception as e:  # noqa: BLE001 - the JAX model raises: name it if it is a known mode mistake
        f = _raised(str(e))
        if f:
            d.findings.append(f)
        else:
            d.notes.append(f"the JAX model raised {type(e).__name__}: {str(e).splitlines()[0][:200]}")
        return d
    tres = tside.run(sd, x, "float64", cot, n_out)
    qs = compare(jres, tres, "float64", param_names)
    d.params = [q.name for q in qs if not q.ok and q.name in param_names]
    if all(q.ok for q in qs):  # outputs and gradients agree here (a running statistic differs): no variant
        return d
    recorded = _record(torch_module, tside, x)
    try:
        with x64("float64"):
            import jax.numpy as jnp

            v = convert({k: jnp.asarray(a, jnp.float64) for k, a in sd.items()})
            xj = jnp.asarray(x) if x.dtype.kind in "iu" else jnp.asarray(x, jnp.float64)
            inter = jm.intermediates(v, xj)
        d.departure = _departure(recorded, inter)
    except Exception as e:  # noqa: BLE001 - intermediates are a help, not a requirement
        d.notes.append(f"JAX intermediates not collected: {type(e).__name__}")
    order: list[tuple[str, Any]] = []
    for path, mod, _ in recorded:
        if all(p != path for p, _ in order):
            order.append((path, mod))
    if d.departure:  # look where it departs first, then everywhere else in torch's order
        order.sort(key=lambda pm: pm[0] != d.departure)
    for path, mod in order:
        for variant in variants_for(mod):
            r = _try(variant, mod, tside, sd, x, cot, n_out)
            if r is None:
                continue
            if all(q.ok for q in compare(jres, r, "float64", param_names)):
                d.findings.append(Finding(path, type(mod).__name__, variant.mistake, variant.detail, variant.fix,
                                          variant.convention))
                return d
    return d
