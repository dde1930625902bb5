"""The torch backend: torch.autograd for one case, one stacked autograd call for many draws.

torch is imported inside functions only, so ``import crosscheck.backends.torch`` is cheap
and works without torch installed. float64 and float32, cpu and cuda.

precision "highest" sets ``torch.set_float32_matmul_precision("highest")`` and
``allow_tf32 = False`` (cuda matmul and cuDNN) for the duration of each call and restores
the caller's settings afterwards; "default" leaves them as they are (torch's own defaults are
already full float32 for matmuls, docs/measurements.md). A call on small CPU arrays (every array
at most ``SMALL_ENTRIES`` entries: a sweep's networks) runs on one intra-op thread
(``one_thread``; the caller's count restored after): tensors that small are never split, and
waking the pool cost a sweep's stacked call ~5x its time on this 2-core machine with a busy
second core (1.9 ms vs 10 ms, docs/measurements.md, "three-way sweep speed"). Larger calls keep
the caller's threads.

Many draws of one architecture (``gradients_batched``), two ways (``TorchBackend(batched=...)``):

- ``"stacked"`` (default): the network built once on the stacked arrays (every operation of
  ``base.user_loss`` acts on the last two axes), the per-draw losses summed, one
  ``torch.autograd.grad``: the gradient of the sum with respect to draw d's parameters is
  draw d's own gradient, since draws share nothing;
- ``"vmap"``: ``torch.func.vmap(torch.func.grad(loss))``. Its first call imports
  torch._dynamo (~1 s), and its per-call overhead is higher for the small networks of a sweep
  (benchmarks/bench_batched.py prints both).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import UsageError
from ..model.case import Case, Gradients
from ..model.conventions import Convention
from ..model.network import Network
from .base import (
    Backend,
    Ops,
    canonical_for,
    check_batched,
    pack_user_grads,
    split_user_params,
    user_grads_to_canonical,
    user_loss,
)

__all__ = ["TorchBackend", "torch_settings", "highest_precision", "one_thread", "SMALL_ENTRIES", "BATCHED_MODES"]

_CACHE_SIZE = 256
BATCHED_MODES = ("stacked", "vmap")


def _torch():
    import torch

    return torch


def _ops() -> Ops:
    torch = _torch()

    def take(x, idx, axis):
        return torch.index_select(x, axis % x.dim(), torch.as_tensor(idx, device=x.device))

    return Ops(torch, lambda xs, axis: torch.cat(xs, dim=axis), take, "torch")


SMALL_ENTRIES = 1 << 18  # a CPU call whose arrays are all this small runs on one thread


@contextlib.contextmanager
def one_thread(enabled: bool = True) -> Iterator[None]:
    """One intra-op thread inside the block (``torch.set_num_threads`` is process-wide, so the
    caller's count is restored after; a toggle costs ~1 us)."""
    if not enabled:
        yield
        return
    torch = _torch()
    saved = torch.get_num_threads()
    if saved == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _small(device: str, arrays: Any) -> bool:
    return device == "cpu" and all(a is None or np.size(a) <= SMALL_ENTRIES for a in arrays)


@contextlib.contextmanager
def highest_precision(enabled: bool = True) -> Iterator[None]:
    """Full float32 matmuls (no TF32) inside the block; the caller's settings restored after."""
    if not enabled:
        yield
        return
    torch = _torch()
    saved = (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    try:
        torch.set_float32_matmul_precision("highest")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        yield
    finally:
        torch.set_float32_matmul_precision(saved[0])
        torch.backends.cuda.matmul.allow_tf32 = saved[1]
        torch.backends.cudnn.allow_tf32 = saved[2]


def torch_settings() -> dict:
    """torch's version, devices and the float32 matmul settings as they are now."""
    torch = _torch()
    cuda = torch.cuda.is_available()
    out = {
        "version": torch.__version__,
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "devices": ["cpu"] + ([f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
                              if cuda else []),
        "allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "num_threads": torch.get_num_threads(),
    }
    fp32 = getattr(torch.backends.cuda.matmul, "fp32_precision", None)
    if fp32 is not None:
        out["cuda_matmul_fp32_precision"] = fp32
    return out


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, device: str = "cpu", precision: str = "default", *, batched: str = "stacked") -> None:
        super().__init__(device, precision)
        if batched not in BATCHED_MODES:
            raise UsageError(f"torch backend: batched must be one of {', '.join(BATCHED_MODES)}; got {batched!r}")
        self.batched = batched
        torch = _torch()
        if device == "cuda" and not torch.cuda.is_available():
            raise UsageError("torch: device 'cuda' asked for but torch.cuda.is_available() is False "
                             f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})")
        self._device = torch.device(device)
        self._batched: OrderedDict[tuple, Any] = OrderedDict()

    # ---- one case, in the case's own layout ---------------------------------------------
    def gradients(self, case: Case) -> Gradients:
        torch = _torch()
        conv, net = case.convention, case.network
        params, X, Y = case.user_inputs()
        Ws, bs = split_user_params(conv, net, params)
        dtype = _dtype(case.dtype)
        leaf = lambda a: torch.tensor(a, dtype=dtype, device=self._device, requires_grad=True)  # noqa: E731
        const = lambda a: None if a is None else torch.tensor(  # noqa: E731
            a, dtype=torch.long if a.dtype.kind in "iu" else dtype, device=self._device)  # labels stay integers
        tWs = [leaf(W) for W in Ws]
        tbs = [None if b is None else leaf(b) for b in bs]
        leaves = tWs + [b for b in tbs if b is not None]
        alpha = torch.tensor(net.alpha, dtype=dtype, device=self._device)
        with highest_precision(self.precision == "highest"), one_thread(_small(self.device, (*Ws, *bs, X))):
            loss = user_loss(_ops(), net, conv, tWs, tbs, const(X), const(Y), alpha)
            grads = torch.autograd.grad(loss, leaves)
        host = [g.detach().cpu().numpy() for g in grads]
        dWs = host[: len(tWs)]
        it = iter(host[len(tWs):])
        dbs = [None if b is None else next(it) for b in tbs]
        return user_grads_to_canonical(conv, net, pack_user_grads(conv, dWs, dbs))

    # ---- many draws of one architecture, one vectorised call ------------------------------
    def gradients_batched(self, network: Network, convention: Convention | None, params: Any,
                          X: np.ndarray, Y: np.ndarray | None) -> Gradients:
        """All draws at once, in ``convention``'s layout (canonical if None): one autograd call
        on the stacked network, or vmap(grad) over the leading draw axis (module docstring)."""
        torch = _torch()
        conv = convention or canonical_for(network)
        conv.check_network(network)
        D = check_batched(network, params, X, Y)
        dtype = _dtype(X.dtype)
        user = conv.params_to_user(params, network)
        Ws, bs = split_user_params(conv, network, user)
        flat = [np.asarray(a) for a in Ws] + [np.asarray(b) for b in bs if b is not None]
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=self._device)  # noqa: E731
        tX = t(conv.x_to_user(X))
        tY = None
        if Y is not None:
            uY = conv.y_to_user(Y, network.targets)
            tY = torch.as_tensor(uY, device=self._device) if network.targets == "labels" else t(uY)
        with highest_precision(self.precision == "highest"), one_thread(_small(self.device, (*flat, X))):
            if self.batched == "vmap":
                grads = self._batched_fn(network, conv, dtype, Y is not None)(tuple(t(a) for a in flat), tX, tY)
            else:
                grads = self._stacked(network, conv, [t(a) for a in flat], tX, tY, dtype)
        host = [g.detach().cpu().numpy() for g in grads]
        k = network.depth
        dWs = host[:k]
        it = iter(host[k:])
        dbs = [None if b is None else next(it) for b in bs]
        out = user_grads_to_canonical(conv, network, pack_user_grads(conv, dWs, dbs))
        assert out[0][0].shape[0] == D
        return out

    def _stacked(self, network: Network, conv: Convention, flat: list, X: Any, Y: Any, dtype: Any) -> list:
        torch = _torch()
        k = network.depth
        leaves = [a.requires_grad_(True) for a in flat]
        Ws = leaves[:k]
        bs = leaves[k:] if conv.has_bias and not conv.augmented else [None] * k
        alpha = torch.tensor(network.alpha, dtype=dtype, device=self._device)
        loss = user_loss(_ops(), network, conv, Ws, bs, X, Y, alpha)  # the per-draw losses, summed
        return list(torch.autograd.grad(loss, leaves))

    def _batched_fn(self, network: Network, conv: Convention, dtype: Any, has_y: bool):
        key = (network, conv, str(dtype), has_y)
        fn = self._batched.get(key)
        if fn is not None:
            self._batched.move_to_end(key)
            return fn
        torch = _torch()
        ops = _ops()
        k = network.depth
        separate = conv.has_bias and not conv.augmented
        alpha = torch.tensor(network.alpha, dtype=dtype, device=self._device)

        def loss(flat, X, Y):
            Ws = list(flat[:k])
            bs = list(flat[k:]) if separate else [None] * k
            return user_loss(ops, network, conv, Ws, bs, X, Y, alpha)

        fn = torch.func.vmap(torch.func.grad(loss), in_dims=(0, 0, 0 if has_y else None))
        self._batched[key] = fn
        if len(self._batched) > _CACHE_SIZE:
            self._batched.popitem(last=False)
        return fn

    def settings(self) -> dict:
        s = torch_settings()
        s.update(backend="torch", device=self.device, precision=self.precision, batched=self.batched,
                 dtypes=["float32", "float64"])
        if self.precision == "highest":
            s.update(effective_allow_tf32=False, effective_cudnn_allow_tf32=False,
                     effective_float32_matmul_precision="highest")
        else:
            s.update(effective_allow_tf32=s["allow_tf32"], effective_cudnn_allow_tf32=s["cudnn_allow_tf32"],
                     effective_float32_matmul_precision=s["float32_matmul_precision"])
        s["tf32_like"] = self.device == "cuda" and (
            s["effective_allow_tf32"] or s["effective_float32_matmul_precision"] != "highest")
        return s


def _dtype(np_dtype: Any):
    torch = _torch()
    name = np.dtype(np_dtype).name
    if name == "float64":
        return torch.float64
    if name == "float32":
        return torch.float32
    raise UsageError(f"torch backend: dtype must be float64 or float32, got {name}")
