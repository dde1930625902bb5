"""The pytest plugin, exercised through pytester in a throw-away project (in-process unless noted)."""

from __future__ import annotations

import json
from importlib.util import find_spec

import pytest

from crosscheck import profiles
from crosscheck.pytest_plugin import cuda_available

INSTALLED = tuple(n for n in ("numpy", "torch", "jax") if n == "numpy" or find_spec(n) is not None)

SHOW_CONFIG = """
import json
from crosscheck import profiles

def test_show(crosscheck_config):
    c = crosscheck_config
    print("CONFIG=" + json.dumps({"backends": c.backends, "profile": c.profile, "device": c.device,
                                  "shard": c.shard, "current": profiles.current_profile(),
                                  "derandomize": c.settings.derandomize,
                                  "max_examples": c.settings.max_examples}))
"""


def _config_of(result) -> dict:
    for line in result.outlines:
        if "CONFIG=" in line:
            return json.loads(line.split("CONFIG=", 1)[1])
    raise AssertionError("the inner test printed no CONFIG line:\n" + "\n".join(result.outlines))


@pytest.fixture
def no_profile_env(monkeypatch):
    monkeypatch.delenv("CROSSCHECK_PROFILE", raising=False)
    monkeypatch.delenv("CI", raising=False)
    previous = profiles.set_current_profile(None)
    yield monkeypatch
    profiles.set_current_profile(previous)


def test_help_lists_the_options(pytester):
    result = pytester.runpytest("--help")
    assert result.ret == 0
    out = result.stdout.str()
    for opt in ("--crosscheck-backends", "--crosscheck-profile", "--crosscheck-device", "--crosscheck-shard"):
        assert opt in out
    assert "crosscheck_profile" in out  # the ini key


def test_markers_are_registered_for_strict_markers(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.crosscheck
        @pytest.mark.crosscheck_slow
        def test_a():
            pass

        @pytest.mark.crosscheck_gpu
        def test_b():
            pass
    """)
    result = pytester.runpytest("--strict-markers", "-rs")
    assert result.ret == 0
    result.assert_outcomes(passed=2 if cuda_available()[0] else 1, skipped=0 if cuda_available()[0] else 1)
    markers = pytester.runpytest("--markers").stdout.str()
    for m in ("@pytest.mark.crosscheck(", "@pytest.mark.crosscheck_slow:", "@pytest.mark.crosscheck_gpu:"):
        assert m in markers
    # generic names stay the project's own: unregistered, --strict-markers refuses them as without crosscheck
    assert "@pytest.mark.slow:" not in markers and "@pytest.mark.gpu:" not in markers


def test_the_sweep_and_audit_fixtures_are_marked_crosscheck_slow(pytester):
    pytester.makepyfile("""
        def test_sweep(crosscheck_sweep):
            pass

        def test_config(crosscheck_config):
            pass
    """)
    pytester.runpytest("-m", "not crosscheck_slow").assert_outcomes(passed=1, deselected=1)
    pytester.runpytest().assert_outcomes(passed=2)  # nothing is deselected by default


@pytest.mark.skipif(cuda_available()[0], reason="this machine has a CUDA device")
def test_gpu_tests_are_skipped_with_the_reason(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.crosscheck_gpu
        def test_needs_cuda():
            raise AssertionError("must not run without CUDA")
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*crosscheck_gpu test: no CUDA device (*)*"])


def test_default_config(pytester, no_profile_env):
    pytester.makepyfile(SHOW_CONFIG)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    c = _config_of(result)
    assert c["backends"] == list(INSTALLED)
    assert c["profile"] == c["current"] == "dev"
    assert c["device"] == "cpu" and c["shard"] is None
    assert c["max_examples"] == profiles.PROFILES["dev"]["max_examples"]


def test_profile_option_is_process_wide_and_restored(pytester, no_profile_env):
    pytester.makepyfile(SHOW_CONFIG)
    result = pytester.runpytest("-s", "--crosscheck-profile", "ci", "--crosscheck-backends", "numpy")
    result.assert_outcomes(passed=1)
    c = _config_of(result)
    assert c["profile"] == c["current"] == "ci"
    assert c["derandomize"] is True and c["backends"] == ["numpy"]
    # the inner session is over: its choice must not leak into this process
    assert profiles.current_profile() == "dev"
    result.stdout.fnmatch_lines(["crosscheck: profile ci, backends numpy, device cpu"])  # the header


def test_environment_and_ini_choose_the_profile(pytester, no_profile_env):
    pytester.makepyfile(SHOW_CONFIG)
    no_profile_env.setenv("CI", "true")
    assert _config_of(pytester.runpytest("-s"))["profile"] == "ci"
    no_profile_env.setenv("CROSSCHECK_PROFILE", "thorough")
    assert _config_of(pytester.runpytest("-s"))["profile"] == "thorough"
    pytester.makeini("[pytest]\ncrosscheck_profile = dev\ncrosscheck_backends = numpy\n")
    c = _config_of(pytester.runpytest("-s"))
    assert c["profile"] == "dev" and c["backends"] == ["numpy"]
    c = _config_of(pytester.runpytest("-s", "--crosscheck-profile", "ci"))  # the command line wins
    assert c["profile"] == "ci"


def test_unknown_backend_stops_the_run_with_one_line(pytester):
    pytester.makepyfile(SHOW_CONFIG)
    result = pytester.runpytest("--crosscheck-backends", "numpy,tensorflow")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*crosscheck: --crosscheck-backends: unknown backend 'tensorflow'; "
                                 "choose from numpy, torch, jax*"])


def test_missing_backend_asked_by_name_is_a_usage_error(pytester, monkeypatch):
    import crosscheck.pytest_plugin as plugin

    real = plugin.available_backends
    monkeypatch.setattr(plugin, "available_backends",
                        lambda: dict(real(), jax="jax is not installed (pip install 'crosscheck-grad[jax]')"))
    pytester.makepyfile(SHOW_CONFIG)
    result = pytester.runpytest("--crosscheck-backends", "numpy,jax")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "jax was asked for, but jax is not installed (pip install 'crosscheck-grad[jax]')" in result.stderr.str()
    # not asked for: left out and listed, not an error
    result = pytester.runpytest("-s", "-v")
    assert "jax" not in _config_of(result)["backends"]
    result.stdout.fnmatch_lines(["crosscheck: *(missing: *jax)*"])  # torch may be missing too


def test_bad_profile_and_device_are_usage_errors(pytester):
    pytester.makepyfile(SHOW_CONFIG)
    result = pytester.runpytest("--crosscheck-profile", "fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    pytester.makeini("[pytest]\ncrosscheck_device = tpu\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*crosscheck_device 'tpu': choose cpu or cuda*"])


@pytest.mark.skipif(cuda_available()[0], reason="this machine has a CUDA device")
def test_cuda_device_without_cuda_fails_tests_that_use_it(pytester):
    pytester.makepyfile(SHOW_CONFIG + "\ndef test_other():\n    pass\n")
    result = pytester.runpytest("--crosscheck-device", "cuda")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*--crosscheck-device cuda, but there is no CUDA device*"])


def test_backend_marker_skips_unconfigured_backends_and_fixture_users_are_marked(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.crosscheck(backends=["torch"])
        def test_torch_only():
            pass

        def test_uses_fixture(crosscheck_config):
            assert crosscheck_config.backends == ("numpy",)

        def test_plain():
            pass
    """)
    result = pytester.runpytest("--crosscheck-backends", "numpy", "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*crosscheck backend 'torch' not configured*"])
    # tests that use the fixture carry the crosscheck marker, so -m crosscheck selects them
    result = pytester.runpytest("--crosscheck-backends", "numpy", "-m", "crosscheck and not crosscheck_slow", "-rs")
    result.assert_outcomes(passed=1, skipped=1, deselected=1)


