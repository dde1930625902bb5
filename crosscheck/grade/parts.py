"""A check's parts, and its points split over them.

A function check has one part per depth in its range, per hidden activation it lists and per
loss it lists (their product): each part is one ``crosscheck check … --depth N [--hidden A]
[--loss L]`` run, so a student can reproduce any part alone. A layer check has one part per layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from itertools import product
from typing import Any

from .spec import NETWORK_KEYS, CheckSpec

__all__ = ["Part", "function_parts", "split_points"]


@dataclass(frozen=True)
class Part:
    label: str  # "depth 2, hidden relu" ("" when the check is one part)
    overrides: dict[str, Any] = field(default_factory=dict)  # depth / hidden / loss / layer for this part

    def network_options(self, spec: CheckSpec) -> dict[str, Any]:
        """The `crosscheck check` network options of this part (no lists left)."""

        out = {k: spec.options.get(k) for k in NETWORK_KEYS}
        out.update({k: v for k, v in self.overrides.items() if k in out})
        if "depth" in self.overrides:
            out["max_depth"] = out["min_depth"] = None
        return out


def _depths(spec: CheckSpec) -> tuple[int, ...]:
    from ..check.defaults import DEFAULTS
    from ..model.presets import resolve_options

    o = spec.options
    depth = o.get("depth")
    if isinstance(depth, tuple):
        return depth
    if depth is not None:
        return (depth,)
    base = resolve_options(o.get("preset"))
    lo = o.get("min_depth") or base.min_depth or 1
    if o.get("max_depth") is not None:
        return tuple(range(lo, o["max_depth"] + 1))
    if base.depth is not None and o.get("min_depth") is None:
        return (base.depth,)
    return tuple(range(lo, max(lo, base.max_depth or DEFAULTS["max_depth"]) + 1))


def function_parts(spec: CheckSpec) -> list[Part]:
    """hidden x loss x depth, in the order the config lists them."""
    o = spec.options
    hiddens = o["hidden"] if isinstance(o.get("hidden"), tuple) else (None,)
    losses = o["loss"] if isinstance(o.get("loss"), tuple) else (None,)
    parts = []
    for hidden, loss, depth in product(hiddens, losses, _depths(spec)):
        label = [f"depth {depth}"]
        overrides: dict[str, Any] = {"depth": depth}
        if hidden is not None:
            label.append(f"hidden {hidden}")
            overrides["hidden"] = hidden
        if loss is not None:
            label.append(f"loss {loss}")
            overrides["loss"] = loss
        parts.append(Part(", ".join(label), overrides))
    return parts


def split_points(points: float, n: int, *, places: int = 2) -> list[float]:
    """``points`` over ``n`` parts, rounded to ``places`` decimals so that they add up exactly
    (cumulative rounding: 10 over 3 is 3.33, 3.34, 3.33)."""
    total = Fraction(points).limit_denominator(10**places)
    cuts = [round(total * k / n, places) for k in range(n + 1)]
    return [float(Fraction(cuts[k + 1]) - Fraction(cuts[k])) for k in range(n)]
