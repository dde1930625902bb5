"""The backend protocol and the layout wiring torch and JAX share.

A backend differentiates a network with its own autodiff. ``gradients(case)`` receives the
case's arrays in the case's convention (``case.user_inputs()``), builds the network in that
layout, and converts the user-layout gradients back to canonical with
``convention.params_from_user(..., gradient=True)``, so a layout bug shows where users make it.

``user_loss`` below is written against any array library whose arrays support ``@``, ``+``,
``.mT``, ``[..., i]`` slicing and an ``Ops`` adapter (concatenate, take): torch tensors and
jax arrays both do. Every operation acts on the last two axes, so arrays may carry a leading
draw axis: the reduced loss of each draw is summed, whose gradient with respect to the stacked
parameters is each draw's own gradient (draws share nothing). It is not the reference: it
builds the network from each library's own primitives (the activation and loss tables'
``torch``/``jax`` natives), and no backend ever calls ``crosscheck.reference``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UsageError
from ..model.case import Case, Gradients
from ..model.conventions import Convention
from ..model.network import Network

__all__ = ["Backend", "Ops", "user_loss", "user_penalty", "split_user_params", "pack_user_grads",
           "user_grads_to_canonical",
           "DEVICES", "PRECISIONS", "CANONICAL", "canonical_for", "check_batched"]

DEVICES = ("cpu", "cuda")
PRECISIONS = ("default", "highest")
CANONICAL = Convention("columns", "out_in", "vector", "pairs")


def canonical_for(network: Network) -> Convention:
    """The canonical convention, with bias layout "none" for a network without bias."""
    return CANONICAL if network.bias else Convention("columns", "out_in", "none", "pairs")


class Backend(ABC):
    """One autodiff library on one device at one matmul precision.

    name:      ``"numpy" | "torch" | "jax"``
    device:    ``"cpu" | "cuda"``
    precision: ``"default"`` leaves the library's float32 matmul settings alone;
               ``"highest"`` forces full float32 matmuls (no TF32) for the duration of each call.
    """

    name: str = ""

    def __init__(self, device: str = "cpu", precision: str = "default") -> None:
        if device not in DEVICES:
            raise UsageError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
        if precision not in PRECISIONS:
            raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        self.device = device
        self.precision = precision

    def __repr__(self) -> str:
        return f"<{type(self).__name__} device={self.device} precision={self.precision}>"

    def describe(self) -> str:
        return f"{self.name} ({self.device}, precision {self.precision})"

    @abstractmethod
    def gradients(self, case: Case) -> Gradients:
        """Canonical gradients of ``case``, computed in the case's own convention and dtype."""

    @abstractmethod
    def gradients_batched(self, network: Network, convention: Convention | None, params: Any,
                          X: np.ndarray, Y: np.ndarray | None) -> Gradients:
        """Canonical gradients of D stacked draws in one vectorised call.

        params: canonical ``((W: (D, n_l, n_{l-1}), b: (D, n_l) | None), ...)``,
        X: ``(D, n_0, m)``, Y: ``(D, n_k, m)`` or None. Returns the same stacked layout.
        ``convention`` None means canonical; dtype is the arrays' dtype."""

    @abstractmethod
    def settings(self) -> dict:
        """The precision audit: versions, device, dtypes, matmul precision settings."""


# ---- containers --------------------------------------------------------------------------

def split_user_params(convention: Convention, network: Network, user: Any) -> tuple[list, list]:
    """The user's container as ``(Ws, bs)`` in user layout; ``bs`` entries None without separate bias."""
    k = network.depth
    separate = convention.has_bias and not convention.augmented
    if convention.params == "dict":
        Ws = [user[f"W{layer}"] for layer in range(1, k + 1)]
        bs = [user[f"b{layer}"] if separate else None for layer in range(1, k + 1)]
    elif separate:
        Ws = [W for W, _ in user]
        bs = [b for _, b in user]
    else:
        Ws, bs = list(user), [None] * k
    return Ws, bs


def pack_user_grads(convention: Convention, dWs: Sequence, dbs: Sequence) -> Any:
    """Gradients in the user's container: ``dW1, db1`` keys, or a list of pairs or of W's."""
    if convention.params == "dict":
        out = {}
        for layer, (dW, db) in enumerate(zip(dWs, dbs), start=1):
            out[f"dW{layer}"] = dW
            if db is not None:
                out[f"db{layer}"] = db
        return out
    if any(db is not None for db in dbs):
        return [(dW, db) for dW, db in zip(dWs, dbs)]
    return list(dWs)


