"""The results formats and the Gradescope autograder bundle.

results.json is validated against the fields Gradescope documents
(https://gradescope-autograders.readthedocs.io/en/latest/specs/, "Output format", "Test case
status", "Output String Formatting", "Controlling Test Case Visibility"), and the bundle against
the layout it documents (setup.sh and run_autograder at the root of the zip; /autograder/source,
/autograder/submission, /autograder/results/results.json)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

import crosscheck
from crosscheck.cli import main
from crosscheck.grade import grade_submission, render

CORRECT = (Path(__file__).resolve().parent / "implementations" / "correct.py").read_text()
NO_RELU_MASK = CORRECT.replace("dZ = (dZ @ params[f\"W{layer}\"].T) * (Zs[layer - 2] > 0)",
                               "dZ = dZ @ params[f\"W{layer}\"].T")
CONFIG = """
[grade]
examples = 10
timeout = 2

[[check]]
name = "cs231n"
target = "nn.py:cs231n"
preset = "cs231n"
max_depth = 2
points = 10

[[check]]
name = "hangs"
target = "hang.py:f"
preset = "torch"
depth = 1
points = 2
visibility = "after_due_date"
"""
HANG = "import time\n\ndef f(params, X, Y):\n    time.sleep(3600)\n"

# ---- Gradescope's documented results.json ---------------------------------------------------------
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
NUMBER = (int, float)
TOP_LEVEL = {"score": NUMBER, "execution_time": NUMBER, "output": str, "output_format": FORMATS,
             "test_output_format": FORMATS, "test_name_format": FORMATS, "visibility": VISIBILITY,
             "stdout_visibility": VISIBILITY, "extra_data": dict, "tests": list, "leaderboard": list}
TEST = {"score": NUMBER, "max_score": NUMBER, "status": {"passed", "failed"}, "name": str, "name_format": FORMATS,
        "number": str, "output": str, "output_format": FORMATS, "tags": list, "visibility": VISIBILITY,
        "extra_data": dict}


def _conforms(value, rule) -> bool:
    if isinstance(rule, set):
        return value in rule
    return isinstance(value, rule) and not isinstance(value, bool)


def validate_gradescope(results: dict) -> None:
    """Only documented fields, each of its documented type or value; a score at the top or on every test."""
    for key, value in results.items():
        assert key in TOP_LEVEL, f"undocumented top-level field {key!r}"
        assert _conforms(value, TOP_LEVEL[key]), (key, value)
    tests = results.get("tests", [])
    assert "score" in results or all("score" in t for t in tests)
    for t in tests:
        for key, value in t.items():
            assert key in TEST, f"undocumented test field {key!r}"
            assert _conforms(value, TEST[key]), (key, value)
        assert all(isinstance(tag, str) for tag in t.get("tags", []))
        if "score" in t and "max_score" in t:
            assert 0 <= t["score"] <= t["max_score"]
    json.dumps(results, allow_nan=False)  # plain JSON: no NaN or Infinity


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("grade")
    sub = root / "submission"
    sub.mkdir()
    (sub / "nn.py").write_text(NO_RELU_MASK)
    (sub / "hang.py").write_text(HANG)
    (root / "grading.toml").write_text(CONFIG)
    return grade_submission(root / "grading.toml", sub, seed=0)


def test_gradescope_results_follow_the_documented_format(report):
    results = json.loads(render(report, "gradescope"))
    validate_gradescope(results)
    assert results["score"] == 5 and results["execution_time"] >= 0
    assert [t["name"] for t in results["tests"]] == ["cs231n: depth 1", "cs231n: depth 2", "hangs"]
    assert [t["number"] for t in results["tests"]] == ["1.1", "1.2", "2.1"]
    assert [(t["score"], t["max_score"], t["status"]) for t in results["tests"]] == [
        (5, 5, "passed"), (0, 5, "failed"), (0, 2, "failed")]
    assert [t["visibility"] for t in results["tests"]] == ["visible", "visible", "after_due_date"]
    assert sum(t["score"] for t in results["tests"]) == results["score"]
    assert "missing_activation_derivative" in results["tests"][1]["output"]
    assert "did not return within 2 s" in results["tests"][2]["output"]
    assert all(t["output_format"] == "text" for t in results["tests"])  # student output never as HTML


def test_the_validator_rejects_what_gradescope_does_not_document():
    validate_gradescope({"score": 1, "tests": [{"name": "a", "score": 1, "max_score": 1, "status": "passed"}]})
    for bad in ({"score": 1, "grade": 2}, {"tests": [{"name": "a", "status": "ok"}]},
                {"score": 1, "tests": [{"score": 2, "max_score": 1}]}, {"tests": [{"name": "no score"}]},
                {"score": True}, {"score": 1, "tests": [{"score": 1, "visibility": "students"}]}):
        with pytest.raises(AssertionError):
            validate_gradescope(bad)


def test_crosscheck_json_has_every_part_with_its_diagnosis(report):
    data = json.loads(render(report, "json"))
    assert data["crosscheck"] == crosscheck.__version__
    assert (data["score"], data["max_score"]) == (5, 12)
    cs, hang = data["checks"]
    assert [p["verdict"] for p in cs["parts"]] == ["pass", "fail"]
    assert cs["parts"][1]["diagnosis"][0]["id"] == "missing_activation_derivative"
    assert cs["parts"][1]["reproduce"].startswith("crosscheck check nn.py:cs231n --preset cs231n --seed")
    assert hang["parts"][0]["error_kind"] == "timeout" and hang["score"] == 0


def test_junit_has_one_testcase_per_part(report):
    root = ET.fromstring(render(report, "junit"))
    assert root.tag == "testsuites" and root.get("tests") == "3"
    assert (root.get("failures"), root.get("errors")) == ("1", "1")
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    assert set(cases) == {("cs231n", "depth 1"), ("cs231n", "depth 2"), ("hangs", "hangs")}
    fail = cases[("cs231n", "depth 2")].find("failure")
    assert fail.get("type") == "missing_activation_derivative" and "reproduce: crosscheck check" in fail.text
    assert cases[("hangs", "hangs")].find("error").get("type") == "timeout"
    scores = {p.get("name"): p.get("value") for p in cases[("cs231n", "depth 1")].iter("property")}
    assert scores == {"score": "5", "max_score": "5"}


def test_junit_survives_output_xml_cannot_hold(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "nn.py").write_text("def f(params, X, Y):\n    print('\\x00\\x1b[31m<&>')\n    raise ValueError('\\x07')\n")
    (tmp_path / "g.toml").write_text('[[check]]\nname = "x"\ntarget = "nn.py:f"\npreset = "torch"\n'
                                     'depth = 1\npoints = 1\nexamples = 2\n')
    text = render(grade_submission(tmp_path / "g.toml", sub, seed=0), "junit")
    error = ET.fromstring(text).find(".//error")
    assert "<&>" in error.text and "\x00" not in error.text


def test_text_is_for_a_person(report):
    text = render(report, "text")
    assert text.splitlines()[0].startswith("crosscheck grade: 5 / 12 points")
    assert "  [PASS] depth 1: 5 / 5" in text
    assert "  [FAIL] depth 2: 0 / 5: missing_activation_derivative at dW1 (layer 1)" in text
    assert "  [ERROR] hangs: 0 / 2: the implementation did not return within 2 s" in text
    assert "reproduce: crosscheck check nn.py:cs231n --preset cs231n --seed 0 --examples 10" in text


# ---- the autograder bundle -----------------------------------------------------------------------

def _bundle(tmp_path: Path, *extra: str) -> Path:
    config = tmp_path / "grading.toml"
    config.write_text(CONFIG)
    out = tmp_path / "autograder.zip"
    assert main(["grade", "--autograder", str(out), str(config), *extra]) == 0
    return out


def test_the_bundle_has_gradescopes_layout(tmp_path):
    out = _bundle(tmp_path)
    with zipfile.ZipFile(out) as zf:
        wheel = f"wheels/crosscheck_grad-{crosscheck.__version__}-py3-none-any.whl"
        assert sorted(zf.namelist()) == ["constraints.txt", "grading.toml", "run_autograder", "setup.sh", wheel]
        modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in zf.infolist()}
        assert modes == {"constraints.txt": 0o644, "grading.toml": 0o644, "run_autograder": 0o755, "setup.sh": 0o755,
                         wheel: 0o644}
        assert zf.read("grading.toml").decode() == CONFIG  # verbatim
        setup, run = zf.read("setup.sh").decode(), zf.read("run_autograder").decode()
    assert setup.startswith("#!/usr/bin/env bash") and run.startswith("#!/usr/bin/env bash")
    assert f'pip install --no-cache-dir -c "$SOURCE/constraints.txt" "$SOURCE/{wheel}"' in setup
    assert 'grade "$ROOT/source/grading.toml" --submission "$SUBMISSION"' in run
    assert 'cp -R "$ROOT/submission/." "$SUBMISSION"' in run
    assert '--format gradescope --out "$RESULTS"' in run and 'RESULTS="$ROOT/results/results.json"' in run
    assert "ROOT=/autograder\n" in run
    for script in (setup, run):
        subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def test_the_bundle_is_reproducible_and_takes_another_requirement(tmp_path):
    a = _bundle(tmp_path).read_bytes()
    b = _bundle(tmp_path).read_bytes()
    assert a == b
    other = _bundle(tmp_path, "--install", "crosscheck @ git+https://example.org/crosscheck.git")
    with zipfile.ZipFile(other) as zf:
        assert "constraints.txt\" 'crosscheck @ git+https://example.org/crosscheck.git'" in zf.read("setup.sh").decode()
        assert not [n for n in zf.namelist() if n.startswith("wheels/")]


def test_a_bad_config_writes_no_bundle(tmp_path, capsys):
    config = tmp_path / "grading.toml"
    config.write_text(CONFIG + "pointz = 1\n")
    assert main(["grade", "--autograder", str(tmp_path / "a.zip"), str(config)]) == 2
    assert not (tmp_path / "a.zip").exists() and "'pointz'" in capsys.readouterr().err
    assert main(["grade", "--autograder", str(tmp_path / "a.zip"), str(config), "--submission", "x"]) == 2


def test_run_autograder_grades_a_submission_as_gradescope_would(tmp_path):
    """Unpacked as Gradescope does (zip into source/, the script copied to the root), with the
    paths moved under tmp_path and this crosscheck standing in for the one setup.sh installs."""
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(_bundle(tmp_path)) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    (root / "submission" / "nn.py").write_text(CORRECT)
    (root / "submission" / "hang.py").write_text(HANG)
    shim = tmp_path / "crosscheck-shim"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m crosscheck \"$@\"\n")
    shim.chmod(0o755)
    script = (root / "source" / "run_autograder").read_text()
    script = script.replace("ROOT=/autograder\n", f"ROOT={root}\n")
    script = script.replace("CROSSCHECK=/autograder/crosscheck-venv/bin/crosscheck\n", f"CROSSCHECK={shim}\n")
    script = script.replace("PYTHON=/autograder/crosscheck-venv/bin/python\n", f"PYTHON={sys.executable}\n")
    assert str(root) in script and str(shim) in script
    (root / "run_autograder").write_text(script)
    (root / "run_autograder").chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(Path(crosscheck.__file__).resolve().parent.parent))
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    validate_gradescope(results)
    assert results["score"] == 10  # the hanging check loses its 2 points, the rest is graded
    assert [t["status"] for t in results["tests"]] == ["passed", "passed", "failed"]
    assert textwrap.shorten(results["tests"][2]["output"], 200).startswith("ERROR [timeout]")
