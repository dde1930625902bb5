"""Every sample output in README.md and docs/*.md is what its command prints today (docs/samples.py
normalises only durations, rates, rounding-level errors and line breaks). A stale sample fails naming
the page and the command; `python docs/samples.py` rewrites them all."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("crosscheck_doc_samples", ROOT / "docs" / "samples.py")
samples = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = samples  # dataclasses look their module up there
_spec.loader.exec_module(samples)

SAMPLES = samples.samples()


def test_the_pages_hold_samples():
    pages = {s.page.name for s in SAMPLES}
    assert {"README.md", "ci.md", "layers.md", "teaching.md", "layouts-and-porting.md"} <= pages, pages
    assert all(s.body.startswith(f"$ {s.command}\n") for s in SAMPLES), "a sample without its real output"


@pytest.mark.parametrize("sample", [pytest.param(s, id=s.name, marks=[pytest.mark.slow] if s.slow else [])
                                    for s in SAMPLES])
def test_a_sample_is_what_its_command_prints(sample):
    fresh = samples.run(sample.command)
    assert samples.normalise(fresh) == samples.normalise(sample.body), (
        f"{sample.name} is stale: run python docs/samples.py\n--- documented\n{sample.body}\n--- now\n{fresh}")


def test_normalising_keeps_real_differences():
    # timings and rounding-level errors vary by machine; a real number does not (batchnorm's 1.00e+04)
    assert samples.normalise("in 1.3 s, 2,905 draws/s, 3.1e-16") == samples.normalise("in 12.0 s, 5 draws/s, 9e-17")
    assert samples.normalise("relative error 2.23e+04") != samples.normalise("relative error 1.00e+04")
    # a wrapped line may break one word earlier; a word changed, added or dropped still differs
    assert samples.normalise("PASS: all (seed 1, 9.9 s) on\n    3 examples") == samples.normalise(
        "PASS: all (seed 1, 10.0 s)\n    on 3 examples")
    assert samples.normalise("on 3 examples") != samples.normalise("on\n    4 examples")
    assert samples.normalise("a  b") != samples.normalise("a b")  # table alignment within a line still counts
