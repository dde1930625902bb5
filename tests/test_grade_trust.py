"""Grading that cannot be earned without writing backprop (issue 19): unpredictable cases, links out
of the submission refused, bad numbers in a config refused with one line."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from crosscheck.cli import main
from crosscheck.grade import ConfigError, grade_submission
from crosscheck.grade.config import parse_config

IMPLEMENTATIONS = Path(__file__).resolve().parent / "implementations"
CORRECT = (IMPLEMENTATIONS / "correct.py").read_text()

CONFIG = """
[grade]
examples = 5
timeout = 20

[[check]]
name = "torch"
target = "nn.py:torch_style"
preset = "torch"
depth = 2
points = 10
"""

# records every case it is given (a student's local run of the published config) beside the right answer
RECORDER = '''

import json as _json
import os as _os


def _key(params, X, Y):
    import hashlib
    h = hashlib.sha256(X.tobytes() + Y.tobytes())
    for W, b in params:
        h.update(W.tobytes() + b.tobytes())
    return h.hexdigest()


_torch_style = torch_style


def torch_style(params, X, Y):
    grads = _torch_style(params, X, Y)
    with open(_os.path.join({record!r}, _key(params, X, Y) + ".json"), "w") as f:
        _json.dump([[dW.tolist(), db.tolist()] for dW, db in grads], f)
    return grads
'''

# no backprop: the answers recorded locally, looked up by the case's bytes; anything else gets zeros
LOOKUP = '''
import hashlib
import numpy as np

TABLE = {table!r}


def torch_style(params, X, Y):
    h = hashlib.sha256(X.tobytes() + Y.tobytes())
    for W, b in params:
        h.update(W.tobytes() + b.tobytes())
    got = TABLE.get(h.hexdigest())
    if got is None:
        return [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    return [(np.array(dW), np.array(db)) for dW, db in got]
'''


def _folder(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    sub = tmp_path / name
    sub.mkdir()
    for file, text in files.items():
        (sub / file).write_text(text)
    return sub


def _record(tmp_path: Path, config: Path, seed: int | None) -> dict:
    """A local grading run of the published config by a recording submission: its table."""
    record = tempfile.mkdtemp(prefix="crosscheck-record-")  # the worker (another uid as root) writes here
    os.chmod(record, 0o777)
    try:
        sub = _folder(tmp_path, "recorder", {"nn.py": CORRECT + RECORDER.format(record=record)})
        # the student's own machine: nothing read-only, no private /tmp (no bubblewrap either)
        local = tmp_path / "local.toml"
        local.write_text(config.read_text().replace("[grade]\n", '[grade]\nisolation = "process"\n', 1))
        os.environ["CROSSCHECK_SANDBOX_NAMESPACES"] = "0"
        try:
            report = grade_submission(local, sub, seed=seed)
        finally:
            del os.environ["CROSSCHECK_SANDBOX_NAMESPACES"]
        assert report.score == 10, [p.reason for p in report.parts]
        table = {}
        for name in os.listdir(record):
            with open(os.path.join(record, name)) as f:
                table[name[:-5]] = json.load(f)
        assert table, "the recorder saw no case"
        return table
    finally:
        shutil.rmtree(record, ignore_errors=True)


def test_a_lookup_table_recorded_from_a_local_run_scores_0(tmp_path):
    config = tmp_path / "grading.toml"
    config.write_text(CONFIG)
    table = _record(tmp_path, config, seed=123)  # the student's own run of the published config
    lookup = _folder(tmp_path, "lookup", {"nn.py": LOOKUP.format(table=table)})
    report = grade_submission(config, lookup)  # the grader's run: a fresh seed
    assert report.score == 0 and report.seed is not None
    # replaying the very run the table was recorded from does give it the points: the test can fail
    assert grade_submission(config, lookup, seed=123).score == 10


def test_each_grading_run_draws_its_own_seed_and_records_it(tmp_path, capsys):
    config = tmp_path / "grading.toml"
    config.write_text(CONFIG)
    sub = _folder(tmp_path, "sub", {"nn.py": CORRECT})
    out = tmp_path / "r.json"
    seeds = []
    for _ in range(2):
        assert main(["grade", str(config), "--submission", str(sub), "--format", "json", "--out", str(out)]) == 0
        got = json.loads(out.read_text())
        seeds.append(got["seed"])
        assert f"--seed {got['seed']}" in capsys.readouterr().err
        assert all(f"--seed {got['seed']}" in p["reproduce"] for c in got["checks"] for p in c["parts"])
    assert seeds[0] != seeds[1]
    # a config may pin it (the trade-off: its cases can then be recorded in advance)
    pinned = tmp_path / "pinned.toml"
    pinned.write_text(CONFIG.replace("examples = 5", "examples = 5\nseed = 4"))
    report = grade_submission(pinned, sub)
    assert report.seed is None and "--seed 4 " in report.parts[0].reproduce


# ---- links out of the submission -----------------------------------------------------------------

TWO = CONFIG + """
[[check]]
name = "other"
target = "part2/nn.py:torch_style"
preset = "torch"
depth = 1
points = 5
"""


@pytest.mark.parametrize("link", ["outside_secret", "teacher_solution", "loop"])
def test_a_link_out_of_the_submission_scores_its_checks_0_and_the_others_are_graded(tmp_path, link):
    secret = tmp_path / "secret.py"
    secret.write_text("SECRET = 'the machine environment'\n")
    solution = tmp_path / "solution"
    solution.mkdir()
    (solution / "nn.py").write_text(CORRECT)
    config = tmp_path / "grading.toml"
    config.write_text(TWO)
    sub = _folder(tmp_path, "sub", {})
    (sub / "part2").mkdir()
    (sub / "part2" / "nn.py").write_text(CORRECT)
    if link == "teacher_solution":  # scores 10/10 on today's main
        os.symlink(solution / "nn.py", sub / "nn.py")
    else:
        (sub / "nn.py").write_text("from notes import SECRET\n" + CORRECT)
        if link == "outside_secret":
            os.symlink(secret, sub / "notes.py")
        else:
            os.symlink(sub / "loop_b", sub / "notes.py")
            os.symlink(sub / "notes.py", sub / "loop_b")
    report = grade_submission(config, sub)
    first, second = report.checks
    assert first.score == 0
    for p in first.parts:
        assert p.error_kind == "refused" and "\n" not in p.reason
        assert "outside the submission" in p.reason or "leads nowhere" in p.reason
        assert "SECRET" not in p.output and "the machine environment" not in p.output
    assert second.score == 5


def test_a_link_inside_the_submission_is_fine(tmp_path):
    config = tmp_path / "grading.toml"
    config.write_text(CONFIG)
    sub = _folder(tmp_path, "sub", {"impl.py": CORRECT})
    os.symlink(sub / "impl.py", sub / "nn.py")
    assert grade_submission(config, sub).score == 10


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the private copy is made as root")
def test_the_private_copy_is_the_workers_alone_and_follows_no_link(tmp_path):
    from crosscheck.sandbox import Sandbox

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    os.chmod(secret, 0o600)
    sub = tmp_path / "sub"
    sub.mkdir()
    os.chmod(sub, 0o700)  # the sandbox's user cannot read it: a private copy is made
    os.symlink(secret, sub / "notes.py")
    (sub / "nn.py").write_text(textwrap.dedent('''
        import os, stat
        def f(params, X, Y):
            here = os.path.dirname(os.path.abspath(__file__))
            st, own = os.stat(here), os.stat(__file__)
            return [sorted(os.listdir(here)), stat.S_IMODE(st.st_mode), stat.S_IMODE(own.st_mode),
                    own.st_uid == os.getuid()]
    '''))
    with Sandbox(f"{sub}/nn.py:f") as sb:
        value = sb.call([], None, None).value
    assert [len(v) if isinstance(v, list) else int(v) for v in value] == [1, 0o700, 0o600, 1]


# ---- bad numbers in a config ---------------------------------------------------------------------

@pytest.mark.parametrize("line, key", [
    ("points = inf", "points"), ("points = nan", "points"), ("timeout = inf", "timeout"),
    ("timeout = 1e300", "timeout"), ("l2 = 1e308", "l2"), ("memory = 99999999999999", "memory"),
    ("budget = inf", "budget"), ("examples = 99999999999", "examples"), ("max_width = 10000000", "max_width"),
])
def test_a_number_no_grading_can_use_is_one_line_naming_the_key(line, key):
    text = CONFIG.replace("points = 10", "points = 10\n" + line) if not line.startswith("points") else \
        CONFIG.replace("points = 10", line)
    with pytest.raises(ConfigError) as e:
        parse_config(text, "course.toml")
    assert "\n" not in str(e.value) and f"key {key!r}" in str(e.value) and "course.toml" in str(e.value)
