"""JAX's compile budget in a sweep (a count, not a time), the counts in --json, and the
persistent compilation cache's default folder and opt-out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crosscheck.cli import main

pytest.importorskip("jax")

ROOT = Path(__file__).resolve().parent.parent


def _sweep_json(tmp_path, argv):
    out = tmp_path / "sweep.json"
    code = main(["sweep", "--no-progress", "--json", str(out), *argv])
    return code, json.loads(out.read_text())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_default_sweep_compiles_one_program_per_dtype(tmp_path, dtype):
    """The default sweep (20 examples, seed 0): the padded calls and the native share (the user's
    own layouts) run one compiled program per dtype; nothing is compiled per architecture."""
    code, report = _sweep_json(tmp_path, ["--backends", "numpy,jax", "--examples", "20", "--seed", "0",
                                          "--dtype", dtype])
    assert code == 0, report["failures"]
    stats = report["backends"]["jax"]
    assert stats["calls"]["native"] == 0
    assert stats["calls"]["padded"] > 0 and stats["calls"]["layout"] > 0
    assert report["coverage"]["native"]["jax"]  # layouts met natively, through the layout program
    assert [p.split()[-1] for p in stats["programs"]] == [dtype]
    # XLA compile requests, compiled or read from the persistent cache: at most the one program
    # and one spare (0 when an earlier test in this process compiled it already)
    assert stats["compiles"] + stats["cache_hits"] <= 2, stats
    assert stats["compile_s"] >= 0 and stats["traces"] >= 0


@pytest.mark.slow
def test_a_1000_example_sweep_compiles_at_most_two_programs(tmp_path):
    code, report = _sweep_json(tmp_path, ["--backends", "numpy,jax", "--examples", "1000", "--seed", "21",
                                          "--routes", "recursive"])
    assert code == 0, report["failures"]
    stats = report["backends"]["jax"]
    # the batched calls: one program; triage's per-case re-checks of a disagreeing draw (a kink)
    # build that case natively, so the process-wide count may hold a few of those besides
    assert stats["calls"]["native"] == 0 and len(stats["programs"]) <= 2, stats


def _cache_dir_in_a_fresh_process(env: dict) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("CROSSCHECK_JAX_CACHE", "XDG_CACHE_HOME")}
    full.update(env, PYTHONPATH=str(ROOT))
    code = "from crosscheck.backends.jax import JaxBackend; print(JaxBackend().compilation_cache)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_the_persistent_cache_is_on_by_default_in_the_user_cache_folder(tmp_path):
    assert _cache_dir_in_a_fresh_process({"XDG_CACHE_HOME": str(tmp_path)}) == str(tmp_path / "crosscheck" / "jax")
    assert (tmp_path / "crosscheck" / "jax").is_dir()


def test_the_persistent_cache_can_be_turned_off(tmp_path):
    assert _cache_dir_in_a_fresh_process({"XDG_CACHE_HOME": str(tmp_path), "CROSSCHECK_JAX_CACHE": "off"}) == "None"
    assert not (tmp_path / "crosscheck").exists()
