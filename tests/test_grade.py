"""`crosscheck grade` end to end: full marks for correct code, exactly the wrong parts lost with
their diagnosis, 0 with the reason for code that crashes, hangs, raises or imports what it must
not, the rest still graded; the same results twice; two checks well inside 30 s."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

from crosscheck.cli import main
from crosscheck.grade import grade_submission, load_config
from crosscheck.grade.runner import GradeReport

IMPLEMENTATIONS = Path(__file__).resolve().parent / "implementations"

# a cs231n-style net in rows / in_out / vector / dict, and a torch-style one: both from
# tests/implementations/correct.py (verified against torch.autograd in test_check.py)
CORRECT = (IMPLEMENTATIONS / "correct.py").read_text()


def _setup(tmp_path: Path, config: str, files: dict[str, str]) -> tuple[Path, Path]:
    sub = tmp_path / "submission"
    sub.mkdir()
    for name, text in files.items():
        (sub / name).write_text(textwrap.dedent(text))
    path = tmp_path / "grading.toml"
    path.write_text(textwrap.dedent(config))
    return path, sub


def _grade(tmp_path: Path, config: str, files: dict[str, str]) -> GradeReport:
    path, sub = _setup(tmp_path, config, files)
    return grade_submission(path, sub, seed=0)  # replayed: the cases of seed 0


def _scores(report: GradeReport) -> dict[str, tuple[float, str]]:
    return {p.name: (p.score, p.verdict) for p in report.parts}


TWO_CHECKS = """
[grade]
examples = 15
timeout = 5

[[check]]
name = "cs231n"
target = "nn.py:cs231n"
preset = "cs231n"
max_depth = 2
points = 10

[[check]]
name = "torch"
target = "nn.py:torch_style"
preset = "torch"
depth = 2
points = 3
"""


def test_a_correct_submission_scores_full_marks(tmp_path):
    report = _grade(tmp_path, TWO_CHECKS, {"nn.py": CORRECT})
    assert report.score == report.max_score == 13
    assert _scores(report) == {"cs231n: depth 1": (5, "pass"), "cs231n: depth 2": (5, "pass"),
                               "torch": (3, "pass")}
    for part in report.parts:
        assert part.status == "passed" and part.reason == ""
        assert "crosscheck check nn.py:" in part.output and str(tmp_path) not in part.output


# the cs231n net with the ReLU's derivative left out of backprop: invisible at depth 1 (no hidden
# layer), wrong at depth 2
NO_RELU_MASK = CORRECT.replace("dZ = (dZ @ params[f\"W{layer}\"].T) * (Zs[layer - 2] > 0)",
                               "dZ = dZ @ params[f\"W{layer}\"].T")


def test_a_wrong_submission_loses_exactly_the_parts_it_gets_wrong(tmp_path):
    assert NO_RELU_MASK != CORRECT
    report = _grade(tmp_path, TWO_CHECKS, {"nn.py": NO_RELU_MASK})
    assert _scores(report) == {"cs231n: depth 1": (5, "pass"), "cs231n: depth 2": (0, "fail"),
                               "torch": (3, "pass")}
    assert report.score == 8
    wrong = report.parts[1]
    assert wrong.status == "failed" and wrong.diagnosis[0]["id"] == "missing_activation_derivative"
    assert wrong.reason.startswith("missing_activation_derivative at dW1 (layer 1)")
    # the output holds the diagnosis sentence, the minimal case and the command that reproduces it
    assert "missing_activation_derivative at dW1 (layer 1): the factor sigma'(Z) is missing" in wrong.output
    assert "case: " in wrong.output and "expected dW1" in wrong.output and "got dW1" in wrong.output
    repro = "crosscheck check nn.py:cs231n --preset cs231n --seed 0 --examples 15 --timeout 5"
    assert wrong.reproduce == repro and wrong.output.endswith(f"reproduce: {repro}")


def test_the_reproduce_command_shows_the_same_failure(tmp_path, monkeypatch, capsys):
    report = _grade(tmp_path, TWO_CHECKS, {"nn.py": NO_RELU_MASK})
    wrong = report.parts[1]
    monkeypatch.chdir(tmp_path / "submission")
    argv = wrong.reproduce.split()
    assert argv[:2] == ["crosscheck", "check"]
    assert main(argv[1:]) == 1
    # the terminal's report is wrapped to its width (the reproduce command with " \\" continuations);
    # the grade's output, read on a web page, is not: the same text once the wrapping is undone
    unwrapped = lambda text: " ".join(text.replace(" \\\n", " ").split())  # noqa: E731
    assert unwrapped(capsys.readouterr().out) == unwrapped(wrong.output)


MISBEHAVING = """
import os, signal, time
import numpy as np

