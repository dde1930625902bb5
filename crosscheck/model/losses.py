"""Loss table: per-sample loss of the network output and its gradient.

Everything here is canonical: the output ``A`` and target ``Y`` are ``(n_k, m)`` with one
column per sample. ``value`` returns the ``(m,)`` per-sample losses; ``grad`` returns
d loss_j / d A[:, j], shape ``(n_k, m)``. Leading axes (a stack of parameter draws)
broadcast. The batch reduction (sum, mean, mean_all) is applied by the caller.

Targets: canonical ``Y`` is always ``(n_k, m)``. ``targets="onehot"`` and ``"labels"`` are the
one-hot rows of the class labels (so the value and gradient above serve all three forms of
``softmax_ce``); labels become a 1-D integer array only at the user's edge
(``Convention.y_to_user``), and the torch/JAX backends then read them with their own
indexing (``torch_labels``/``jax_labels``). ``"binary"`` bce targets are 0/1; ``"onehot"`` bce
targets are one 1 per sample over K sigmoid outputs, the cross-entropy summed over the outputs
(Andrew Ng's ex4 ``nnCostFunction``: J = 1/m sum_i sum_k [-y log h - (1 - y) log(1 - h)]).
``alpha`` is the fixed read-out vector of seed 002, ``(n_k,)``.

Adding a loss means adding one ``Loss`` to ``_TABLE``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Loss", "LOSSES", "get_loss", "loss_names"]


def _softmax(A):
    e = np.exp(A - A.max(axis=-2, keepdims=True))
    return e / e.sum(axis=-2, keepdims=True)


def _log_softmax(A):
    shifted = A - A.max(axis=-2, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-2, keepdims=True))


@dataclass(frozen=True)
class Loss:
    """A per-sample loss l(a, y) of the last layer's activation a: (n_k,).

    ``torch``/``jax`` take the imported module and return ``f(A, Y, alpha) -> (m,)``
    written with that library's primitives, in the canonical (n_k, m) layout.
    """

    name: str
    value: Callable[[np.ndarray, Any, np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray, Any, np.ndarray], np.ndarray]
    torch: Callable[[Any], Callable]
    jax: Callable[[Any], Callable]
    needs_target: bool = True
    output_width: int | None = None  # fixed n_k, when the loss demands one
    output_activation: str | None = None  # required last activation
    min_output_width: int = 1
    description: str = ""
    # the target forms the loss accepts (``Network.targets``), the first is the default
    targets: tuple[str, ...] = ("soft",)
    # a sum over output units of one term per unit: "mean over samples and output units"
    # (``reduction="mean_all"``, torch's default reduction) is meaningful
    elementwise: bool = False
    # ``f(A, labels, alpha) -> (m,)`` with integer ``labels: (..., m)`` in the library's own
    # indexing (gather / take_along_axis), for ``targets="labels"``
    torch_labels: Callable[[Any], Callable] | None = None
    jax_labels: Callable[[Any], Callable] | None = None


def _bce_torch(t):
    return lambda A, Y, alpha: -(Y * t.log(A) + (1 - Y) * t.log(1 - A)).sum(-2)


def _bce_jax(jax):
    jnp = jax.numpy
    return lambda A, Y, alpha: -(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A)).sum(-2)


_TABLE: tuple[Loss, ...] = (
    Loss(
        "output",
        lambda A, Y, alpha: A[..., 0, :],
        lambda A, Y, alpha: np.ones_like(A),
        torch=lambda t: (lambda A, Y, alpha: A[..., 0, :]),
        jax=lambda jax: (lambda A, Y, alpha: A[..., 0, :]),
        needs_target=False, output_width=1,
        description="the scalar network function f itself (Mishachev), n_k = 1",
    ),
    Loss(
        "readout",
        lambda A, Y, alpha: alpha @ A,
        lambda A, Y, alpha: np.broadcast_to(alpha[:, None], A.shape).copy(),
        torch=lambda t: (lambda A, Y, alpha: alpha @ A),
        jax=lambda jax: (lambda A, Y, alpha: alpha @ A),
        needs_target=False,
        description="y_hat = alpha^T z with a fixed alpha (Wen Sun)",
    ),
    Loss(
        "half_sse",
        lambda A, Y, alpha: 0.5 * ((A - Y) ** 2).sum(-2),
        lambda A, Y, alpha: A - Y,
        torch=lambda t: (lambda A, Y, alpha: 0.5 * ((A - Y) ** 2).sum(-2)),
        jax=lambda jax: (lambda A, Y, alpha: 0.5 * ((A - Y) ** 2).sum(-2)),
        elementwise=True,
        description="1/2 sum (y_hat - y)^2 (the Q&A thread)",
    ),
    Loss(
        "sse",
        lambda A, Y, alpha: ((A - Y) ** 2).sum(-2),
        lambda A, Y, alpha: 2.0 * (A - Y),
        torch=lambda t: (lambda A, Y, alpha: ((A - Y) ** 2).sum(-2)),
        jax=lambda jax: (lambda A, Y, alpha: ((A - Y) ** 2).sum(-2)),
        elementwise=True,
        description="sum (y_hat - y)^2",
    ),
    Loss(
        "bce",
        lambda A, Y, alpha: -(Y * np.log(A) + (1 - Y) * np.log1p(-A)).sum(-2),
        lambda A, Y, alpha: (A - Y) / (A * (1 - A)),
        torch=_bce_torch, jax=_bce_jax,
        output_activation="sigmoid", targets=("soft", "binary", "onehot"), elementwise=True,
        description="binary cross-entropy of a sigmoid output (phunc20), targets in [0, 1], 0/1, or one-hot "
                    "rows over K sigmoid outputs (Ng's ex4)",
    ),
    Loss(
        "softmax_ce",
        lambda A, Y, alpha: -(Y * _log_softmax(A)).sum(-2),
        lambda A, Y, alpha: _softmax(A) * Y.sum(-2, keepdims=True) - Y,
        torch=lambda t: (lambda A, Y, alpha: -(Y * t.log_softmax(A, dim=-2)).sum(-2)),
        jax=lambda jax: (lambda A, Y, alpha: -(Y * jax.nn.log_softmax(A, axis=-2)).sum(-2)),
        min_output_width=2, targets=("soft", "onehot", "labels"),
        torch_labels=lambda t: (lambda A, labels, alpha:
                                -t.log_softmax(A, dim=-2).gather(-2, labels.unsqueeze(-2)).squeeze(-2)),
        jax_labels=lambda jax: (lambda A, labels, alpha: -jax.numpy.take_along_axis(
            jax.nn.log_softmax(A, axis=-2), labels[..., None, :], axis=-2)[..., 0, :]),
        description="cross-entropy of softmax(a) against a probability row, a one-hot row or a class label",
    ),
)

LOSSES: dict[str, Loss] = {loss.name: loss for loss in _TABLE}


def loss_names() -> tuple[str, ...]:
    return tuple(LOSSES)


def get_loss(name: str) -> Loss:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}") from None
