"""The crosscheck_audit fixture and --crosscheck-audit-baseline: a pinned project learns at the upgrade
PR which torch/JAX answer changed (the change is faked by editing a recorded answer and version)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("jax")

from crosscheck.audit import baseline as bl  # noqa: E402
from crosscheck.audit.probes import run_audit  # noqa: E402

USER_TEST = """
def test_semantics_as_pinned(crosscheck_audit):
    result = crosscheck_audit(functions=["softplus"])
    assert result.rows
"""


@pytest.fixture(scope="module")
def softplus_baseline(tmp_path_factory):
    path = tmp_path_factory.mktemp("audit") / "audit.json"
    bl.save(run_audit(functions=["softplus"]), str(path))
    return path


def test_option_and_ini_are_listed(pytester):
    out = pytester.runpytest("--help").stdout.str()
    assert "--crosscheck-audit-baseline" in out and "crosscheck_audit_baseline" in out


def test_an_unchanged_baseline_passes(pytester, softplus_baseline):
    pytester.makepyfile(USER_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider", f"--crosscheck-audit-baseline={softplus_baseline}")
    result.assert_outcomes(passed=1)


def test_a_changed_answer_fails_the_test_naming_it(pytester, softplus_baseline, tmp_path):
    data = json.loads(softplus_baseline.read_text())
    key = "softplus | default threshold | torch.nn.Softplus / jax.nn.softplus"
    data["answers"][key]["torch"] = 30.0  # as if the older torch had another threshold
    data["versions"]["torch"] = "2.12.0"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    pytester.makeini(f"[pytest]\ncrosscheck_audit_baseline = {old}\n")
    pytester.makepyfile(USER_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert f"CHANGED {key}: was torch 30.0" in out
    assert "torch 2.12.0" in out and "now torch 20.0" in out


def test_a_missing_baseline_fails_with_one_line(pytester, tmp_path):
    pytester.makepyfile(USER_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider", f"--crosscheck-audit-baseline={tmp_path / 'nope.json'}")
    result.assert_outcomes(failed=1)
    assert "crosscheck audit: cannot read the baseline" in result.stdout.str()