def user_grads_to_canonical(convention: Convention, network: Network, user_grads: Any) -> Gradients:
    """``params_from_user(gradient=True)`` that keeps NaN/inf where they were.

    ``params_from_user`` rejects non-finite arrays (right for a user's input); a backend's
    NaN must instead reach the comparison, which fails it with reason "nan". Conversions are
    pure layout, so converting a finite copy and a non-finite mask puts every NaN back in place.
    """
    dWs, dbs = split_user_params(convention, network, _rekey(convention, user_grads))
    arrays = [a for a in (*dWs, *dbs) if a is not None]
    if all(np.all(np.isfinite(a)) for a in arrays):
        return convention.params_from_user(user_grads, network, gradient=True)
    finite = pack_user_grads(convention, [np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0) for a in dWs],
                             [None if b is None else np.nan_to_num(b, nan=0.0, posinf=0.0, neginf=0.0) for b in dbs])
    mask = pack_user_grads(convention, [(~np.isfinite(a)).astype(a.dtype) for a in dWs],
                           [None if b is None else (~np.isfinite(b)).astype(b.dtype) for b in dbs])
    values = convention.params_from_user(finite, network, gradient=True)
    where = convention.params_from_user(mask, network, gradient=True)
    put = lambda v, m: None if v is None else np.where(m > 0, np.nan, v).astype(v.dtype)  # noqa: E731
    return tuple((put(W, mW), put(b, mb)) for (W, b), (mW, mb) in zip(values, where))


def _rekey(convention: Convention, user_grads: Any) -> Any:
    if convention.params != "dict":
        return user_grads
    return {k[1:] if k.startswith("d") else k: v for k, v in user_grads.items()}


# ---- the network in the user's layout, for any array library ------------------------------

@dataclass(frozen=True)
class Ops:
    """The few array operations whose spelling differs between libraries.

    lib:         the imported module (torch or jax), handed to the tables' natives
    concat:      concat(list_of_arrays, axis)
    take:        take(array, index_list, axis) - gather along one axis
    table_key:   "torch" or "jax": which native the activation/loss tables provide
    """

    lib: Any
    concat: Callable[[list, int], Any]
    take: Callable[[Any, list, int], Any]
    table_key: str


def _activation_fn(ops: Ops, network: Network, layer: int, neuron_axis: int) -> Callable[[Any], Any]:
    spec = network.activations[layer - 1]
    native = lambda name: getattr(_get_activation(name), ops.table_key)(ops.lib)  # noqa: E731
    if isinstance(spec, str):
        return native(spec)
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(spec):
        groups.setdefault(name, []).append(i)
    order = [i for idx in groups.values() for i in idx]
    inverse = [0] * len(order)
    for pos, i in enumerate(order):
        inverse[i] = pos
    fns = [(native(name), idx) for name, idx in groups.items()]

    def per_neuron(Z: Any) -> Any:
        # each neuron group through its own native activation, then back in neuron order
        pieces = [fn(ops.take(Z, idx, neuron_axis)) for fn, idx in fns]
        return ops.take(ops.concat(pieces, neuron_axis), inverse, neuron_axis)

    return per_neuron


def _get_activation(name: str):
    from ..model.activations import get_activation

    return get_activation(name)