def crashes(params, X, Y):
    os.kill(os.getpid(), signal.SIGSEGV)

def hangs(params, X, Y):
    time.sleep(3600)

def raises(params, X, Y):
    raise ValueError("my bug")

def crashes_when_deep(params, X, Y):
    if len(params) > 1:
        os.kill(os.getpid(), signal.SIGSEGV)
    from nn import torch_style
    return torch_style(params, X, Y)
"""


def test_crashing_hanging_and_raising_checks_score_0_and_the_rest_is_graded(tmp_path):
    config = """
    [grade]
    examples = 5
    timeout = 1
    preset = "torch"
    depth = 1

    [[check]]
    name = "crash"
    target = "bad.py:crashes"
    points = 1

    [[check]]
    name = "hang"
    target = "bad.py:hangs"
    points = 1

    [[check]]
    name = "raise"
    target = "bad.py:raises"
    points = 1

    [[check]]
    name = "fine"
    target = "nn.py:torch_style"
    points = 1

    [[check]]
    name = "crash when deep"
    target = "bad.py:crashes_when_deep"
    depth = [1, 2]
    points = 2
    """
    report = _grade(tmp_path, config, {"nn.py": CORRECT, "bad.py": MISBEHAVING})
    assert _scores(report) == {"crash": (0, "error"), "hang": (0, "error"), "raise": (0, "error"),
                               "fine": (1, "pass"), "crash when deep: depth 1": (1, "pass"),
                               "crash when deep: depth 2": (0, "error")}
    why = {p.name: (p.error_kind, p.reason) for p in report.parts}
    assert why["crash"][0] == "crash" and "SIGSEGV" in why["crash"][1]
    assert why["hang"][0] == "timeout" and "did not return within 1 s" in why["hang"][1]
    assert why["raise"][0] == "raised" and "ValueError: my bug" in why["raise"][1]
    assert report.score == 2


def test_a_missing_file_function_or_broken_import_scores_0_with_the_reason(tmp_path):
    config = """
    [grade]
    examples = 5
    preset = "torch"

    [[check]]
    name = "no file"
    target = "absent.py:f"
    points = 1

    [[check]]
    name = "no function"
    target = "nn.py:backprop"
    points = 1

    [[check]]
    name = "broken import"
    target = "broken.py:f"
    points = 1

    [[check]]
    name = "fine"
    target = "nn.py:torch_style"
    depth = 1
    points = 1
    """
    report = _grade(tmp_path, config, {"nn.py": CORRECT, "broken.py": "import numpy as np\n1 / 0\n"})
    by_check = {c.spec.name: c for c in report.checks}
    assert [c.score for c in report.checks] == [0, 0, 0, 1]
    for name, words in (("no file", "the submission has no file absent.py"),
                        ("no function", "has no attribute 'backprop'"),
                        ("broken import", "ZeroDivisionError")):
        parts = by_check[name].parts
        assert len(parts) == 3  # each depth of check's default range, each with the reason
        for p in parts:
            assert p.score == 0 and p.status == "failed" and words in p.reason, (name, p.reason)
            assert str(tmp_path) not in p.output  # paths relative to the submission
    assert by_check["no file"].parts[0].verdict == "missing"


FORBIDDEN = CORRECT.replace("import numpy as np", "import numpy as np\nimport torch  # not allowed")
FORBIDDEN_WHEN_DEEP = CORRECT.replace(
    "def torch_style(params, X, Y):",
    "def torch_style(params, X, Y):\n    if len(params) > 1:\n        import torch  # noqa\n")


def test_a_forbidden_import_scores_0_on_that_check(tmp_path):
    config = """
    [grade]
    examples = 5
    forbid_imports = ["torch", "jax"]

    [[check]]
    name = "imports torch"
    target = "cheat.py:torch_style"
    preset = "torch"
    points = 2

    [[check]]
    name = "imports torch when deep"
    target = "sometimes.py:torch_style"
    preset = "torch"
    max_depth = 2
    points = 2

    [[check]]
    name = "fine"
    target = "nn.py:torch_style"
    preset = "torch"
    depth = 1
    points = 1
    """
    report = _grade(tmp_path, config, {"nn.py": CORRECT, "cheat.py": FORBIDDEN, "sometimes.py": FORBIDDEN_WHEN_DEEP})
    assert [c.score for c in report.checks] == [0, 0, 1]
    for check in report.checks[:2]:
        for p in check.parts:
            assert p.score == 0 and p.error_kind == "forbidden_import"
            assert "forbidden import: torch" in p.reason and "forbidden import: torch" in p.output
    assert report.checks[0].parts[0].reproduce.endswith("--forbid-import torch,jax")


def test_the_same_config_and_submission_give_the_same_results(tmp_path):
    path, sub = _setup(tmp_path, TWO_CHECKS, {"nn.py": NO_RELU_MASK})
    first, second = grade_submission(path, sub, seed=7).to_dict(), grade_submission(path, sub, seed=7).to_dict()
    for d in (first, second):
        d.pop("elapsed_s")
        for check in d["checks"]:
            for part in check["parts"]:
                part.pop("elapsed_s")
    assert first == second
    # and in a fresh process, through the command line
    out1, out2 = tmp_path / "r1.json", tmp_path / "r2.json"
    for out in (out1, out2):
        assert main(["grade", str(path), "--submission", str(sub), "--format", "gradescope", "--out", str(out),
                     "--seed", "7"]) == 0
    r1, r2 = json.loads(out1.read_text()), json.loads(out2.read_text())
    r1.pop("execution_time"), r2.pop("execution_time")
    assert r1 == r2


def test_results_are_written_with_exit_0_whatever_the_score(tmp_path, capsys):
    path, sub = _setup(tmp_path, TWO_CHECKS.replace("nn.py:cs231n", "absent.py:f"), {"nn.py": NO_RELU_MASK})
    out = tmp_path / "results.txt"
    assert main(["grade", str(path), "--submission", str(sub), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("crosscheck grade: 3 / 13 points")
    assert "[MISSING] depth 1: 0 / 5: the submission has no file absent.py" in text
    err = capsys.readouterr().err
    assert "[1.1] cs231n: depth 1: missing 0/5" in err and "3 / 13 points; text results in" in err


def test_a_submission_folder_moved_elsewhere_gets_the_same_outputs(tmp_path):
    """Outputs name files relative to the submission: the same on a laptop and on Gradescope."""
    path, sub = _setup(tmp_path, TWO_CHECKS, {"nn.py": NO_RELU_MASK})
    moved = tmp_path / "elsewhere" / "deeper"
    shutil.copytree(sub, moved)
    a, b = grade_submission(path, sub, seed=3), grade_submission(load_config(path), moved, seed=3)
    assert [p.output for p in a.parts] == [p.output for p in b.parts]
    assert [p.reproduce for p in a.parts] == [p.reproduce for p in b.parts]
