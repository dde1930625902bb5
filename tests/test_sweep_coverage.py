"""The default sweep covers every activation, loss with target form, reduction, penalty form and
convention value (issue 20): a covering design for the first examples, hypothesis after them, and
``coverage.missing`` in the JSON says what was not met."""

from __future__ import annotations

import json

from crosscheck.cli import main
from crosscheck.sweep.config import SweepConfig
from crosscheck.sweep.covering import covering_architectures, expected_coverage, missing
from crosscheck.sweep.run import run_sweep


def _met(archs) -> dict:
    cov: dict = {k: set() for k in ("activations", "losses", "loss_targets", "reductions", "penalties", "batch",
                                    "weights", "bias", "params")}
    for net, conv, _, _ in archs:
        cov["activations"].update(a.partition(":")[0] for a in net.activation_names())
        cov["losses"].add(net.loss)
        cov["loss_targets"].add(f"{net.loss}/{net.targets}")
        cov["reductions"].add(net.reduction)
        cov["penalties"].add(f"l2+{net.penalty_form}" if net.has_penalty else "none")
        for axis in ("batch", "weights", "bias", "params"):
            cov[axis].add(getattr(conv, axis))
    return cov


def test_the_covering_design_meets_every_value_in_ten_examples():
    archs = covering_architectures()
    assert len(archs) == 10
    assert missing(_met(archs), None, None) == {}
    assert missing(_met(archs[:4]), None, None)  # fewer examples leave values out: the check can fail
    assert len({(n.describe(), c.describe()) for n, c, _, _ in archs}) == 10


def test_a_restricted_sweep_is_covered_within_its_restriction():
    archs = covering_architectures(activations=("relu", "tanh"), losses=("softmax_ce",))
    assert {a.partition(":")[0] for n, *_ in archs for a in n.activation_names()} <= {"relu", "tanh", "identity"}
    assert missing(_met(archs), ("relu", "tanh"), ("softmax_ce",)) == {}
    assert "mean_all" not in expected_coverage(None, ("softmax_ce",))["reductions"]


def test_the_default_sweep_reports_complete_coverage(tmp_path):
    """The README's sweep (20 examples, seed 0), with the numpy backend to stay quick."""
    path = tmp_path / "sweep.json"
    assert main(["sweep", "--examples", "20", "--seed", "0", "--backends", "numpy", "--no-progress", "--json",
                 str(path)]) == 0
    coverage = json.loads(path.read_text())["coverage"]
    assert coverage["missing"] == {}
    assert "relu" in coverage["activations"] and "softmax_ce/labels" in coverage["loss_targets"]


def test_a_short_sweep_says_what_it_missed():
    result = run_sweep(SweepConfig(backends=("numpy",), examples=4, seed=0))
    assert result.coverage["missing"]  # 4 examples cannot meet 10 activations
