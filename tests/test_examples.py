"""examples/user_project, run through pytester as a user would run it: in a fresh pytest process,
serially and under pytest-xdist, green as written and red with the mistake named when a planted
regression replaces its backprop. The JUnit XML each run writes is read back, so CI artifacts
are tested too."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from crosscheck.pytest_plugin import cuda_available

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "user_project"
USER_TESTS = ("test_backprop_matches_the_reference", "test_backprop_on_generated_cases",
              "test_frameworks_agree_with_the_reference", "test_frameworks_agree_on_the_gpu")
HAS_CUDA = cuda_available()[0]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache"))
    monkeypatch.delenv("CROSSCHECK_PROFILE", raising=False)
    return pytester


def _plant(project: pytest.Pytester, regression: str) -> None:
    shutil.copyfile(project.path / "regressions" / regression, project.path / "mybackprop.py")


def _run(project: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, dict]]:
    """Run the user's suite in a fresh process; return the result and {test: junit verdict}."""
    junit = project.path / "junit.xml"
    result = project.runpytest_subprocess("-p", "no:cacheprovider", f"--junitxml={junit}", *args, timeout=300)
    cases = {}
    for case in ET.parse(junit).iter("testcase"):
        verdict = {"outcome": "passed", "message": "", "text": ""}
        for kind in ("failure", "error", "skipped"):
            el = case.find(kind)
            if el is not None:
                verdict = {"outcome": kind, "message": el.get("message", ""), "text": el.text or ""}
        cases[case.get("name")] = verdict
    return result, cases


def _expect_green(result: pytest.RunResult, cases: dict[str, dict]) -> None:
    assert set(cases) == set(USER_TESTS), cases
    for name in USER_TESTS[:3]:
        assert cases[name]["outcome"] == "passed", (name, cases[name], result.stdout.str()[-3000:])
    gpu = cases["test_frameworks_agree_on_the_gpu"]
    if HAS_CUDA:
        assert gpu["outcome"] == "passed", gpu
    else:
        assert gpu["outcome"] == "skipped" and "no CUDA device" in gpu["message"]
    assert result.ret == 0


def test_pytest_help_lists_the_crosscheck_options(project):
    result = project.runpytest_subprocess("--help")
    assert result.ret == 0
    for opt in ("--crosscheck-backends", "--crosscheck-profile", "--crosscheck-device", "--crosscheck-shard"):
        result.stdout.fnmatch_lines([f"*{opt}*"])


def test_correct_implementation_passes_serially(project):
    _expect_green(*_run(project, "--crosscheck-profile", "ci"))


def test_correct_implementation_passes_under_xdist(project):
    result, cases = _run(project, "-n", "2", "--crosscheck-profile", "ci")
    _expect_green(result, cases)
    result.stdout.fnmatch_lines(["*created: 2/2 workers*"])


def _expect_red(cases: dict[str, dict], diagnosis: str, hint: str) -> None:
    check = cases["test_backprop_matches_the_reference"]
    assert check["outcome"] == "failure", check
    assert "GradientMismatch" in check["text"]
    assert diagnosis in check["message"], check["message"]  # the JUnit message itself names the mistake
    given = cases["test_backprop_on_generated_cases"]
    assert given["outcome"] == "failure", given
    assert hint in given["text"], given["text"][-2000:]
    assert "@reproduce_failure(" in given["text"]  # the ci profile prints the blob
    # the sweep compares the frameworks with the reference: the user's bug does not touch it
    assert cases["test_frameworks_agree_with_the_reference"]["outcome"] == "passed"


def test_planted_transpose_fails_naming_it_serially(project):
    _plant(project, "mybackprop_transposed.py")
    result, cases = _run(project, "--crosscheck-profile", "ci")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    _expect_red(cases, "transposed", "hint: transposed")
    # hypothesis saves failing examples in .hypothesis/examples unless the profile says database=None
    assert not (project.path / ".hypothesis" / "examples").exists(), "the ci profile writes no example database"


def test_planted_missing_mean_fails_naming_it_under_xdist(project):
    _plant(project, "mybackprop_no_mean.py")
    result, cases = _run(project, "-n", "2", "--crosscheck-profile", "ci")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    _expect_red(cases, "scale", "hint: scaled by")
