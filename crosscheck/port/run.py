"""One comparison of a port: the torch module and the JAX model on one input, one dtype, one set of
weights, outputs and the gradients of ``loss = sum_i <w_i, output_i>`` (``w``: a fixed random
cotangent per output), judged under the project's tolerance policy (``crosscheck.tolerance``).

JAX's gradient is taken with respect to torch's state dict *through* ``convert``, so every JAX
parameter gradient arrives on the torch parameter it was converted from (its VJP): the two
gradients are compared name by name, ``conv1.weight`` against ``conv1.weight``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..tolerance import policy_for

__all__ = ["Quantity", "Outcome", "TorchSide", "JaxRunner", "compare", "relative"]


@dataclass
class Quantity:
    """One compared array: ``name`` ("output", "input gradient", a torch parameter's name)."""

    name: str
    error: float
    bound: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.error)) and self.error <= self.bound


@dataclass
class Outcome:
    """One input x dtype x direction."""

    direction: str
    dtype: str
    input_shape: tuple
    quantities: list[Quantity] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return all(q.ok for q in self.quantities)

    @property
    def failing(self) -> list[Quantity]:
        return [q for q in self.quantities if not q.ok]


def relative(got: np.ndarray, exp: np.ndarray, floor: float = 0.0) -> float:
    """||got - exp|| / max(||exp||, floor): the policy's normwise relative error; inf on a shape
    mismatch or a NaN."""
    got, exp = np.asarray(got, dtype=np.float64), np.asarray(exp, dtype=np.float64)
    if got.shape != exp.shape:
        return float("inf")
    d = got - exp
    dd = float(np.dot(d.ravel(), d.ravel()))
    ee = float(np.dot(exp.ravel(), exp.ravel()))
    if not (np.isfinite(dd) and np.isfinite(ee)):  # rare: compare where both are finite, NaN/inf must agree
        if not np.array_equal(np.isfinite(got), np.isfinite(exp)):
            return float("inf")
        fin = np.isfinite(exp)
        dd, ee = float(np.sum(d[fin] ** 2)), float(np.sum(exp[fin] ** 2))
    den = max(np.sqrt(ee), floor, np.sqrt(np.finfo(np.float64).tiny))
    return float(np.sqrt(dd)) / den


def _tensors(out: Any) -> list:
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _tensors(o)]
    return []


@dataclass
class Result:
    """What one side computed: outputs, parameter gradients by torch name, the input gradient."""

    outputs: list[np.ndarray]
    grads: dict[str, np.ndarray]
    xgrad: np.ndarray | None


