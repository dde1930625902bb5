"""The plugin's --crosscheck-forbid-import: what check_implementation forbids when a test says nothing."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

IMPL = '''
import numpy as np

def backprop(params, X, Y):
    try:
        import colorsys  # noqa: F401 - what the course forbids, caught
    except ImportError:
        pass
    (W, b), = params
    delta = W @ X + b[:, None] - Y
    return [(delta @ X.T, delta.sum(axis=1))]
'''

TEST = '''
import pytest
import crosscheck
from crosscheck.errors import ImplementationError
from impl import backprop

OPTIONS = dict(batch="columns", weights="out_in", bias="vector", params="pairs", depth=1, output="identity",
               loss="half_sse", reduction="sum", examples=2)

def test_backprop():
    crosscheck.check_implementation(backprop, **OPTIONS)

def test_an_explicit_list_wins():
    crosscheck.check_implementation(backprop, forbid_imports=[], **OPTIONS)
'''


@pytest.fixture
def project(pytester):
    pytester.makepyfile(impl=IMPL, test_impl=TEST)
    pytester.syspathinsert()
    return pytester


def test_without_the_option_nothing_is_forbidden(project):
    project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_the_option_forbids_for_every_check_implementation(project):
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--crosscheck-forbid-import", "colorsys")
    result.assert_outcomes(passed=1, failed=1)
    # the file as the user knows it (as root the sandbox loads a copy the unprivileged worker can read)
    result.stdout.fnmatch_lines([f"*forbidden import: colorsys (import of colorsys at {project.path / 'impl.py'}:5)*"])


def test_a_bad_module_name_stops_the_run(project):
    result = project.runpytest_subprocess("--crosscheck-forbid-import", "colorsys;rm")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--crosscheck-forbid-import: forbidden import 'colorsys;rm' is not a module name*"])
