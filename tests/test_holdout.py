"""The held-out network set (``tests/holdout``): its manifest, its ground truth, and crosscheck on it.

The set was written without reading crosscheck's diagnosis or the sets it was tuned on. Here, every
correct implementation must pass ``crosscheck check`` and every wrong one must be caught (exit 1); how
well the mistakes are *named* is a measurement (``benchmarks/holdout_confusion.py``,
docs/measurements.md "Held-out network diagnosis"), not an assertion.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.holdout import EXPECTED, NETWORK, NO_ID_FITS, TWIN  # noqa: E402


def test_manifest_holds_enough_entries_each_described_and_mapped():
    wrong = [e for e in NETWORK if not e["correct"]]
    correct = [e for e in NETWORK if e["correct"]]
    assert len(wrong) >= 25 and len(correct) >= 8
    assert len({e["name"] for e in NETWORK}) == len(NETWORK)
    for e in wrong:
        assert len(e["mistake"]) > 20, e["name"]
        assert e["expected"] or e["name"] in NO_ID_FITS, e["name"]
    assert set(EXPECTED) == set(TWIN) == {e["name"] for e in wrong}
    assert all(not e["expected"] and not e["mistake"] for e in correct)


def test_every_target_exists_and_no_module_imports_crosscheck():
    for e in NETWORK:
        path, fn = e["target"].split(":")
        tree = ast.parse((ROOT / path).read_text())
        assert fn in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, e["target"]
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(name.startswith("crosscheck") for name in imported), path


@pytest.mark.slow
def test_ground_truth_against_torch_autograd():
    pytest.importorskip("torch")
    from tests.holdout.verify import main

    assert main() == 0


@pytest.mark.slow
@pytest.mark.parametrize("entry", NETWORK, ids=[e["name"] for e in NETWORK])
def test_correct_ones_pass_and_wrong_ones_are_caught(entry):
    argv = [sys.executable, "-m", "crosscheck", "check", entry["target"], *entry["flags"],
            "--seed", "0", "--examples", "30"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    want = 0 if entry["correct"] else 1
    assert proc.returncode == want, (entry["name"], proc.stdout[-2000:], proc.stderr[-2000:])