def test_hypothesis_profile_option_finds_the_prefixed_profiles(pytester):
    from hypothesis import settings

    outer = settings.get_current_profile_name()
    pytester.makepyfile("""
        from hypothesis import settings

        def test_loaded():
            assert settings.get_current_profile_name() == "crosscheck-ci"
            assert settings.default.derandomize and settings.default.database is None
    """)
    try:
        result = pytester.runpytest("--hypothesis-profile", "crosscheck-ci")
    finally:
        settings.load_profile(outer)  # the inner run loaded a profile into this process
    result.assert_outcomes(passed=1)


def test_startup_imports_no_framework(pytester):
    pytester.makepyfile("""
        import sys

        def test_nothing_heavy_loaded():
            heavy = [m for m in ("torch", "jax", "hypothesis") if m in sys.modules]
            assert heavy == [], heavy
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_options_reach_xdist_workers(pytester, no_profile_env):
    # worker output is not shown under xdist, so the inner tests assert; one must fail to prove they can
    pytester.makepyfile("""
        import pytest
        from crosscheck import profiles

        @pytest.mark.parametrize("i", range(4))
        def test_worker_sees_options(crosscheck_config, i):
            assert crosscheck_config.profile == profiles.current_profile() == "thorough"
            assert crosscheck_config.backends == ("numpy",)
            assert crosscheck_config.settings.max_examples == 1000

        def test_control(crosscheck_config):
            assert crosscheck_config.profile == "dev", "control"
    """)
    result = pytester.runpytest_subprocess("-n", "2", "--crosscheck-profile", "thorough",
                                           "--crosscheck-backends", "numpy")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: control*"])
    assert not (pytester.path / ".hypothesis").exists()


def test_shard_option_is_parsed_and_validated(pytester):
    pytester.makepyfile(SHOW_CONFIG)
    assert _config_of(pytester.runpytest("-s", "--crosscheck-shard", "2/5"))["shard"] == [2, 5]
    result = pytester.runpytest("--crosscheck-shard", "6/5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*crosscheck: --shard I/N needs 1 <= I <= N, got '6/5'*"])


class _FakeResult:
    def __init__(self, passed: bool):
        self.passed = passed

    def report_text(self) -> str:
        return "FAKE SWEEP REPORT: minimal network 3-2-4, reproduce with: crosscheck sweep --replay ..."


def test_sweep_fixture_passes_the_options_and_fails_with_the_report(pytester, monkeypatch, no_profile_env):
    import crosscheck.sweep.run as sweep

    seen = []

    def fake_run_sweep(config, *, progress=False):
        seen.append(config)
        return _FakeResult(passed=config.seed != 13)

    monkeypatch.setattr(sweep, "run_sweep", fake_run_sweep)
    pytester.makepyfile("""
        def test_passes(crosscheck_sweep):
            assert crosscheck_sweep(examples=5).passed

        def test_fails(crosscheck_sweep):
            crosscheck_sweep(seed=13)

        def test_unchecked(crosscheck_sweep):
            assert not crosscheck_sweep(seed=13, check=False).passed

        def test_bad_option(crosscheck_sweep):
            crosscheck_sweep(no_such_option=1)
    """)
    result = pytester.runpytest("--crosscheck-backends", "numpy", "--crosscheck-profile",
                                "ci", "--crosscheck-shard", "2/3")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*FAKE SWEEP REPORT: minimal network 3-2-4*", "*crosscheck sweep: bad sweep option*"])
    assert len(seen) == 3
    assert seen[0].backends == ("numpy",) and seen[0].profile == "ci" and seen[0].shard == (2, 3)
    assert seen[0].device == "cpu" and seen[0].examples == 5


SHARD_TEST = """
import json, os

def test_shard(crosscheck_sweep, crosscheck_config):
    r = crosscheck_sweep(examples=12, draws=2, seed=3, routes=("recursive", "explicit"), depth=(1, 2))
    with open(os.environ["SHARD_OUT"], "w") as f:
        json.dump({"fingerprints": r.fingerprints, "cases": r.cases, "draws": r.draws}, f)
"""


def test_sweep_shards_add_up_to_the_whole_sweep(pytester, monkeypatch):
    pytester.makepyfile(SHARD_TEST)
    runs = {}
    for shard in (None, "1/3", "2/3", "3/3"):
        out = pytester.path / f"out-{(shard or 'all').replace('/', '-')}.json"
        monkeypatch.setenv("SHARD_OUT", str(out))
        args = ["--crosscheck-backends", "numpy", "--crosscheck-profile", "ci"]
        result = pytester.runpytest(*args, *(["--crosscheck-shard", shard] if shard else []))
        result.assert_outcomes(passed=1)
        runs[shard] = json.loads(out.read_text())
    whole = runs[None]["fingerprints"]
    parts = [runs[s]["fingerprints"] for s in ("1/3", "2/3", "3/3")]
    assert len(whole) == 12 and len(set(whole)) == 12
    assert sorted(f for p in parts for f in p) == sorted(whole)  # every case once, none twice
    assert all(parts), "each shard got some of the cases"
    assert sum(runs[s]["draws"] for s in ("1/3", "2/3", "3/3")) == runs[None]["draws"]


IMPL = """
import numpy as np

def backprop(params, X, Y):  # columns / out_in / vector / pairs, identity output, half_sse summed
    (W, b), = params
    delta = W @ X + b[:, None] - Y
    return [(delta @ X.T, delta.sum(axis=1))]
"""


def test_check_implementation_honours_the_plugins_profile(pytester, no_profile_env):
    pytester.makepyfile(impl=IMPL, test_impl="""
        import crosscheck
        from impl import backprop

        OPTIONS = dict(batch="columns", weights="out_in", bias="vector", params="pairs", depth=1,
                       output="identity", loss="half_sse", reduction="sum")

        def test_profile_decides_the_examples():
            report = crosscheck.check_implementation(backprop, **OPTIONS)
            assert (report.profile, report.max_examples) == ("dev", 20)

        def test_explicit_examples_win():
            report = crosscheck.check_implementation(backprop, examples=3, **OPTIONS)
            assert (report.profile, report.max_examples) == ("dev", 3)
    """)
    pytester.runpytest("--crosscheck-profile", "dev").assert_outcomes(passed=2)
    # the same tests under another profile: the first must now fail, so the assertion can fail
    result = pytester.runpytest("--crosscheck-profile", "ci")
    result.assert_outcomes(passed=0, failed=2)
    result.stdout.fnmatch_lines(["*('ci', 100) == ('dev', 20)*"])