class TorchSide:
    """The torch module in one dtype with the given state dict loaded."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self._loaded: tuple | None = None
        self._shapes: dict = {}

    def load(self, sd: dict[str, np.ndarray], dtype: str) -> None:
        import torch

        if self._loaded == (id(sd), dtype) and not self.module.training:  # the same weights in place
            # (in training mode every forward moves the running statistics: always reload)
            return
        self._loaded = (id(sd), dtype)
        tdt = getattr(torch, dtype)
        self.module.to(tdt)
        own = self.module.state_dict()
        with torch.no_grad():
            for k, v in sd.items():
                if k in own:
                    own[k].copy_(torch.as_tensor(np.array(v), dtype=tdt))

    def shapes(self, x: np.ndarray) -> tuple:
        """The output shapes for an input shaped like ``x`` (one forward per input shape)."""
        key = (x.shape, x.dtype.kind)
        if key not in self._shapes:
            self._shapes[key] = tuple(o.shape for o in self.outputs(x, "float64"))
        return self._shapes[key]

    def forget(self) -> None:
        """Weights were changed behind the cache's back (a test's hook, a variant)."""
        self._loaded = None

    def outputs(self, x: np.ndarray, dtype: str) -> list:
        import torch

        xt = torch.as_tensor(x) if x.dtype.kind in "iu" else torch.as_tensor(x, dtype=getattr(torch, dtype))
        with torch.no_grad():
            return [t.numpy().astype(np.float64) for t in _tensors(self.module(xt))]

    def run(self, sd: dict[str, np.ndarray], x: np.ndarray, dtype: str, cot: list[np.ndarray],
            n_out: int | None = None) -> Result:
        import torch

        self.load(sd, dtype)
        tdt = getattr(torch, dtype)
        floating = x.dtype.kind == "f"
        xt = torch.tensor(x, dtype=tdt, requires_grad=True) if floating else torch.as_tensor(x)
        outs = _tensors(self.module(xt))[: n_out or None]
        params = [(n, p) for n, p in self.module.named_parameters() if p.requires_grad]
        loss = sum((o * torch.as_tensor(w, dtype=o.dtype)).sum() for o, w in zip(outs, cot))
        wrt = [p for _, p in params] + ([xt] if floating else [])
        gs = torch.autograd.grad(loss, wrt, allow_unused=True)
        grads = {n: (np.zeros(tuple(p.shape)) if g is None else g.detach().numpy().astype(np.float64))
                 for (n, p), g in zip(params, gs)}
        xg = gs[-1].detach().numpy().astype(np.float64) if floating and gs[-1] is not None else None
        return Result([o.detach().numpy().astype(np.float64) for o in outs], grads, xg)


def x64(dtype: str):
    import jax

    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


class JaxRunner:
    """``apply(convert(sd), x)`` and its gradient with respect to ``sd`` (and ``x``), jitted once per
    dtype and input kind (the compile is reused for every weight set and input of one shape)."""

    def __init__(self, apply: Callable, convert: Callable) -> None:
        self.apply, self.convert = apply, convert
        self._jit: dict = {}
        self._count: dict = {}

    def forward(self, sd: dict, x: np.ndarray, dtype: str) -> list[np.ndarray]:
        import jax
        import jax.numpy as jnp

        with x64(dtype):
            out = self.apply(self.convert({k: jnp.asarray(v, dtype) for k, v in sd.items()}), self._x(x, dtype))
            return [np.asarray(o, dtype=np.float64) for o in jax.tree_util.tree_leaves(out)]

    def count(self, sd: dict, x: np.ndarray, dtype: str) -> int:
        """How many arrays the JAX model returns (its output's leaves)."""
        import jax
        import jax.numpy as jnp

        key = (dtype, x.shape, str(x.dtype))
        if key in self._count:
            return self._count[key]
        with x64(dtype):
            shapes = jax.eval_shape(lambda s, xx: self.apply(self.convert(s), xx),
                                    {k: jnp.asarray(v, dtype) for k, v in sd.items()}, self._x(x, dtype))
        self._count[key] = len(jax.tree_util.tree_leaves(shapes))
        return self._count[key]

    @staticmethod
    def _x(x: np.ndarray, dtype: str):
        import jax.numpy as jnp

        return jnp.asarray(x) if x.dtype.kind in "iu" else jnp.asarray(x, dtype)

    def run(self, sd: dict, x: np.ndarray, dtype: str, cot: list[np.ndarray], n_out: int) -> Result:
        import jax
        import jax.numpy as jnp

        floating = x.dtype.kind == "f"
        key = (dtype, floating, n_out)
        with x64(dtype):
            if key not in self._jit:
                def loss(sd_, x_, w_):
                    outs = jax.tree_util.tree_leaves(self.apply(self.convert(sd_), x_))[:n_out]
                    return sum(jnp.sum(o * w) for o, w in zip(outs, w_)), outs
                self._jit[key] = jax.jit(jax.value_and_grad(loss, argnums=(0, 1) if floating else 0, has_aux=True))
            sdj = {k: np.asarray(v, dtype) for k, v in sd.items()}
            xin = x if x.dtype.kind in "iu" else np.asarray(x, dtype)
            (_, outs), g = self._jit[key](sdj, xin, [np.asarray(w, dtype) for w in cot])
            gsd, gx = (g if floating else (g, None))
            return Result([np.asarray(o, dtype=np.float64) for o in outs],
                          {k: np.asarray(v, dtype=np.float64) for k, v in gsd.items()},
                          None if gx is None else np.asarray(gx, dtype=np.float64))


def compare(got: Result, exp: Result, dtype: str, params: list[str], e_ref: float = 0.0) -> list[Quantity]:
    """Outputs, each parameter's gradient and the input gradient of ``got`` against ``exp`` (the
    float64 torch result); a parameter's gradient is judged against FLOOR of the whole gradient's
    norm when its own is smaller (``crosscheck.tolerance``). ``e_ref``: float32 torch's own worst
    error against float64 torch on this input (the policy's second stage)."""
    pol = policy_for(dtype)
    bound = float(pol.bound(e_ref))
    out = []
    n = max(len(got.outputs), len(exp.outputs))
    for i in range(n):
        name = "output" if n == 1 else f"output {i}"
        err = relative(got.outputs[i], exp.outputs[i]) if i < len(got.outputs) and i < len(exp.outputs) \
            else float("inf")
        out.append(Quantity(name, err, bound))
    whole = float(np.sqrt(sum(float(np.sum(exp.grads[p] ** 2)) for p in params)))
    for p in params:
        g = got.grads.get(p)
        err = float("inf") if g is None else relative(g, exp.grads[p], pol.floor * whole)
        out.append(Quantity(p, err, bound))
    if exp.xgrad is not None:
        err = float("inf") if got.xgrad is None else relative(got.xgrad, exp.xgrad)
        out.append(Quantity("input gradient", err, bound))
    return out


def worst(got: Result, exp: Result, params: list[str]) -> float:
    """The largest relative error over every quantity (float32 torch vs float64 torch: e_ref)."""
    qs = compare(got, exp, "float64", params)
    return max((q.error for q in qs), default=0.0)
