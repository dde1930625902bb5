"""Inverted dropout, CS231n's ``dropout_forward`` / ``dropout_backward`` (train mode).

With keep probability q (``p`` in recent years of the course; ``1 - p`` where p was the drop
probability, in older years) and a 0/1 mask m drawn with P(m = 1) = q:

    out = x * m / q;   dx = dout * m / q

The mask is the implementation's own random draw: crosscheck reads it back from its forward output
(kept entries are exactly those where out != 0, for x drawn with no zeros) and checks the backward
against that mask. In test mode both are the identity.
"""

from __future__ import annotations

import numpy as np

__all__ = ["forward", "vjp", "mask_from_output"]


def forward(x: np.ndarray, mask: np.ndarray, keep: float) -> np.ndarray:
    return x * mask / keep


def vjp(dout: np.ndarray, mask: np.ndarray, keep: float) -> dict[str, np.ndarray]:
    return {"dx": dout * mask / keep}


def mask_from_output(out: np.ndarray) -> np.ndarray:
    """The 0/1 mask a forward pass used: 1 where it kept the input (x has no zeros)."""
    return (out != 0).astype(np.float64)
