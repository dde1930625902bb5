"""The numpy backend: the reference's recursive route wrapped as a backend.

It is the baseline the autodiff backends are compared with, so unlike them it works in the
canonical layout (the case's canonical arrays), always on the CPU (asked for cuda, it
still runs there and says so in ``settings()``), and it is the one backend
that calls ``crosscheck.reference``. Stacked draws go through the same stacked matmuls.
"""

from __future__ import annotations

import platform
from typing import Any

import numpy as np

from ..model.case import Case, Gradients
from ..model.conventions import Convention
from ..model.network import Network
from ..reference import recursive
from .base import Backend, check_batched

__all__ = ["NumpyBackend"]


class NumpyBackend(Backend):
    name = "numpy"

    def __init__(self, device: str = "cpu", precision: str = "default") -> None:
        super().__init__(device, precision)
        # the reference the GPU backends are compared with stays on the CPU whatever the
        # sweep's --device says; ``device`` records where it really ran
        self.requested_device = device
        self.device = "cpu"

    def gradients(self, case: Case) -> Gradients:
        return recursive.gradients(case.network, case.params, case.X, case.Y)

    def gradients_batched(self, network: Network, convention: Convention | None, params: Any,
                          X: np.ndarray, Y: np.ndarray | None) -> Gradients:
        """Canonical whatever ``convention`` says: the reference needs no layout."""
        check_batched(network, params, X, Y)
        return recursive.gradients(network, params, X, Y)

    def settings(self) -> dict:
        return {"backend": "numpy", "version": np.__version__, "device": "cpu", "precision": self.precision,
                "dtypes": ["float32", "float64"], "machine": platform.machine(), "tf32_like": False,
                "note": "always on the CPU" + (f" (asked for {self.requested_device})"
                                               if self.requested_device != "cpu" else "")}
