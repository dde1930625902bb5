"""The grading config: every key of `crosscheck check` accepted, everything else one line naming
the file and the key, exit 2, never a traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap

import pytest

from crosscheck.cli import build_parser, main
from crosscheck.grade.config import CHECK_OPTION_KEYS, LAYER_KEYS, parse_config
from crosscheck.grade.parts import function_parts, split_points

GOOD = """
[grade]
timeout = 5
examples = 10

[[check]]
name = "net"
target = "nn.py:grads"
preset = "cs231n-fc"
points = 10
"""


def _config(text: str, tmp_path, name="grading.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_good_config_fills_in_the_grade_defaults():
    config = parse_config(GOOD)
    (check,) = config.checks
    assert check.name == "net" and check.target == "nn.py:grads" and check.points == 10.0
    assert check.options["timeout"] == 5.0 and check.options["examples"] == 10
    # the profile pinned, not the environment's; the seed fresh for each grading run (None: drawn by grade)
    assert check.options["seed"] is None and check.options["profile"] == "ci"
    assert check.kind == "function" and check.path == "nn.py" and check.attr == "grads"


def _check_option_keys() -> set[str]:
    """The long options of `crosscheck check`, - written _ (--forbid-import MOD,... is forbid_imports)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    dests = {a.dest for a in sub.choices["check"]._actions if a.option_strings and a.dest != "help"}
    return {"forbid_imports" if d == "forbid_import" else d for d in dests}


def test_the_keys_are_the_options_of_crosscheck_check():
    """Every `crosscheck check` option is a key, so a new check option must be added to
    CHECK_OPTION_KEYS (or LAYER_KEYS); --json and --plot are outputs, which grade writes itself, and
    --detect is a debugging aid: a grade checks against the convention its config declares."""
    keys = _check_option_keys() - {"json", "plot", "detect"}
    assert keys - set(LAYER_KEYS) == set(CHECK_OPTION_KEYS)


@pytest.mark.parametrize("text, key, words", [
    (GOOD + "pointz = 3\n", "pointz", "unknown key"),
    (GOOD.replace("points = 10", "points = \"10\""), "points", "must be a number"),
    (GOOD.replace("timeout = 5", "timeout = \"5\""), "timeout", "must be a number"),
    (GOOD.replace("examples = 10", "examples = 2.5"), "examples", "must be an integer"),
    (GOOD.replace("examples = 10", "examples = true"), "examples", "must be an integer"),
    (GOOD.replace("examples = 10", "examples = 0"), "examples", "must be >= 1"),
    (GOOD.replace("preset = \"cs231n-fc\"", "preset = \"cs231\""), "preset", "unknown preset"),
    (GOOD + "hidden = \"relux\"\n", "hidden", "relux"),
    (GOOD + "hidden = [\"tanh\", 3]\n", "hidden", "a string or a list of strings"),
    (GOOD + "hidden = [\"tanh\", \"tanh\"]\n", "hidden", "twice"),
    (GOOD + "depth = 2\nmax_depth = 3\n", "max_depth", "not both"),
    (GOOD + "loss = \"bce\"\n", "bce", "needs --output"),
    (GOOD + "json = \"out.json\"\n", "json", "output option"),
    (GOOD + "max-depth = 2\n", "max-depth", "written 'max_depth'"),
    (GOOD + "visibility = \"secret\"\n", "visibility", "after_due_date"),
    (GOOD + "isolation = \"docker\"\n", "isolation", "auto, bwrap, process"),
    (GOOD + "forbid_imports = \"torch\"\n", "forbid_imports", "a list of strings"),
    (GOOD + "forbid_imports = [\"torch.\"]\n", "forbid_imports", "not a module name"),
    (GOOD.replace("target = \"nn.py:grads\"", "target = \"/abs/nn.py:grads\""), "target", "relative path"),
    (GOOD.replace("target = \"nn.py:grads\"", "target = \"../nn.py:grads\""), "target", "relative path"),
    (GOOD.replace("target = \"nn.py:grads\"", "target = \"nn.py\""), "target", "file.py:function"),
    (GOOD.replace("name = \"net\"\n", ""), "name", "missing key"),
    (GOOD.replace("points = 10", "points = 0"), "points", "must be > 0"),
    (GOOD + "[[check]]\nname = \"net\"\ntarget = \"a.py:f\"\npoints = 1\n", "name", "already the name"),
    (GOOD.replace("[grade]", "[grades]"), "grades", "unknown top-level key"),
    (GOOD.replace("[grade]\n", "[grade]\nname = \"x\"\n"), "name", "belongs in a [[check]]"),
    ("[grade]\nseed = 1\n", "[[check]]", "nothing to grade"),
    ("[[check]\nname = 1", "TOML", "not valid TOML"),
])
def test_a_bad_config_is_one_line_naming_the_file_and_key(tmp_path, capsys, text, key, words):
    path = _config(text, tmp_path, name="course.toml")
    (tmp_path / "sub").mkdir()
    code = main(["grade", str(path), "--submission", str(tmp_path / "sub")])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "course.toml" in lines[0] and key in lines[0] and words in lines[0], lines[0]
    assert "Traceback" not in err


