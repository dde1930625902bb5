"""The ``crosscheck_audit`` pytest fixture's logic (the plugin only wires it up).

A project that pins torch and JAX saves a baseline once (``crosscheck audit --save-baseline
audit.json``) and keeps a test::

    def test_torch_and_jax_mean_what_they_meant(crosscheck_audit):
        crosscheck_audit()  # baseline from --crosscheck-audit-baseline or the crosscheck_audit_baseline ini key

The upgrade PR that changes a default, a kink convention or a derivative then fails that test,
naming each changed answer with the versions before and after.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["AuditFixture"]


class AuditFixture:
    """``crosscheck_audit(*, baseline=None, strict=False, functions=None) -> AuditResult``.

    Runs the audit once per session and set of ``functions`` (None: the whole table), then fails the
    calling test when the table cannot explain a difference, when ``strict`` and any difference
    exists, or when an answer changed since ``baseline`` (default: the configured one). torch or
    JAX not installed: the test is skipped with the reason."""

    def __init__(self, baseline: str | None):
        self.baseline = baseline
        self._results: dict[tuple, Any] = {}

    def result(self, functions: list[str] | None = None):
        key = tuple(functions or ())
        if key not in self._results:
            from ..errors import UsageError
            from .probes import run_audit

            try:
                self._results[key] = run_audit(functions=list(functions) if functions else None)
            except UsageError as e:
                pytest.skip(f"crosscheck audit: {e}")
        return self._results[key]

    def __call__(self, *, baseline: str | None = None, strict: bool = False, functions: list[str] | None = None):
        from ..errors import UsageError
        from . import baseline as bl
        from .report import format_table

        path = baseline if baseline is not None else self.baseline
        try:
            before = bl.load(path) if path else None
        except UsageError as e:
            pytest.fail(f"crosscheck audit: {e}", pytrace=False)
        result = self.result(functions)
        problems = []
        if result.findings or (strict and result.known):
            problems.append(format_table(result))
        if before is not None:
            comparison = bl.compare(result, before)
            if comparison.changed:
                problems.append(comparison.report())
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)
        return result
