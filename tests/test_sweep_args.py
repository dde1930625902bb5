"""``crosscheck sweep`` refuses, in one line with exit 2, what it cannot honestly run or replay;
and its counts say only what was independently compared."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crosscheck.cli import main
from crosscheck.errors import UsageError
from crosscheck.sweep import run as sweep_module
from crosscheck.sweep.args import check_memory, estimate_bytes, machine_bytes
from crosscheck.sweep.config import SweepConfig
from crosscheck.sweep.run import _route_draw, run_sweep


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("crosscheck sweep: error: ")
    return err


def test_a_sweep_far_past_the_machines_memory_is_refused(capsys):
    """--draws is bounded by the parser (one line, exit 2); below that bound a machine with too little
    memory still refuses the sweep before any work, naming the draws that fit."""
    assert main(["sweep", "--no-progress", "--draws", "100000000"]) == 2
    err = _one_line_error(capsys)
    assert "--draws" in err and "100000000" in err
    with pytest.raises(UsageError, match=r"--draws 100000000 needs about .* use --draws \d+ or fewer"):
        check_memory(SweepConfig(draws=100_000_000))


def test_the_memory_estimate_grows_with_draws_and_fits_defaults():
    have = machine_bytes()
    assert have is not None and estimate_bytes(SweepConfig()) < have / 100
    assert estimate_bytes(SweepConfig(draws=1000)) == 1000 * estimate_bytes(SweepConfig(draws=1))
    assert estimate_bytes(SweepConfig(draws=100_000_000)) > have


@pytest.mark.parametrize("content", [
    json.dumps({"passed": True, "failures": [], "cases": 10}),  # a passing report
    json.dumps([{"network": {}}]),  # list-shaped
    "garbage {",
    json.dumps({"network": {"widths": [2, 1]}}),  # not a failure: keys missing
    json.dumps({"failures": [3]}),
    json.dumps({"network": {"widths": "x"}, "convention": {}, "batch_size": 1, "seed": 0}),  # malformed
])
def test_replay_of_anything_but_a_failure_is_one_line_exit_2(tmp_path, capsys, content):
    path = tmp_path / "report.json"
    path.write_text(content)
    assert main(["sweep", "--no-progress", "--backends", "numpy", "--replay", str(path)]) == 2
    assert "--replay needs a failure" in _one_line_error(capsys)


def test_replay_of_a_passing_report_says_so(tmp_path, capsys):
    path = tmp_path / "pass.json"
    assert main(["sweep", "--no-progress", "--backends", "numpy", "--examples", "3", "--json", str(path)]) == 0
    capsys.readouterr()
    assert main(["sweep", "--no-progress", "--backends", "numpy", "--replay", str(path)]) == 2
    assert "this report passed: there is nothing to replay" in _one_line_error(capsys)


def test_the_route_draw_is_seeded_deterministic_and_off_kinks():
    off = np.zeros(64, bool)
    picks = [_route_draw(seed, off) for seed in range(200)]
    assert picks == [_route_draw(seed, off) for seed in range(200)]
    assert len(set(picks)) > 30 and all(0 <= p < 64 for p in picks)
    kinked = np.ones(64, bool)
    kinked[[5, 17]] = False
    assert {_route_draw(seed, kinked) for seed in range(50)} == {5, 17}


def test_the_oracles_check_the_seeded_draw_not_draw_0(monkeypatch):
    seen = []
    real = sweep_module._route_draw

    def spy(seed, on_kink):
        seen.append(real(seed, on_kink))
        return seen[-1]

    monkeypatch.setattr(sweep_module, "_route_draw", spy)
    result = run_sweep(SweepConfig(backends=("numpy",), examples=20, draws=16))
    assert result.passed and result.route_checks > 0
    assert len(seen) == result.examples and len(set(seen)) > 3


def test_jax_meets_every_layout_value_natively_in_a_default_sweep():
    pytest.importorskip("jax")
    result = run_sweep(SweepConfig(backends=("numpy", "jax"), routes=("recursive",), examples=40))
    assert result.passed, result.failures
    native = result.coverage["native"]
    assert set(native) == {"jax"}  # numpy is the reference, not a native build
    met = {axis: {c.split("/")[i] for c in native["jax"]} for i, axis in
           enumerate(("batch", "weights", "bias", "params"))}
    for axis, values in met.items():
        assert values == set(result.coverage[axis]), axis
    assert result.cases == result.draws  # jax only


def test_torch_builds_every_convention_natively():
    pytest.importorskip("torch")
    result = run_sweep(SweepConfig(backends=("numpy", "torch"), routes=("recursive",), examples=15))
    assert result.passed and result.cases == result.draws
    native = result.coverage["native"]["torch"]
    for i, axis in enumerate(("batch", "weights", "bias", "params")):
        assert {c.split("/")[i] for c in native} == set(result.coverage[axis]), axis


def test_float32_rounding_notes_carry_count_size_and_worst_network():
    from crosscheck.sweep.report import sweep_report

    sweep = sweep_module._Sweep(SweepConfig(backends=("numpy",), examples=1), progress=False)
    base = {"kind": "float32_rounding", "backend": "jax", "detail": "within 10x the reference's own"}
    sweep._note({**base, "network": "3-2 sin", "size": 3e-4, "reference_error": 4e-5, "bound": 4e-4})
    sweep._note({**base, "network": "5-1 gelu", "size": 9e-4, "reference_error": 2e-4, "bound": 2e-3})
    sweep._note({**base, "network": "4-2 tanh", "size": 5e-4, "reference_error": 1e-4, "bound": 1e-3})
    (note,) = sweep.result.notes
    assert (note["count"], note["size"], note["network"], note["reference_error"]) == (3, 9e-4, "5-1 gelu", 2e-4)
    text = sweep_report(sweep._finish())
    assert "note [float32_rounding] jax on 5-1 gelu" in text and "3 draw(s); worst 9.0e-04" in text
