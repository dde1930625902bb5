"""Each planted mistake, alone, fails its layer with its diagnosis id first or second; the rest of the
file still passes."""

from __future__ import annotations

import os
import sys

import pytest

from crosscheck.layers import check_layers
from crosscheck.layers.diagnose import MISTAKE_IDS

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "implementations"))
from layers_mistakes import PLANTED, planted_module  # noqa: E402


@pytest.mark.parametrize("key", sorted(PLANTED))
def test_planted_mistake_is_named_first_or_second(key, tmp_path):
    layer, _, _ = PLANTED[key]
    mistake = key.split("/")[0]
    path = planted_module(key, str(tmp_path))
    others = "relu" if layer != "relu" else "affine"
    report = check_layers(path, layers=f"{layer},{others}", examples=15)
    verdict = report.layer(layer)
    assert verdict.verdict == "fail", report.summary()
    ids = [d["id"] for d in verdict.diagnosis]
    assert mistake in ids[:2], (ids, report.summary())
    assert report.layer(others).verdict == "pass"
    assert report.exit_code == 1


def test_every_planted_id_is_in_the_catalogue():
    assert {k.split("/")[0] for k in PLANTED} <= set(MISTAKE_IDS)
