"""The check's and the layer check's text reports fit the width (issue 22): prose wrapped with an indent,
the reproduce command wrapped as a shell command that still runs the same argv; verdict words coloured
only on a terminal and never with NO_COLOR."""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crosscheck
from crosscheck import terminal
from crosscheck.cli import main

IMPLEMENTATIONS = Path(__file__).resolve().parent / "implementations"
ESC = "\x1b["


def _joined(lines: list[str], prefix: str) -> str:
    """The wrapped command as a shell reads it: each backslash-newline (and the next line's indent) gone."""
    text = "\n".join(lines)
    assert text.startswith(prefix)
    return re.sub(r" \\\n *", " ", text[len(prefix):])


def _fits(lines: list[str], columns: int) -> None:
    for line in lines:  # only an argument longer than a line may stand out, alone on its line
        if len(line) > columns:
            words = line.strip().removeprefix("reproduce:").removesuffix("\\").split()
            assert len(shlex.split(" ".join(words))) == 1, (columns, line)


# ---- the shell command -------------------------------------------------------------------------------

ARG = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=30) | st.sampled_from(
    ["--seed", "123456789012345678901", "--preset", "torch", "-", "'", '"', "a b", "$HOME", "x\\", "--l2=0.1"])


@settings(max_examples=300, deadline=None)
@given(argv=st.lists(ARG, min_size=1, max_size=14), columns=st.integers(20, 120))
def test_a_wrapped_command_splits_back_to_the_same_argv(argv, columns):
    command = shlex.join(argv)
    lines = terminal.shell_wrap(command, columns, prefix="reproduce: ")
    assert shlex.split(_joined(lines, "reproduce: ")) == argv
    _fits(lines, columns)
    assert all(line.endswith(" \\") for line in lines[:-1]) and not lines[-1].endswith(" \\")


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash to paste the command into")
def test_bash_runs_the_wrapped_command_with_the_same_argv():
    argv = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", "tests/hw 7/nn.py:backprop",
            "--preset", "torch", "--seed", "15494213286574478629", "--note", "it's \"quoted\" $HOME",
            "--examples", "10"]
    lines = terminal.shell_wrap(shlex.join(argv), 40)
    assert len(lines) > 3
    r = subprocess.run(["bash"], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    assert json.loads(r.stdout) == argv[3:], r.stderr


# ---- the check's and the layer check's reports ---------------------------------------------------------

@pytest.fixture(scope="module")
def failing_report():
    with pytest.raises(AssertionError) as e:
        crosscheck.check_implementation("implementations.mistakes:missing_activation_derivative",
                                        preset="torch", examples=20, seed=3)
    return e.value.report


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_the_check_report_fits_the_width_and_its_reproduce_line_stays_a_command(failing_report, columns):
    logical = failing_report.lines()
    assert max(map(len, logical)) > columns  # something needed wrapping: the test can fail
    lines = failing_report.summary(columns).splitlines()
    _fits(lines, columns)
    at = next(i for i, line in enumerate(lines) if line.startswith("reproduce: "))
    assert shlex.split(_joined(lines[at:], "reproduce: ")) == shlex.split(failing_report.reproduce)
    # nothing lost: the words of the report are the words of its unwrapped lines
    assert " ".join(failing_report.summary(columns).split()).replace(" \\ ", " ") == " ".join(
        "\n".join(logical).split())
    assert failing_report.summary(0) == "\n".join(logical)


def test_the_layer_report_fits_the_width(tmp_path):
    sys.path.insert(0, str(IMPLEMENTATIONS))
    try:
        from layers_mistakes import planted_module
    finally:
        sys.path.remove(str(IMPLEMENTATIONS))
    report = crosscheck.check_layers(planted_module("transposed_dw", str(tmp_path)), layers="affine,relu",
                                     examples=5, seed=1)
    assert report.exit_code == 1 and max(map(len, report.lines())) > 60
    for columns in (60, 100):
        lines = report.summary(columns).splitlines()
        _fits(lines, columns)
        starts = [i for i, line in enumerate(lines) if line.lstrip().startswith("reproduce: ")]
        assert starts and lines[starts[0]].endswith(" \\")  # wrapped at 60 and at 100
        for at in starts:
            end = at
            while lines[end].endswith(" \\"):
                end += 1
            indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
            one = [ln[len(indent):] if n == 0 else ln for n, ln in enumerate(lines[at:end + 1])]
            assert shlex.split(_joined(one, "reproduce: ")) in [shlex.split(v.reproduce) for v in report.layers]
    painted = report.summary(100, colour=True)
    assert "  \x1b[31mFAIL\x1b[0m     affine" in painted and "  \x1b[32mPASS\x1b[0m     relu" in painted
    assert ESC not in report.summary(100)


# ---- colour on a terminal only -----------------------------------------------------------------------

class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(argv: list[str]) -> tuple[int, str]:
    tty, before = FakeTTY(), sys.stdout
    sys.stdout = tty
    try:
        code = main(argv)
    finally:
        sys.stdout = before
    return code, tty.getvalue()


CHECK = ["check", "--preset", "torch", "--hidden", "tanh", "--examples", "5", "--seed", "1"]


@pytest.mark.parametrize("no_color", [False, True])
def test_verdict_words_are_coloured_on_a_terminal_only_and_never_with_no_color(monkeypatch, capsys, no_color):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    good = CHECK[:1] + [f"{IMPLEMENTATIONS / 'correct.py'}:torch_style"] + CHECK[1:]
    bad = CHECK[:1] + ["implementations.mistakes:sign"] + CHECK[1:]
    code, passed = _run(good)
    code_bad, failed = _run(bad)
    assert (code, code_bad) == (0, 1)
    if no_color:
        assert ESC not in passed + failed
    else:
        assert passed.startswith("\x1b[32mPASS\x1b[0m: ") and failed.startswith("\x1b[31mFAIL\x1b[0m: ")
        assert passed.count(ESC) == 2 and failed.count(ESC) == 2  # the verdict word only
    # not a terminal (a pipe, a CI log): never
    assert main(good) == 0 and ESC not in capsys.readouterr().out


def test_the_grade_text_paints_each_parts_mark_and_nothing_else():
    from crosscheck.grade.formats import text

    class Part:
        def __init__(self, verdict, reason):
            self.verdict, self.reason, self.label, self.score, self.max_score = verdict, reason, "", 0, 5
            self.reproduce = "crosscheck check nn.py:f"

    class Spec:
        name, target, points = "mlp", "nn.py:f", 10

    class Check:
        spec, score = Spec, 0
        parts = [Part("pass", ""), Part("fail", "sign at dW1\n  [PASS] forged by the student")]

    class Report:
        score, max_score, submission, config, seed = 0, 10, "sub", "grading.toml", 1
        checks = [Check]

    plain, painted = text(Report), text(Report, colour=True)
    assert ESC not in plain and painted.count(ESC) == 4  # two marks, each on and off
    assert "\x1b[32mPASS\x1b[0m] mlp" in painted and "\x1b[31mFAIL\x1b[0m] mlp" in painted
    assert "[PASS] forged by the student" in painted  # the student's text is never painted


def _grade_report(reason: str, reproduce: str):
    class Part:
        verdict, label, score, max_score = "fail", "depth 2, hidden sigmoid", 0, 2

    Part.reason, Part.reproduce = reason, reproduce

    class Spec:
        name, target, points = "Backprop with any hidden activation", "nn.py:backprop", 2

    class Check:
        spec, score, parts = Spec, 0, [Part]

    class Report:
        score, max_score, submission, config, seed = 0, 2, "submissions/wrong", "grading.toml", 0
        checks = [Check]

    return Report


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_the_grade_text_fits_the_width_and_its_reproduce_line_stays_a_command(columns):
    from crosscheck.grade.formats import text

    command = ("crosscheck check 'hw 7/nn.py:backprop' --preset torch --hidden sigmoid --output identity "
               "--loss half_sse --reduction mean --depth 2 --seed 0 --examples 30 "
               "--forbid-import torch,jax,tensorflow,autograd,crosscheck")
    reason = ("activation_derivative at dW1 (layer 1): sigmoid' computed as sigmoid(z) itself: the value, "
              "not the derivative, in layer 1 (sigmoid)")
    report = _grade_report(reason, command)
    whole = text(report)
    assert max(map(len, whole.splitlines())) > columns  # something needed wrapping: the test can fail
    lines = text(report, columns=columns).splitlines()
    _fits(lines, columns)
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("reproduce: "))
    prefix = lines[at][: lines[at].index("reproduce: ") + len("reproduce: ")]
    assert shlex.split(_joined(lines[at:], prefix)) == shlex.split(command)
    head = next(i for i, line in enumerate(lines) if "[FAIL]" in line)
    assert all(line.startswith(" " * len("  [FAIL] ")) for line in lines[head + 1:at])  # under the reason
    assert " ".join(text(report, columns=columns).split()).replace(" \\ ", " ") == " ".join(whole.split())
