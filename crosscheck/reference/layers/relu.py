"""The rectified linear unit, CS231n's ``relu_forward`` / ``relu_backward``.

    out = max(0, x);   dx = dout * [x > 0]

relu'(0) is a convention (the course's ``x > 0`` gives 0); crosscheck draws x away from 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["forward", "vjp"]


def forward(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def vjp(dout: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
    return {"dx": dout * (x > 0)}
