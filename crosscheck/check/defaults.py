"""What a check draws where the options leave it open: the network, the depths and the widths."""

from __future__ import annotations

from ..model.presets import CheckOptions, width_range

__all__ = ["BATCH_SIZES", "DEFAULTS", "depth_range", "width_bounds"]

# the network a function without a ``spec`` keyword is checked on, where options leave it open
DEFAULTS = {"hidden": "tanh", "output": "identity", "loss": "half_sse", "reduction": "mean", "max_depth": 3,
            "max_width": 6, "targets": "soft", "penalty_form": "half", "penalty_bias": False}
BATCH_SIZES = (1, 6)


def depth_range(options: CheckOptions) -> tuple[int, int]:
    """The depths a check draws: --depth, else --min-depth .. --max-depth (default 1 .. 3)."""
    if options.depth is not None:
        return options.depth, options.depth
    lo = options.min_depth or 1
    return lo, max(lo, options.max_depth or DEFAULTS["max_depth"])


def width_bounds(options: CheckOptions) -> tuple[int, int, bool]:
    """(lo, hi, distinct): the widths every phase draws from (``crosscheck.model.presets.width_range``)."""
    return width_range(options, depth_range(options)[1], DEFAULTS["max_width"])
