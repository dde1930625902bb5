"""The notebook examples under the real otter-grader and nbgrader (issue 21), not a stand-in.

Neither tool is a dependency of crosscheck: these tests are slow and skipped unless both are importable
(docs/teaching.md: a throwaway venv with ``pip install otter-grader nbgrader`` and crosscheck). Each runs
the tool's own command line on the example notebooks of ``examples/notebooks``: otter's autograder
(``otter generate`` then ``otter run``) on a correct and a wrong student notebook, and nbgrader's
``generate_assignment``, ``autograde`` and ``export`` on a course folder with two students. The wrong
notebook (the 1/m of the mean forgotten) must lose the points with crosscheck's named diagnosis.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NB = ROOT / "examples" / "notebooks"
DIAGNOSIS = "the 1/m of the mean is missing"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("otter") is None or importlib.util.find_spec("nbgrader") is None,
                       reason="otter-grader and nbgrader are not installed (docs/teaching.md: a venv of their own)"),
]


def _env() -> dict[str, str]:
    # the tools' own scripts (nbgrader runs `alembic`) and the kernel's `python` are this interpreter's;
    # the kernel imports this checkout's crosscheck
    return {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT)}


def _tool(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", *argv], cwd=cwd, env=_env(), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def test_otter_run_scores_the_correct_notebook_and_names_the_wrong_ones_mistake(tmp_path):
    shutil.copytree(NB / "otter" / "tests", tmp_path / "tests")
    (tmp_path / "requirements.txt").write_text("")  # the grading image's extra packages: none here
    _tool("otter", "generate", "-t", "tests", "-o", "autograder.zip", cwd=tmp_path)
    scores = {}
    for which in ("correct", "wrong"):
        out = tmp_path / which
        out.mkdir()
        shutil.copy(NB / f"student_{which}.ipynb", out / "hw.ipynb")
        _tool("otter", "run", "-a", "autograder.zip", "-o", str(out), "--no-logo", str(out / "hw.ipynb"), cwd=tmp_path)
        tests = {t["name"]: t for t in json.loads((out / "results.json").read_text())["tests"]}
        scores[which] = (tests["q1"]["score"], tests["q1"]["max_score"])
        if which == "wrong":
            assert "GradientMismatch: FAIL: " in tests["q1"]["output"] and "[scale" in tests["q1"]["output"]
            assert DIAGNOSIS in tests["q1"]["output"]
    assert scores == {"correct": (5.0, 5.0), "wrong": (0.0, 5.0)}


def test_nbgrader_autograde_scores_the_correct_notebook_and_names_the_wrong_ones_mistake(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(
        f'c = get_config()\nc.CourseDirectory.course_id = "backprop101"\nc.CourseDirectory.root = {str(tmp_path)!r}\n'
        "c.ExecutePreprocessor.timeout = 300\n")
    for folder, name in (("source", "correct"), ("submitted/alice", "correct"), ("submitted/bob", "wrong")):
        (tmp_path / folder / "ps1").mkdir(parents=True)
        shutil.copy(NB / "nbgrader" / f"submitted_{name}.ipynb", tmp_path / folder / "ps1" / "ps1.ipynb")
    _tool("nbgrader", "generate_assignment", "ps1", "--force", cwd=tmp_path)
    log = _tool("nbgrader", "autograde", "ps1", "--create", cwd=tmp_path)
    assert "which cannot be converted to a float" not in log.stdout + log.stderr  # a passing cell prints nothing
    _tool("nbgrader", "export", cwd=tmp_path)
    with open(tmp_path / "grades.csv", newline="") as f:
        grades = {row["student_id"]: (float(row["score"]), float(row["max_score"])) for row in csv.DictReader(f)}
    assert grades == {"alice": (5.0, 5.0), "bob": (0.0, 5.0)}
    graded = json.loads((tmp_path / "autograded" / "bob" / "ps1" / "ps1.ipynb").read_text())
    errors = [o for c in graded["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert [e["ename"] for e in errors] == ["GradientMismatch"]
    assert "[scale" in errors[0]["evalue"] and DIAGNOSIS in errors[0]["evalue"]
