"""The audit's answers (one ``Row`` per aspect, one ``DefaultRow`` per default) and when two agree.

Agreement (``close``): the same nan and inf pattern, and otherwise
``|a - b| <= 256 eps (max(|a|, |b|) + scale) + tiny + 2 slack``.

- 256 units in the last place (eps) is 4x the largest implementation error measured at a probe
  point (JAX's erfc in gelu's tail: ~70 ulps in float64 at x = -10, ~65 in float32 at x = -12),
  and far below every documented convention (the smallest, softplus's threshold, is ~1e7 ulps
  in float64);
- ``scale`` (1 for row-wise functions and losses, 0 elementwise) absorbs cancellation in a sum;
- ``tiny`` (the smallest normal number) keeps subnormal noise out, except in the probe that is
  about subnormals (``exact_tiny``);
- ``slack``: in float32 the model's own float32 error at that point, ``|model32 - model64|``, so a
  formula that loses digits in float32 (1 - tanh(x)^2 in a tail) is judged against float32
  (DESIGN.md: "Float32 is judged against float32"), plus a cancelling formula's declared
  absolute error (``models.Model.abs_error``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Row", "DefaultRow", "AuditResult", "close", "RTOL_ULPS"]

RTOL_ULPS = 256


@dataclass
class Row:
    """One aspect (value or derivative) of one probe at one point and dtype."""

    function: str
    aspect: str  # "value" | "derivative" | "convention"
    point: str  # why the point matters: "kink", "threshold", "tail", ...
    inputs: str  # x (and the target) there
    dtype: str
    torch_expr: str
    jax_expr: str
    torch: Any
    jax: Any
    reference: Any
    reference_name: str
    status: str  # "agree" | "known" | "finding"
    conventions: list = field(default_factory=list)  # Convention ids that explain a difference
    detail: str = ""  # for a finding: which claim failed

    @property
    def key(self) -> str:
        return f"{self.function} | {self.aspect} at {self.point}: {self.inputs} | {self.dtype}"


@dataclass
class DefaultRow:
    function: str
    parameter: str
    torch_where: str
    jax_where: str
    torch: Any
    jax: Any
    torch_meaning: Any
    jax_meaning: Any
    reference: Any
    status: str
    conventions: list = field(default_factory=list)
    detail: str = ""

    @property
    def key(self) -> str:
        return f"{self.function} | default {self.parameter} | {self.torch_where} / {self.jax_where}"


@dataclass
class AuditResult:
    rows: list[Row]
    defaults: list[DefaultRow]
    unavailable: list[str]  # "flax.linen.BatchNorm ...: flax not installed"
    versions: dict[str, str]
    conventions: dict  # id -> Convention with {torch}/{jax} filled in
    elapsed_s: float = 0.0

    @property
    def all_rows(self) -> list:
        return [*self.rows, *self.defaults]

    @property
    def findings(self) -> list:
        return [r for r in self.all_rows if r.status == "finding"]

    @property
    def known(self) -> list:
        return [r for r in self.all_rows if r.status == "known"]


def close(a: Any, b: Any, dtype: str, *, scale: float = 0.0, slack: Any = 0.0, exact_tiny: bool = False) -> bool:
    """Whether two answers agree (the module docstring gives the rule and why)."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if (nan_a != nan_b).any():
        return False
    inf = np.isinf(a) | np.isinf(b)
    if (a[inf] != b[inf]).any():
        return False
    ok = ~(nan_a | inf)
    info = np.finfo(dtype)
    rtol = RTOL_ULPS * float(info.eps)
    tiny = 0.0 if exact_tiny else float(info.tiny)
    slack = np.broadcast_to(np.asarray(slack, dtype=np.float64), a.shape)
    bound = rtol * (np.maximum(np.abs(a), np.abs(b)) + scale) + tiny + 2 * np.nan_to_num(slack, posinf=0.0)
    return bool((np.abs(a[ok] - b[ok]) <= bound[ok]).all())
