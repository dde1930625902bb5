"""The tolerance policy: when two gradients count as equal, per dtype x device x matmul precision.

The metric
----------
Shapes are compared first: a gradient of the wrong shape fails with reason ``"shape"``
whatever its values. NaN or infinity never passes (reason ``"nan"``). Values are then
compared per parameter (layer l, ``W`` or ``b``) by a normwise relative error

    rel_p = ||got_p - exp_p||_F / max(||exp_p||_F, floor),   floor = FLOOR * ||exp||_F

where ``||exp||_F`` is the norm of the whole expected gradient (every layer, W and b).
Normwise, because rounding errors of a matrix product are bounded normwise, not entrywise:
an entry that cancels to 1e-9 next to entries of size 1 carries rounding of size 1e-16
(float64) or 1e-7 (float32) *absolute*, which is a huge relative error in that entry and
means nothing. The floor does the same one level up: a layer whose gradient is tiny next to
the rest of the network (a nearly saturated layer) is judged against a fraction of the
whole gradient's scale, so its rounding noise is not read as a bug.

A mistake is caught when its relative size in one parameter exceeds ``rtol``; when that
parameter's gradient is below the floor, when it exceeds ``rtol * floor / ||exp_p||``.
The floor is therefore kept small: with FLOOR = 1e-3 a planted relative error of 1e-3
(float32) is still caught in a parameter whose gradient is 1/10 the floor... see the
measured numbers below, which are what the constants rest on.

The numbers (MEASURED.md and ``benchmarks/false_failures.py``)
--------------------------------------------------------------
float64
    torch and JAX agree with NumPy backprop to <= 3.6e-15 absolute on O(1) gradients.
    ``rtol = 1e-10``: five orders of magnitude above that rounding (long sums and
    cancellation grow it, never by 1e5 on these network sizes) and a hundred times below the
    1e-8 mistake the policy must catch.
float32 (against a float64 reference on the same float32-rounded inputs)
    Normwise relative error over 20,000 torch nets (depth 1-5, widths 2-16): median 1.1e-7,
    p99.99 1.3e-5, max 6.1e-5. Per parameter, with the floor, the tail measured by
    ``benchmarks/false_failures.py`` is recorded in the module constants' comments.
    ``rtol = 2e-4``: above the whole measured tail with margin, five times below the 1e-3
    mistake the policy must catch. A constant 1e-4 would sit within 2x of the tail.
float32 on a GPU at TF32-like matmul precision
    TF32 keeps a 10-bit mantissa: the 4-layer 512-wide H100 measurement gave 7e-4 relative
    error (JAX default, torch with ``allow_tf32=True``) against 5e-7 at "highest". The policy
    is NOT loosened for it: a loose tolerance would hide real 1e-3 mistakes. Instead a float32
    GPU failure at a precision other than "highest" is flagged ``"precision"`` so the report
    names the setting and its one-line fix (``crosscheck.environment.precision_advice``), and
    the sweep re-runs the case in float64 to tell rounding from a real difference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["TolerancePolicy", "policy_for", "DTYPES", "PRECISIONS", "DEVICES", "FLOOR"]

DTYPES = ("float64", "float32")
DEVICES = ("cpu", "cuda")
PRECISIONS = ("default", "highest")

# Fraction of the whole gradient's norm below which a parameter's gradient is judged
# against that fraction instead of its own norm (see the module docstring): rtol * FLOOR
# is the absolute noise allowed in a tiny parameter gradient, in units of ||exp||.
FLOOR = {"float64": 1e-4, "float32": 1e-3}

_RTOL = {"float64": 1e-10, "float32": 2e-4}

_REASONS = {
    "float64": "float64: backends agree to <= 3.6e-15 absolute (MEASURED.md); 1e-10 leaves 1e5 of "
               "margin above rounding and catches a 1e-8 mistake with 100x margin",
    "float32": "float32 vs a float64 reference: measured per-parameter tail stays below 1e-4 "
               "(normwise max 6.1e-5 over 20,000 nets); 2e-4 catches a 1e-3 mistake with 5x margin",
}


@dataclass(frozen=True)
class TolerancePolicy:
    """How close is equal, for one dtype x device x matmul precision.

    ``rtol`` bounds the per-parameter normwise relative error; ``floor`` is the fraction of
    the whole gradient's norm used when a parameter's own gradient is smaller than that;
    ``tf32_risk`` says float32 matmuls may run at TF32-like precision here, so a failure is
    reported with the precision setting rather than hidden by a looser ``rtol``.
    """

    dtype: str
    device: str
    precision: str
    rtol: float
    floor: float
    reason: str
    tf32_risk: bool = False

    @property
    def absolute_floor(self) -> float:
        """Below this everything is zero: keeps 0/0 out when the whole gradient vanishes."""
        return float(np.sqrt(np.finfo(np.dtype(self.dtype)).tiny))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["absolute_floor"] = self.absolute_floor
        return d


def policy_for(dtype: str | np.dtype = "float64", device: str = "cpu", precision: str = "default") -> TolerancePolicy:
    """The policy for comparing gradients computed in ``dtype`` on ``device`` at ``precision``.

    The expected gradient is the float64 reference (on the same, rounded inputs) in every case.
    """
    dtype = np.dtype(dtype).name
    if dtype not in _RTOL:
        raise ValueError(f"no tolerance policy for dtype {dtype!r}; known: {', '.join(DTYPES)}")
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    tf32_risk = dtype == "float32" and device != "cpu" and precision != "highest"
    reason = _REASONS[dtype]
    if tf32_risk:
        reason += ("; on GPU at matmul precision 'default' float32 products may use TF32 (~7e-4 "
                   "relative error, measured on H100): not tolerated, reported as a precision setting")
    return TolerancePolicy(dtype, device, precision, _RTOL[dtype], FLOOR[dtype], reason, tf32_risk)
