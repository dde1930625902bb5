"""Hypothesis profiles: their settings, the selection order, and registration under prefixed names."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, settings

from crosscheck import profiles
from crosscheck.errors import UsageError


@pytest.fixture
def clean_env(monkeypatch):
    """No profile from the environment or the plugin: the bare default applies."""
    monkeypatch.delenv("CROSSCHECK_PROFILE", raising=False)
    monkeypatch.delenv("CI", raising=False)
    previous = profiles.set_current_profile(None)
    yield monkeypatch
    profiles.set_current_profile(previous)


def test_ci_profile_is_reproducible_and_writes_no_database():
    s = profiles.settings_for("ci")
    assert s.derandomize is True
    assert s.deadline is None
    assert s.database is None
    assert s.print_blob is True
    assert HealthCheck.too_slow in s.suppress_health_check
    assert 50 <= s.max_examples <= 500


def test_dev_is_fast_and_thorough_is_large():
    dev, ci, thorough = (profiles.settings_for(p).max_examples for p in ("dev", "ci", "thorough"))
    assert dev < ci < thorough
    assert dev <= 25 and thorough >= 1000
    assert profiles.settings_for("dev").deadline is None


def test_overrides_win_and_bad_ones_are_usage_errors():
    s = profiles.settings_for("ci", max_examples=7)
    assert s.max_examples == 7 and s.derandomize is True
    with pytest.raises(UsageError, match="bad hypothesis setting"):
        profiles.settings_for("ci", max_examples=-3)
    with pytest.raises(UsageError, match="bad hypothesis setting"):
        profiles.settings_for("ci", no_such_setting=1)


def test_unknown_profile_is_a_usage_error_naming_the_choices():
    with pytest.raises(UsageError, match="'fast' is not a crosscheck profile; choose one of ci, dev, thorough"):
        profiles.settings_for("fast")
    with pytest.raises(UsageError):
        profiles.set_current_profile("fast")


def test_selection_order(clean_env):
    assert profiles.current_profile() == "dev"
    clean_env.setenv("CI", "true")
    assert profiles.current_profile() == "ci"
    clean_env.setenv("CROSSCHECK_PROFILE", "thorough")
    assert profiles.current_profile() == "thorough"
    profiles.set_current_profile("dev")  # the pytest plugin's choice beats the environment
    assert profiles.current_profile() == "dev"
    assert profiles.current_profile("ci") == "ci"  # an explicit argument beats everything
    assert profiles.settings_for().max_examples == profiles.PROFILES["dev"]["max_examples"]


@pytest.mark.parametrize("value,expected", [("1", "ci"), ("TRUE", "ci"), ("yes", "ci"), ("0", "dev"),
                                            ("false", "dev"), ("", "dev")])
def test_ci_variable_truthiness(clean_env, value, expected):
    clean_env.setenv("CI", value)
    assert profiles.current_profile() == expected


def test_bad_environment_profile_names_the_variable(clean_env):
    clean_env.setenv("CROSSCHECK_PROFILE", "nightly")
    with pytest.raises(UsageError, match="CROSSCHECK_PROFILE"):
        profiles.current_profile()


def test_set_current_profile_returns_previous_for_restoring(clean_env):
    assert profiles.set_current_profile("thorough") is None
    assert profiles.set_current_profile(None) == "thorough"
    assert profiles.current_profile() == "dev"


def test_register_profiles_uses_prefixed_names_and_keeps_users_own():
    try:
        saved = settings.get_profile("ci")
    except Exception:  # noqa: BLE001 - hypothesis raises InvalidArgument for an unknown profile
        saved = None
    settings.register_profile("ci", max_examples=3)
    try:
        names = profiles.register_profiles()
        assert names == ("crosscheck-ci", "crosscheck-dev", "crosscheck-thorough")
        assert settings.get_profile("ci").max_examples == 3
        assert settings.get_profile("crosscheck-ci").derandomize is True
        assert settings.get_profile("crosscheck-ci").database is None
        assert settings.get_profile("crosscheck-thorough").max_examples == 1000
    finally:  # leave no 3-example profile behind for other tests
        if saved is not None:
            settings.register_profile("ci", parent=saved)
        else:
            settings.register_profile("ci")


def test_profile_values_are_plain_data():
    v = profiles.profile_values("ci")
    assert v["health_checks"] == ("too_slow",) and v["database"] is None
    v["max_examples"] = 1
    assert profiles.PROFILES["ci"]["max_examples"] != 1  # a copy


def test_importing_profiles_does_not_import_hypothesis():
    code = "import sys, crosscheck.profiles; print('hypothesis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_explain_phase():
    from hypothesis import Phase

    for name in profiles.PROFILE_NAMES:
        phases = profiles.settings_for(name).phases
        assert Phase.explain not in phases and Phase.generate in phases and Phase.shrink in phases


def test_thorough_scales_the_projects_pinned_examples(clean_env):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    runs = []

    @settings(max_examples=7, database=None)
    @given(st.integers())
    def law(x):
        runs.append(x)

    assert profiles.scale_pinned_examples([law], "dev") == 0
    law()
    dev = len(runs)
    runs.clear()
    assert profiles.scale_pinned_examples([law], "thorough") == 1
    assert profiles.scale_pinned_examples([law], "thorough") == 0  # never twice
    law()
    assert dev <= 7 and len(runs) > dev and len(runs) <= 7 * profiles.SUITE_SCALE["thorough"]
    assert profiles.suite_scale("thorough") > profiles.suite_scale("dev") == profiles.suite_scale("ci") == 1
