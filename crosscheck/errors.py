"""Exceptions users see. Each carries a message written for the person who must act on it."""

from __future__ import annotations

__all__ = ["CrosscheckError", "UsageError", "ConventionError", "GradientMismatch", "ImplementationError"]


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
