"""The short message a failing ``check_implementation`` raises: what a test runner shows first.

A CI log is read top down, and pytest prints an exception's whole message (twice under ``CI=true``:
in the traceback and in the short summary). So the raised message is a few lines: the verdict, the
first diagnosis, the minimal case in one line and the reproduce command. The full report (every
diagnosis, the arrays, the implementation's output) stays on ``error.report`` and, under pytest,
in the test's "crosscheck" report section (``crosscheck.pytest_plugin``), minus the lines already
shown here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["short_message", "headline", "details"]

_OUTPUT_TAIL = 6  # lines of the implementation's own output kept in a short error message


def short_message(report: Any) -> str:
    """Verdict, first diagnosis (or the error and the tail of its output), case, reproduce line.

    report: a ``CheckReport`` (``verdict`` "fail" or "error") or a ``LayersReport``."""
    full = report.summary().splitlines()
    if not full:
        return ""
    lines = [full[0]]
    diagnosis = getattr(report, "diagnosis", None)
    if getattr(report, "verdict", None) == "fail" and diagnosis:
        # the verdict and the first diagnosis in one line: the first thing a CI log shows
        d = diagnosis[0]
        more = f" (+{len(diagnosis) - 1} more in the report)" if len(diagnosis) > 1 else ""
        ids = ", ".join(x.id for x in diagnosis)
        lines = [f"FAIL: {report.target} [{ids}]: {d.parameter} (layer {d.layer}): {d.detail}{more}"]
    elif getattr(report, "verdict", None) == "error":
        output = [line for line in str(getattr(report, "output", "")).splitlines() if line.strip()]
        if output:
            lines.append("implementation output (last lines):")
            lines += ["  | " + line for line in output[-_OUTPUT_TAIL:]]
    elif not diagnosis:  # a layer report: its own lines name each failing layer; keep those that say FAIL/ERROR
        lines += [line for line in full[1:] if line.lstrip().startswith(("FAIL", "ERROR"))][:4]
    case = getattr(report, "case", None)
    if case is not None:
        lines.append(f"case: {case.describe()}")
    reproduce = getattr(report, "reproduce", "")
    if reproduce:
        lines.append(f"reproduce: {reproduce}")
    return "\n".join(lines)


def headline(report: Any) -> str:
    """The report's first line, the verdict with the diagnosis ids: the test summary's one line."""
    return report.summary().split("\n", 1)[0]


def details(report: Any, shown: str) -> str:
    """The full report without the lines ``shown`` already holds (so nothing is printed twice)."""
    seen = {line.strip() for line in shown.splitlines() if line.strip()}
    seen.add(headline(report).strip())  # the test summary's line
    first = getattr(report, "diagnosis", None)
    if first:  # the short message rewrote the first diagnosis line; leave the original out too
        d = first[0]
        seen.add(f"1. {d.id} at {d.parameter} (layer {d.layer}): {d.detail}")
    if first is not None and len(first) == 1:  # its header would head nothing
        seen.add("diagnosis, most likely first:")
    return "\n".join(line for line in report.summary().splitlines() if line.strip() not in seen)
