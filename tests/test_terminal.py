"""crosscheck.terminal: tables that fit, progress and colour only on a TTY; the audit's table within
100 columns and honest about who differs."""

from __future__ import annotations

import io

import pytest

from crosscheck import terminal


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_table_fits_by_shrinking_the_flexible_column_first():
    rows = [["function", "aspect", "torch"], ["gelu", "derivative at a very long description " * 3, "0.5"]]
    lines = terminal.fit_table(rows, 60, flexible=(1,))
    assert max(map(len, lines)) <= 60
    assert lines[1].startswith("gelu") and lines[1].rstrip().endswith("0.5") and "..." in lines[1]
    # a table that fits is left alone
    assert terminal.fit_table([["a", "b"], ["cc", "d"]], 60) == ["a   b", "cc  d"]


def test_width_is_100_in_a_log_and_columns_wins(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert terminal.width(io.StringIO()) == terminal.LOG_WIDTH == 100
    monkeypatch.setenv("COLUMNS", "132")
    assert terminal.width(io.StringIO()) == 132


def test_colour_only_on_a_tty_and_never_with_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    assert terminal.colour("FAIL", "red", io.StringIO()) == "FAIL"
    assert terminal.colour("FAIL", "red", _Tty()) == "\033[31mFAIL\033[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert terminal.colour("FAIL", "red", _Tty()) == "FAIL"


def test_progress_is_silent_off_a_tty_and_in_ci_and_before_two_seconds(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    log = io.StringIO()
    p = terminal.Progress("sweep", stream=log, after=0)
    p.update(1, 10)
    assert log.getvalue() == ""  # not a TTY
    tty = _Tty()
    p = terminal.Progress("sweep", stream=tty, after=60)
    p.update(1, 10)
    assert tty.getvalue() == ""  # a short run prints nothing
    monkeypatch.setenv("CI", "true")
    assert not terminal.Progress("sweep", stream=_Tty()).enabled


def test_progress_line_has_an_eta_and_is_cleared(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    tty = _Tty()
    p = terminal.Progress("audit", stream=tty, after=0)
    assert p.line(5, 20, now=p.t0 + 10) == "audit  5/20  ETA 30 s"
    p.update(5, 20)
    assert "5/20" in tty.getvalue() and "ETA" in tty.getvalue()
    p.close()
    assert tty.getvalue().endswith("\r")


def _audit_result():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    from crosscheck.audit.probes import run_audit

    return run_audit(functions=["relu", "leaky_relu"], optax=False, flax=False)


def test_the_audit_table_fits_100_columns_and_says_when_only_the_reference_differs(monkeypatch):
    from crosscheck.audit.report import format_table, to_json

    result = _audit_result()
    text = format_table(result, columns=100)
    assert max(map(len, text.splitlines())) <= 100
    # relu spelled with maximum: torch and JAX both give 1/2 at the kink, the reference 0
    row = next(line for line in text.splitlines() if line.strip().startswith("relu (maximum)"))
    assert row.rstrip().endswith("ref differs"), row
    # where torch and JAX differ from each other, the column says no
    leaky = next(line for line in text.splitlines() if line.strip().startswith("leaky_relu") and "kink" in line)
    assert leaky.rstrip().endswith("no"), leaky
    data = to_json(result)
    assert list(data)[:2] == ["schema", "crosscheck"] and data["schema"] == "crosscheck.audit/1"


def test_the_sweep_verdict_is_coloured_only_on_a_tty(monkeypatch):
    from types import SimpleNamespace

    from crosscheck.sweep import report

    monkeypatch.setattr(report, "sweep_report", lambda result: "crosscheck sweep PASSED: 3 cases in 1.0 s\n  x")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    log, tty = io.StringIO(), _Tty()
    report.print_sweep(SimpleNamespace(), file=log)
    report.print_sweep(SimpleNamespace(), file=tty)
    assert "\033[" not in log.getvalue()
    assert "sweep \033[32mPASSED\033[0m: 3 cases" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    tty = _Tty()
    report.print_sweep(SimpleNamespace(), file=tty)
    assert "\033[" not in tty.getvalue()
