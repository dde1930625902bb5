"""The CI files: both workflows are valid YAML, the project workflow runs exactly .ci/run's test
command, and the example user workflow uses options that crosscheck and its plugin really have."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from crosscheck.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / ".github" / "workflows" / "ci.yml"
USER = ROOT / "ci" / "example-user-workflow.yml"
CI_RUN = ROOT / ".ci" / "run"


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict) and "jobs" in data
    # YAML 1.1 reads the bare key `on` as True
    assert data.get("on", data.get(True)), f"{path.name}: no trigger"
    return data


def _run_lines(workflow: dict) -> list[str]:
    return [line.strip() for job in workflow["jobs"].values() for step in job["steps"]
            for line in str(step.get("run", "")).splitlines() if line.strip()]


def _ci_run_commands() -> list[str]:
    lines = [line.strip() for line in CI_RUN.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_both_workflows_are_valid_yaml():
    for path in (PROJECT, USER):
        for job in _load(path)["jobs"].values():
            assert job["runs-on"] and job["steps"]
            for step in job["steps"]:
                assert ("uses" in step) != ("run" in step), step


def test_project_workflow_runs_the_test_command_of_ci_run():
    test_commands = [c for c in _ci_run_commands() if "pytest" in c]
    assert len(test_commands) == 1, test_commands
    assert test_commands[0] in (ROOT / "README.md").read_text(), "README and .ci/run disagree"
    runs = _run_lines(_load(PROJECT))
    assert test_commands[0] in runs, f"{test_commands[0]!r} is not a step of {PROJECT.name}"
    # and the README's fresh-machine path itself runs in a job
    assert "bash .ci/run" in runs


def test_project_workflow_installs_like_ci_run_with_the_pinned_constraints():
    install = next(c for c in _ci_run_commands() if "pip install" in c)
    assert "-c ci/constraints.txt -e" in install
    runs = _run_lines(_load(PROJECT))
    assert 'pip install -c ci/constraints.txt -e ".[${{ matrix.extras }}]"' in runs


def test_project_matrix_covers_python_versions_and_backend_sets():
    job = _load(PROJECT)["jobs"]["tests"]
    matrix = job["strategy"]["matrix"]
    assert matrix["python"] == ["3.10", "3.11", "3.12"]  # strings: a bare 3.10 is the float 3.1
    assert set(matrix["backends"]) == {"numpy", "torch", "jax", "all"}
    extras = {inc["backends"]: set(inc["extras"].split(",")) for inc in matrix["include"]}
    assert extras == {"numpy": {"test"}, "torch": {"test", "torch"}, "jax": {"test", "jax"},
                      "all": {"test", "all"}}
    assert job["strategy"]["fail-fast"] is False


def test_project_workflow_uploads_junit_and_the_sweep_json():
    job = _load(PROJECT)["jobs"]["tests"]
    assert "--junitxml=reports/junit-" in job["env"]["PYTEST_ADDOPTS"]
    sweep = next(line for line in _run_lines({"jobs": {"t": job}}) if line.startswith("crosscheck sweep"))
    args = shlex.split(sweep.replace("${{ matrix.python }}", "3.12").replace("${{ matrix.backends }}", "all"))
    parsed = build_parser().parse_args(args[1:])
    assert parsed.json.startswith("reports/sweep-") and parsed.examples
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert "reports/junit-*.xml" in upload["with"]["path"] and "reports/sweep-*.json" in upload["with"]["path"]
    assert "cancelled()" in upload["if"]  # reports are uploaded when the tests fail, too


def test_user_workflow_pins_frameworks_and_uses_the_plugin(pytester):
    data = _load(USER)
    pins = data["env"]["FRAMEWORK_PINS"].split()
    assert any(p.startswith("torch==") for p in pins) and any(p.startswith("jax==") for p in pins)
    pytest_line = next(line for line in _run_lines(data) if line.startswith("python -m pytest"))
    args = shlex.split(pytest_line)[3:]
    assert "--crosscheck-profile" in args and any(a.startswith("--junitxml") for a in args)
    config = pytester.parseconfig(*[a for a in args if a not in ("-n", "auto")])  # the plugin knows them
    assert config.getoption("crosscheck_profile") == "ci"
    assert config.getoption("crosscheck_backends") == "numpy,torch,jax"


def test_user_workflow_sweep_shards_cover_every_shard():
    job = _load(USER)["jobs"]["sweep"]
    shards = job["strategy"]["matrix"]["shard"]
    line = next(line for line in _run_lines({"jobs": {"s": job}}) if line.startswith("crosscheck sweep"))
    n = int(re.search(r"--shard \$\{\{ matrix\.shard \}\}/(\d+)", line).group(1))
    assert shards == list(range(1, n + 1))
    for shard in shards:
        args = shlex.split(line.replace("${{ matrix.shard }}", str(shard)))
        parsed = build_parser().parse_args(args[1:])
        assert parsed.shard == f"{shard}/{n}" and parsed.json == f"reports/sweep-{shard}.json"
    assert job["strategy"]["fail-fast"] is False


@pytest.mark.parametrize("path", [PROJECT, USER])
def test_no_tabs_and_quoted_versions(path):
    text = path.read_text()
    assert "\t" not in text
    assert not re.search(r"python-version:\s*3\.\d+\s*$", text, re.M), "quote python versions"
