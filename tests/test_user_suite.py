"""crosscheck in a user's own suite (examples/your_model: a NumPy backprop and a torch model), run
through pytester in a fresh pytest process as a CI maintainer runs it. The plugin must keep out
of the way: a failing check shows its diagnosis near the top and nowhere twice, the user's own
``slow`` and ``gpu`` markers behave as without crosscheck, and ``pytest path/to/tests`` works
from any directory."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "your_model"

FAILING = '''
from test_model import LAYOUT

import crosscheck


OPTIONS = dict(LAYOUT, hidden="tanh", output="identity", loss="softmax_ce", reduction="mean", targets="labels",
               depth=2, examples=10)


def test_forgotten_derivative_is_named():
    crosscheck.check_implementation("numpy_mlp.py:backprop_forgot_tanh_derivative", **OPTIONS)
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache"))
    for var in ("CROSSCHECK_PROFILE", "CI", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(var, raising=False)
    return pytester


def _outcomes(result: pytest.RunResult) -> dict[str, str]:
    """{test name: PASSED/SKIPPED/...} from ``-rA``'s short summary."""
    found = {}
    for line in result.outlines:
        m = re.match(r"^(PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS) \S*::(\w+)", line)
        if m:
            found[m.group(2)] = m.group(1)
    return found


def test_the_suite_passes_from_any_directory(project, monkeypatch):
    elsewhere = project.mkdir("somewhere_else")
    monkeypatch.chdir(elsewhere)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-rA", str(project.path / "tests"), timeout=300)
    assert _outcomes(result) == {"test_numpy_backprop_matches_my_torch_model": "PASSED",
                                 "test_numpy_backprop_matches_the_reference": "PASSED",
                                 "test_our_own_slow_test": "PASSED", "test_our_own_gpu_test": "PASSED"}, \
        result.stdout.str()[-3000:]
    assert result.ret == 0


def test_a_missing_target_says_where_it_looked(project):
    project.makepyfile(tests__test_missing="""
        import pytest, crosscheck
        def test_missing():
            with pytest.raises(crosscheck.UsageError, match="looked in .*tests.* and the current directory"):
                crosscheck.check_implementation("nowhere.py:backprop", examples=1)
    """)
    project.path.joinpath("tests__test_missing.py").rename(project.path / "tests" / "test_missing.py")
    project.runpytest_subprocess("-p", "no:cacheprovider", "tests/test_missing.py").assert_outcomes(passed=1)


@pytest.mark.parametrize("marks", ["slow", "gpu", "slow or gpu", "not slow and not gpu"])
def test_the_users_own_markers_behave_as_without_crosscheck(project, marks):
    args = ("-p", "no:cacheprovider", "-rA", "-m", marks, "-k", "our_own")
    with_plugin = _outcomes(project.runpytest_subprocess(*args))
    without = _outcomes(project.runpytest_subprocess("-p", "no:crosscheck", *args))
    assert with_plugin == without
    if "not" not in marks:
        assert with_plugin and set(with_plugin.values()) == {"PASSED"}  # the user's gpu test is not skipped


def test_the_plugin_registers_only_namespaced_markers(project):
    result = project.runpytest_subprocess("--markers")
    text = result.stdout.str()
    assert "@pytest.mark.crosscheck_slow" in text and "@pytest.mark.crosscheck_gpu" in text
    # the user's own registrations, not crosscheck's, are the ones listed
    assert "@pytest.mark.slow: our own long tests" in text
    assert "@pytest.mark.gpu: our own tests that need a GPU" in text
    assert "deselected by default" not in text


@pytest.mark.parametrize("ci", [False, True])
def test_a_failing_check_shows_its_diagnosis_first_and_once(project, monkeypatch, ci):
    if ci:
        monkeypatch.setenv("CI", "true")  # pytest then prints whole messages in the short summary
    (project.path / "tests" / "test_failing.py").write_text(FAILING)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "tests/test_failing.py", timeout=300)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lines = result.outlines
    diagnosis = [i for i, line in enumerate(lines) if "sigma'(Z) is missing from delta" in line]
    assert len(diagnosis) == 1, "\n".join(lines)  # nowhere twice: not in the report section, not in the summary
    assert diagnosis[0] < 15, "\n".join(lines[:30])
    text = result.stdout.str()
    assert "def check_implementation" not in text  # crosscheck's own frames are hidden
    assert text.count("reproduce: crosscheck check") == 1
    assert "crosscheck report" in text and "expected dW1" in text  # the full report, in its own section
    summary = [line for line in lines if line.startswith("FAILED ")]
    assert len(summary) == 1 and (not ci or "[missing_activation_derivative]" in summary[0]), summary
    assert lines[-1].startswith("=") and lines.index(summary[0]) == len(lines) - 2  # the summary is one line


def test_the_chosen_profile_reaches_the_users_own_given_tests(project):
    (project.path / "tests" / "test_given.py").write_text('''
from hypothesis import given, settings, strategies as st

@given(st.integers())
def test_profile(x):
    assert settings.default.derandomize is True and settings.default.database is None
''')
    args = ("-p", "no:cacheprovider", "tests/test_given.py")
    project.runpytest_subprocess(*args, "--crosscheck-profile", "ci").assert_outcomes(passed=1)
    project.runpytest_subprocess(*args).assert_outcomes(failed=1)  # the user's own default: not derandomized
    # an explicit --hypothesis-profile still wins
    (project.path / "conftest.py").write_text("from hypothesis import settings\n"
                                              "settings.register_profile('mine', derandomize=False)\n")
    project.runpytest_subprocess(*args, "--crosscheck-profile", "ci", "--hypothesis-profile", "mine") \
        .assert_outcomes(failed=1)


def test_the_example_compares_a_torch_model_with_numpy_backprop_in_five_lines():
    import runpy
    import sys

    text = (EXAMPLE / "compare.py").read_text()
    body = text.split("# the comparison\n", 1)[1].split("\n\n", 1)[0]
    assert len(body.strip().splitlines()) == 5
    sys.path.insert(0, str(EXAMPLE))
    try:
        runpy.run_path(str(EXAMPLE / "compare.py"), run_name="__main__")
    finally:
        sys.path.remove(str(EXAMPLE))
