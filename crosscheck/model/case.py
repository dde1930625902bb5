"""A Case: one network, one convention, one draw of parameters and data.

Arrays are stored canonically (samples are columns, W: (n_out, n_in), b: (n_out,));
``user_inputs()`` hands them over in the case's convention, which is what backends and
implementations under test receive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .conventions import Canonical, Convention
from .network import Network

__all__ = ["Case", "Gradients", "check_targets"]

Gradients = tuple  # canonical: tuple[tuple[dW: (n_l, n_{l-1}), db: (n_l,) | None], ...]


def check_targets(network: Network, Y: np.ndarray | None, m: int) -> None:
    """Canonical ``Y: (n_k, m)`` fits the loss and the network's target form: one 1 per sample
    (onehot, labels: the canonical form of a class label) or entries 0 and 1 only (binary)."""
    if not network.loss_fn.needs_target:
        return
    if Y is None:
        raise ValueError(f"loss {network.loss!r} needs targets Y, got None")
    if Y.shape[-2:] != (network.n_out, m):
        raise ValueError(f"Y has shape {Y.shape}, expected ({network.n_out}, {m}) (canonical)")
    if network.targets in ("onehot", "labels"):
        if not (np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(axis=-2) == 1)):
            raise ValueError(f"targets {network.targets!r} need one 1 per sample (canonical one-hot columns)")
    elif network.targets == "binary" and not np.all((Y == 0) | (Y == 1)):
        raise ValueError("targets 'binary' need entries 0 and 1 only")


@dataclass(frozen=True, eq=False)
class Case:
    """network, convention, canonical ``params``, ``X: (n_0, m)``, ``Y: (n_k, m)`` or None.

    ``Y`` is canonical in every target form: class labels are stored as their one-hot columns
    and handed to the user as a 1-D integer array by ``user_inputs``."""

    network: Network
    convention: Convention
    params: Canonical
    X: np.ndarray
    Y: np.ndarray | None

    def __post_init__(self) -> None:
        self.convention.check_network(self.network)
        if self.X.shape[0] != self.network.n_in:
            raise ValueError(f"X has {self.X.shape[0]} rows, network input width is {self.network.n_in}")
        if len(self.params) != self.network.depth:
            raise ValueError(f"{len(self.params)} layers of params for a depth-{self.network.depth} network")
        for layer, (W, b) in enumerate(self.params, start=1):
            if W.shape != self.network.weight_shape(layer):
                raise ValueError(f"W{layer} has shape {W.shape}, expected {self.network.weight_shape(layer)}")
            if (b is None) == self.network.bias:
                raise ValueError(f"b{layer} presence does not match bias={self.network.bias}")
        if self.convention.batch == "single" and self.batch_size != 1:
            raise ValueError("batch layout 'single' needs exactly one sample")
        check_targets(self.network, self.Y, self.batch_size)

    @property
    def batch_size(self) -> int:
        return int(self.X.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return self.X.dtype

    def astype(self, dtype: Any) -> Case:
        cast = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
        return Case(self.network, self.convention, tuple((cast(W), cast(b)) for W, b in self.params),
                    cast(self.X), cast(self.Y))

    def with_convention(self, convention: Convention) -> Case:
        return Case(self.network, convention, self.params, self.X, self.Y)

    def user_inputs(self) -> tuple[Any, np.ndarray, np.ndarray | None]:
        """(params, X, Y) laid out in this case's convention, as fresh copies."""
        c = self.convention
        return (c.params_to_user(self.params, self.network), c.x_to_user(self.X),
                c.y_to_user(self.Y, self.network.targets))

    def describe(self) -> str:
        return f"{self.network.describe()} | {self.convention.describe()} | m={self.batch_size}"

    def to_dict(self) -> dict:
        lst = lambda a: None if a is None else np.asarray(a).tolist()  # noqa: E731
        return {
            "network": self.network.to_dict(),
            "convention": self.convention.to_dict(),
            "dtype": str(self.dtype),
            "params": [{"W": lst(W), "b": lst(b)} for W, b in self.params],
            "X": lst(self.X),
            "Y": lst(self.Y),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Case:
        dtype = np.dtype(d.get("dtype", "float64"))
        arr = lambda a: None if a is None else np.asarray(a, dtype=dtype)  # noqa: E731
        return cls(
            Network.from_dict(d["network"]),
            Convention.from_dict(d["convention"]),
            tuple((arr(p["W"]), arr(p["b"])) for p in d["params"]),
            np.asarray(d["X"], dtype=dtype).reshape(len(d["X"]), -1),
            arr(d.get("Y")),
        )