def user_loss(ops: Ops, network: Network, convention: Convention, Ws: Sequence, bs: Sequence,
              X: Any, Y: Any, alpha: Any) -> Any:
    """The reduced loss of ``network`` with parameters and data in the user's layout.

    rows:    ``X: (m, n_0)``, ``Z_l = A_{l-1} @ W_l^{in_out} + b_row``, neurons on axis -1
    columns: ``X: (n_0, m)``, ``Z_l = W_l^{out_in} @ A_{l-1} + b_col``, neurons on axis -2
    augmented: X carries a constant-1 feature; hidden W carry the fixed row ``[0 .. 0, 1]``,
    whose pre_activation (always 1) goes through the identity (the "formal" neuron).
    """
    rows = convention.batch == "rows"
    in_out = convention.weights == "in_out"
    neuron_axis = -1 if rows else -2
    k = network.depth
    A = X
    for layer in range(1, k + 1):
        W, b = Ws[layer - 1], bs[layer - 1]
        if rows:
            Z = A @ (W if in_out else W.mT)
        else:
            Z = (W.mT if in_out else W) @ A
        if b is not None:
            Z = Z + _bias_term(convention.bias, b, rows)
        sigma = _activation_fn(ops, network, layer, neuron_axis)
        if convention.augmented and layer < k:
            n = network.widths[layer]
            real, formal = (Z[..., :n], Z[..., n:]) if rows else (Z[..., :n, :], Z[..., n:, :])
            A = ops.concat([sigma(real), formal], neuron_axis)
        else:
            A = sigma(Z)
    A_out = A.mT if rows else A  # the loss tables are canonical: (n_k, m)
    loss = network.loss_fn
    if network.targets == "labels":
        # integer labels (..., m) in every layout, read with the library's own indexing
        per_sample = getattr(loss, f"{ops.table_key}_labels")(ops.lib)(A_out, Y, alpha)
    else:
        Y_c = None if Y is None else (Y.mT if rows else Y)
        per_sample = getattr(loss, ops.table_key)(ops.lib)(A_out, Y_c, alpha)  # (..., m)
    # reduced per draw, then summed over any draw axis (a no-op for one draw)
    if network.reduction == "sum":
        reduced = per_sample.sum(-1)
    elif network.reduction == "mean":
        reduced = per_sample.mean(-1)
    else:  # mean_all: over the m samples and the n_k output units
        reduced = per_sample.mean(-1) / network.n_out
    total = reduced.sum()
    if network.has_penalty:
        total = total + user_penalty(ops, network, convention, Ws, bs, per_sample.shape[-1])
    return total


def user_penalty(ops: Ops, network: Network, convention: Convention, Ws: Sequence, bs: Sequence, m: int) -> Any:
    """c(m) (l2 sum w^2 + l1 sum |w|) over the user's own arrays, summed over any draw axis.

    Augmented weights hold the bias as their last input column (out_in; the last row in_out)
    and, in hidden layers, the fixed row [0 .. 0, 1]: only the real weights (and the bias
    column with ``penalty_bias``) are read. |w| is the library's own abs (JAX: abs'(0) = 1)."""
    absolute = ops.lib.abs if ops.table_key == "torch" else ops.lib.numpy.abs
    in_out = convention.weights == "in_out"
    arrays = []
    for layer in range(1, network.depth + 1):
        W, b = Ws[layer - 1], bs[layer - 1]
        if convention.augmented:
            n = network.widths[layer]
            arrays.append(W[..., :-1, :n] if in_out else W[..., :n, :-1])
            if network.penalty_bias:
                arrays.append(W[..., -1, :n] if in_out else W[..., :n, -1])
        else:
            arrays.append(W)
            if network.penalty_bias and b is not None:
                arrays.append(b)
    total = 0.0
    for a in arrays:
        if network.l2:
            total = total + network.l2 * (a * a).sum()
        if network.l1:
            total = total + network.l1 * absolute(a).sum()
    return network.penalty_scale(m) * total


def _bias_term(layout: str, b: Any, rows: bool) -> Any:
    if layout == "vector":  # (n,)
        return b[..., None, :] if rows else b[..., :, None]
    if layout == "column":  # (n, 1)
        return b.mT if rows else b
    return b if rows else b.mT  # row: (1, n)


def check_batched(network: Network, params: Any, X: np.ndarray, Y: np.ndarray | None) -> int:
    """Validate stacked canonical arrays; return D."""
    if not isinstance(X, np.ndarray) or X.dtype not in (np.float32, np.float64):
        raise ValueError(f"X must be a float32 or float64 array, got {getattr(X, 'dtype', type(X))}")
    if X.ndim != 3 or X.shape[1] != network.n_in:
        raise ValueError(f"X must be (D, {network.n_in}, m), got {X.shape}")
    D = X.shape[0]
    if len(params) != network.depth:
        raise ValueError(f"{len(params)} layers of params for a depth-{network.depth} network")
    for layer, (W, b) in enumerate(params, start=1):
        if W.shape != (D, *network.weight_shape(layer)):
            raise ValueError(f"W{layer} must be {(D, *network.weight_shape(layer))}, got {W.shape}")
        if (b is None) == network.bias:
            raise ValueError(f"b{layer} presence does not match bias={network.bias}")
        if b is not None and b.shape != (D, network.widths[layer]):
            raise ValueError(f"b{layer} must be {(D, network.widths[layer])}, got {b.shape}")
    if Y is not None and Y.shape != (D, network.n_out, X.shape[2]):
        raise ValueError(f"Y must be {(D, network.n_out, X.shape[2])}, got {Y.shape}")
    return D
