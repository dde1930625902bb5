"""One kink policy for ``check`` and ``sweep``: a difference only exactly at a kink, explained by
another subgradient, is a note (exit 0) unless ``--strict-kinks``, whose failure reproduces."""

from __future__ import annotations

import json
import shlex

import pytest

from crosscheck.check.job import check_implementation
from crosscheck.cli import main
from crosscheck.errors import GradientMismatch, UsageError

TARGET = "implementations.mistakes:kink_convention"  # relu'(0) taken as 1; the declared relu uses 0
FLAGS = ["--preset", "torch", "--hidden", "relu", "--examples", "30"]


def _check(tmp_path, *argv):
    path = tmp_path / "report.json"
    seed = () if "--seed" in argv else ("--seed", "0")  # without --seed a check draws a fresh seed
    code = main(["check", *argv, *seed, "--json", str(path)])
    return code, json.loads(path.read_text())


def test_a_kink_only_difference_is_a_note_and_passes(tmp_path):
    code, report = _check(tmp_path, TARGET, *FLAGS)
    assert code == 0, report["diagnosis"]
    (note,) = report["kink_notes"]
    assert note["kind"] == "kink_convention"
    assert note["detail"].startswith(f"differs only at a kink: the reference uses relu'(0) = 0; {TARGET} uses "
                                     "relu'(0) = 1")
    assert report["strict_kinks"] is False


def test_strict_kinks_fails_it_and_the_reproduction_fails_too(tmp_path):
    code, report = _check(tmp_path, TARGET, *FLAGS, "--strict-kinks")
    assert code == 1 and report["diagnosis"][0]["id"] == "kink_convention"
    argv = shlex.split(report["reproduce"])
    assert "--strict-kinks" in argv
    assert _check(tmp_path, *argv[2:])[0] == 1
    assert _check(tmp_path, *[a for a in argv[2:] if a != "--strict-kinks"])[0] == 0


def test_check_implementation_takes_strict_kinks():
    from implementations.mistakes import kink_convention

    report = check_implementation(kink_convention, preset="torch", hidden="relu", examples=30)
    assert [n["kind"] for n in report.kink_notes] == ["kink_convention"]
    with pytest.raises(GradientMismatch) as info:
        check_implementation(kink_convention, preset="torch", hidden="relu", examples=30, strict_kinks=True)
    assert "--strict-kinks" in info.value.report.reproduce
    with pytest.raises(UsageError, match="strict_kinks"):
        check_implementation(kink_convention, preset="torch", strict_kinks="yes")


def test_a_real_mistake_on_a_kink_case_is_still_a_failure(tmp_path):
    # sign is wrong everywhere, kink or not: no subgradient explains it
    code, report = _check(tmp_path, "implementations.mistakes:sign", "--preset", "torch", "--hidden", "relu",
                          "--examples", "30")
    assert code == 1 and report["kink_notes"] == []
