"""Exceptions users see. Each carries a message written for the person who must act on it."""

from __future__ import annotations

import math

__all__ = ["CrosscheckError", "UsageError", "ConventionError", "GradientMismatch", "ImplementationError",
           "OPTION_MAX", "bounded"]

# the largest value each numeric option (and grading-config key) takes: finite and sane, so that a typo
# (--timeout inf, --memory 99999999999999, --l2 1e308, points = inf) is exit 2 with one line, not a
# traceback or a correct implementation blamed. Seconds, megabytes, counts.
OPTION_MAX: dict[str, float] = {
    "timeout": 86_400.0, "budget": 7 * 86_400.0, "memory": 1 << 20, "examples": 1_000_000,
    "seed": 2**64 - 1, "l2": 1e4, "l1": 1e4, "points": 1e6, "depth": 64, "max_depth": 64, "max_width": 4096,
    "output_width": 4096, "draws": 100_000, "batch_size": 1_000_000,
}


class CrosscheckError(Exception):
    """Base class of crosscheck's own errors."""


class UsageError(CrosscheckError, ValueError):
    """Bad options or arguments: the CLI exits 2 with this message."""


class ConventionError(CrosscheckError, ValueError):
    """Arrays that do not match the declared convention (shape, keys, container, NaN)."""


class ImplementationError(CrosscheckError):
    """The implementation under test failed to run (raised, hung, crashed, exited, bad output)."""

    def __init__(self, message: str, *, kind: str = "error", output: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.output = output


class GradientMismatch(CrosscheckError, AssertionError):
    """Gradients differ from the reference. The message names the mistake and the minimal case."""

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


def bounded(option: str, value: float, *, low: float = 0.0, low_open: bool = True) -> str | None:
    """Why ``value`` is out of range for ``option`` (above ``low``, or at least it when not
    ``low_open``; finite; at most ``OPTION_MAX[option]``), or None when it is fine. Integers are
    compared as Python integers (no float rounding, no overflow)."""
    high = OPTION_MAX.get(option, math.inf)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number, got {value!r}"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return f"expected a finite number, got {value}"
    if (value <= low if low_open else value < low) or value > high:
        what = "an integer" if isinstance(value, int) else "a number"
        return f"expected {what} {'>' if low_open else '>='} {low:g} and <= {_num(high)}, got {value}"
    return None


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"
