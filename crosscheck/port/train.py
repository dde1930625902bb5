"""``train=True``: one training step's running statistics, torch against the port.

torch runs in training mode (BatchNorm normalises with the batch's statistics and updates its
running ones); the JAX model returns ``(output, new_variables)`` (flax linen: ``mutable=
["batch_stats"]``; a pure function: its own second result). JAX's new variables go back to torch's
names through the transpose of ``convert`` (the same inverse as the JAX -> torch direction), and
each running statistic is compared with torch's after the same step. A difference is named by
recomputing the update under the other conventions the audit's table documents
(``batchnorm-momentum``: which side momentum weighs; ``batchnorm-running-var``: the biased batch
variance; flax's default momentum from ``crosscheck.audit.defaults``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..tolerance import policy_for
from .run import Quantity, TorchSide, relative

__all__ = ["StatsRunner", "stats_quantities", "name_stats"]

SUFFIX = " (after one training step)"


class StatsRunner:
    """``after(sd, x)``: the JAX model's new running statistics, under torch's names."""

    def __init__(self, apply_train: Callable, convert: Callable, inverse: Callable) -> None:
        import jax

        self._stats = jax.jit(lambda sd, x: apply_train(convert(sd), x)[1])
        self.inverse = inverse

    def after(self, sd: dict, x: np.ndarray) -> dict[str, np.ndarray]:
        import jax

        with jax.enable_x64(True):
            new = self._stats({k: np.asarray(v, np.float64) for k, v in sd.items()},
                              x if x.dtype.kind in "iu" else np.asarray(x, np.float64))
        return self.inverse(new)


def _buffers(module: Any) -> list[str]:
    return [k for k, v in module.state_dict().items() if k.endswith(("running_mean", "running_var"))
            and v.is_floating_point()]


def stats_quantities(tside: TorchSide, stats: StatsRunner, sd: dict, x: np.ndarray) -> list[Quantity]:
    """torch's running statistics after its step (``tside.run`` just ran it) against JAX's."""
    own = tside.module.state_dict()
    theirs = stats.after(sd, x)
    rtol = policy_for("float64").rtol
    return [Quantity(k + SUFFIX, relative(theirs[k], own[k].detach().double().numpy()), rtol)
            for k in _buffers(tside.module) if k in theirs]


def name_stats(torch_module: Any, tside: TorchSide, stats: StatsRunner, sd: dict, x: np.ndarray) -> list:
    """Each BatchNorm whose running statistics differ, with the convention that reproduces JAX's."""
    import torch

    from .diagnose import Finding
    from .variants import audit_defaults

    inputs: dict[str, np.ndarray] = {}
    handles = []
    for path, m in torch_module.named_modules():
        if type(m).__name__.startswith("BatchNorm"):
            handles.append(m.register_forward_hook(
                lambda mod, a, o, path=path: inputs.__setitem__(path, a[0].detach().double().numpy())))
    try:
        tside.forget()
        tside.load(sd, "float64")
        with torch.no_grad():
            tside.outputs(x, "float64")
    finally:
        for h in handles:
            h.remove()
    theirs = stats.after(sd, x)
    d = audit_defaults()
    conv = d["conventions"]
    flax_m = d.get("batchnorm.momentum.flax")
    out = []
    for path, z in inputs.items():
        m = torch_module.get_submodule(path)
        axes = (0,) + tuple(range(2, z.ndim))
        mean, var_b, var_u = z.mean(axes), z.var(axes), z.var(axes, ddof=1)
        p = path + "."
        old_m, old_v = sd[p + "running_mean"], sd[p + "running_var"]
        jm, jv = theirs.get(p + "running_mean"), theirs.get(p + "running_var")
        if jm is None:
            continue
        mt = m.momentum
        candidates = [
            ("running var updated with the biased batch variance (flax's convention); torch uses the unbiased one",
             (1 - mt) * old_m + mt * mean, (1 - mt) * old_v + mt * var_b, "batchnorm-running-var",
             "no flag changes it: rescale, var_torch = var_batch * n / (n - 1)"),
            (f"momentum weighs the other side: running = {mt:g} * running + {1 - mt:g} * batch",
             mt * old_m + (1 - mt) * mean, mt * old_v + (1 - mt) * var_u, "batchnorm-momentum",
             f"flax.linen.BatchNorm(momentum={1 - mt:g}) is torch's momentum={mt:g}"),
        ]
        if flax_m is not None:
            for var, which in ((var_b, "biased"), (var_u, "unbiased")):
                candidates.append((f"flax's default momentum {flax_m:g} (the old statistics' weight; torch's "
                                   f"momentum={mt:g} is flax's {1 - mt:g}), {which} batch variance",
                                   flax_m * old_m + (1 - flax_m) * mean, flax_m * old_v + (1 - flax_m) * var,
                                   "batchnorm-momentum", f"flax.linen.BatchNorm(momentum={1 - mt:g})"))
        rtol = policy_for("float64").rtol
        for text, nm, nv, cid, fix in candidates:
            if relative(jm, nm) <= rtol and relative(jv, nv) <= rtol:
                out.append(Finding(path, type(m).__name__, "running statistics: " + text, conv[cid].note, fix, cid))
                break
    return out
