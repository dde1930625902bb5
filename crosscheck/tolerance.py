"""The tolerance policy: when two gradients count as equal, per dtype x device x matmul precision.

The metric
----------
Shapes are compared first: a gradient of the wrong shape fails with reason ``"shape"``
whatever its values. NaN or infinity never passes (reason ``"nan"``). Values are then
compared per parameter (layer l, ``W`` or ``b``) by a normwise relative error

    rel_p = ||got_p - exp_p||_F / max(||exp_p||_F, floor),   floor = FLOOR[dtype] * ||exp||_F

where ``||exp||_F`` is the norm of the whole expected gradient (every layer, W and b), and
the draw passes when every ``rel_p <= rtol``. Normwise, because rounding errors of matrix
products are bounded normwise, not entrywise: an entry that cancels to 1e-9 next to entries of
size 1 carries rounding of 1e-16 (float64) or 1e-7 (float32) *absolute*, a huge relative error
in that entry that means nothing. The floor does the same one level up: a parameter whose
gradient is tiny next to the rest (a bias whose per-sample terms cancel, a nearly dead layer)
is judged against a fraction of the whole gradient. Measured (float32, 330,000 parameter
gradients): with no floor the worst own-relative error was 1.6e-4, in a bias gradient 2.7e-4
the size of the whole gradient; with FLOOR 1e-3 the worst is 7.3e-5.

What a policy can resolve: a relative error e in one parameter is seen as
``e * min(1, ||exp_p|| / (FLOOR * ||exp||))``, so it is caught when it exceeds rtol and the
parameter's gradient is at least ``rtol / e * FLOOR`` of the whole: 2e-4 of it for e = 1e-3
in float32, 1e-5 for e = 1e-8 in float64. Below that the planted error is smaller than
float32 (float64) rounding of the whole gradient, and no comparison of the two arrays can
tell them apart; ``benchmarks/false_failures.py`` counts those cases apart.

The numbers (docs/measurements.md, ``benchmarks/false_failures.py``)
--------------------------------------------------------------
float64: ``rtol = 1e-9``, ``FLOOR = 1e-4``
    torch and JAX agree with NumPy backprop to <= 3.6e-15 absolute on O(1) gradients;
    per parameter the p99.99 is 3.5e-14. The tail is set by saturated smooth activations:
    gelu's derivative in its far negative tail is 0.5 (1 + tanh(...)), a difference of O(1)
    numbers, so its relative rounding grows like eps / |sigma'(z)|; one correct JAX draw (a
    gelu_tanh output neuron deep in that tail carrying the whole gradient) reached 1.25e-10 in
    200,000. 1e-9 sits 8x above it and 10x below the 1e-8 mistake the policy must catch.
    rtol * FLOOR = 1e-13 of the whole gradient (~1000 eps64) is the noise allowed in a tiny one.
float32 (against a float64 reference on the same float32-rounded inputs): ``rtol = 2e-4``,
``FLOOR = 1e-3``, and a second stage bounded by the float32 reference
    Normwise relative error over 20,000 torch nets: median 1.1e-7, p99.99 1.3e-5, max 6.1e-5;
    per parameter with the floor, p99.99 1.3e-5 to 1.5e-5 over 200,000 draws. 2e-4 sits above
    that tail and 5x below the 1e-3 mistake the policy must catch. rtol * FLOOR = 2e-7 of the
    whole gradient (~3 eps32) is the noise allowed in a tiny parameter gradient.
    Past rtol a float32 draw gets one more chance, bounded by the reference's own float32
    rounding (the second stage below). Only a draw over that bound fails.
float32, second stage: the reference's own float32 rounding bounds the excuse
    A correct float32 implementation and the NumPy reference computed in float32 on the same
    (float32) inputs evaluate the same formulas with float32 operations. First-order rounding
    analysis bounds each one's error by the same sum of (condition of the gradient with respect
    to each intermediate) x (that operation's relative error); only the per-operation errors
    differ: NumPy's are ~1 ulp, vectorised float32 kernels (XLA's tanh and expm1, torch's gelu)
    a few ulp, and a different summation order moves them around. So where a network amplifies
    float32 rounding (a derivative that is a small difference of O(1) values, sin near pi/2, a
    gelu output deep in its tail), the reference shows it too, by a comparable amount:

        e_ref(d) = max_p rel_p(ref32(d), ref64(d))      (same metric, same floor as stage 1)
        draw d passes  iff  max_p rel_p(got(d), ref64(d)) <= rtol + ROUNDING_FACTOR * e_ref(d)

    rtol is what any correct float32 backend may differ by anyway (the first stage); the second
    term is the network's amplification of float32 rounding, as the reference measures it, with
    ``ROUNDING_FACTOR = 10``: a few ulp per kernel instead of NumPy's one, times ~2.5 for the
    luck of a reference whose errors happened to cancel. The draw's worst parameter, not
    each parameter's own, is the reference's estimate: one parameter of a single entry can
    cancel its rounding by chance, the worst of a draw cannot. Anything larger fails, even
    where the backend's float64 recomputation agrees: that is exactly a float32-only kernel
    regression (or a precision setting such as TF32), and the failure says so (triage.py).
    A 1e-3 mistake is excused only in a draw whose float32 reference is itself off by 8e-5,
    and a relative 1e-2 (or a sign flip) only where it is off by 1e-3.
    Measured (docs/measurements.md, benchmarks/float32_bound.py and false_failures.py): in the
    sweep's draws (saturated tails redrawn, draws.py) 3 of 2 x 99,900 correct torch and JAX
    draws went past rtol, at most 6.1 x e_ref. With weights x3 and saturated tails allowed, where
    float32 does go wrong, every correct draw past the bound has a neuron in a saturated tail
    (|sigma'| under its activation's floor), where a library's float32 kernel loses the whole
    derivative (torch's and XLA's gelu, XLA's tanh and elu) and the reference, rounding once per
    operation, does not: a float32 difference that large is reported, not excused.
float32 on a GPU at TF32-like matmul precision
    TF32 keeps a 10-bit mantissa: the 4-layer 512-wide H100 measurement gave 7e-4 relative
    error (JAX default, torch with ``allow_tf32=True``) against 5e-7 at "highest". The policy
    is NOT loosened for it: a loose tolerance would hide real 1e-3 mistakes. Instead a float32
    GPU failure at a precision other than "highest" is flagged ``"precision"`` so the report
    names the setting and its one-line fix (``crosscheck.environment.precision_advice``), and
    the float32 reference does not show it (it is computed on the CPU), so it fails; the
    failure names the setting and says the float64 recomputation agrees.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["TolerancePolicy", "policy_for", "DTYPES", "PRECISIONS", "DEVICES", "FLOOR", "ROUNDING_FACTOR"]

DTYPES = ("float64", "float32")
DEVICES = ("cpu", "cuda")
PRECISIONS = ("default", "highest")

# Fraction of the whole gradient's norm below which a parameter's gradient is judged
# against that fraction instead of its own norm (see the module docstring): rtol * FLOOR
# is the absolute noise allowed in a tiny parameter gradient, in units of ||exp||.
FLOOR = {"float64": 1e-4, "float32": 1e-3}

_RTOL = {"float64": 1e-9, "float32": 2e-4}

# A float32 draw over rtol passes only within this factor of the float32 reference's own
# rounding error on the same inputs (the module docstring: "float32, second stage").
ROUNDING_FACTOR = 10.0

_REASONS = {
    "float64": "float64: per-parameter p99.99 3.5e-14, worst 1.25e-10 (a saturated gelu output) over "
               "200,000 draws; 1e-9 catches a 1e-8 mistake with 10x margin",
    "float32": "float32 vs a float64 reference: per-parameter p99.99 ~1.5e-5 over 200,000 draws; 2e-4 "
               "catches a 1e-3 mistake with 5x margin; a draw over it passes only within rtol + 10x the "
               "float32 reference's own rounding error on the same inputs",
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

    def bound(self, reference_error: float | np.ndarray) -> float | np.ndarray:
        """The largest relative error a draw may have, given ``reference_error``, the float32
        reference's own worst relative error on that draw (float32 only; float64 has no second
        stage and returns ``rtol``)."""
        if self.dtype != "float32":
            return self.rtol
        return self.rtol + ROUNDING_FACTOR * np.asarray(reference_error, dtype=float)

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