def test_a_bad_config_in_a_fresh_process_exits_2_with_one_line(tmp_path):
    path = _config(GOOD + "pointz = 3\n", tmp_path)
    (tmp_path / "sub").mkdir()
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "grade", str(path), "--submission",
                           str(tmp_path / "sub")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "grading.toml" in proc.stderr and "'pointz'" in proc.stderr


def test_a_missing_or_unreadable_config_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    assert main(["grade", str(tmp_path / "nope.toml"), "--submission", str(tmp_path / "sub")]) == 2
    assert "nope.toml" in capsys.readouterr().err
    bad = tmp_path / "latin.toml"
    bad.write_bytes(b"# caf\xe9\n")
    assert main(["grade", str(bad), "--submission", str(tmp_path / "sub")]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_command_line_misuse_is_exit_2(tmp_path, capsys):
    path = _config(GOOD, tmp_path)
    assert main(["grade", str(path)]) == 2  # neither --submission nor --autograder
    assert "--submission" in capsys.readouterr().err
    assert main(["grade", str(path), "--submission", str(tmp_path / "absent")]) == 2
    assert "not a folder" in capsys.readouterr().err
    (tmp_path / "sub").mkdir()
    assert main(["grade", str(path), "--submission", str(tmp_path / "sub"), "--out",
                 str(tmp_path / "no" / "such" / "r.json")]) == 2
    assert "no folder" in capsys.readouterr().err
    assert main(["grade", str(path), "--submission", str(tmp_path / "sub"), "--install", "x"]) == 2


# ---- parts and points -------------------------------------------------------------------------------

def test_parts_are_each_depth_activation_and_loss():
    config = parse_config("""
[[check]]
name = "engine"
target = "e.py:f"
hidden = ["tanh", "relu"]
loss = ["half_sse", "sse"]
max_depth = 2
points = 8
""")
    labels = [p.label for p in function_parts(config.checks[0])]
    assert labels == ["depth 1, hidden tanh, loss half_sse", "depth 2, hidden tanh, loss half_sse",
                      "depth 1, hidden tanh, loss sse", "depth 2, hidden tanh, loss sse",
                      "depth 1, hidden relu, loss half_sse", "depth 2, hidden relu, loss half_sse",
                      "depth 1, hidden relu, loss sse", "depth 2, hidden relu, loss sse"]


def test_without_a_depth_the_parts_are_check_default_range():
    (check,) = parse_config(GOOD).checks
    assert [p.overrides for p in function_parts(check)] == [{"depth": 1}, {"depth": 2}, {"depth": 3}]
    (check,) = parse_config(GOOD + "depth = [1, 3]\n").checks
    assert [p.label for p in function_parts(check)] == ["depth 1", "depth 3"]


@pytest.mark.parametrize("points, n, expected", [
    (10, 3, [3.33, 3.34, 3.33]), (6, 3, [2.0, 2.0, 2.0]), (1, 7, [0.14, 0.15, 0.14, 0.14, 0.14, 0.15, 0.14]),
    (2.5, 2, [1.25, 1.25]), (5, 1, [5.0]),
])
def test_points_split_over_parts_add_up_exactly(points, n, expected):
    shares = split_points(points, n)
    assert shares == expected
    assert round(sum(shares), 6) == points
