"""Every JSON report starts with `schema` and `crosscheck` (docs/json.md), one key per concept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosscheck import __version__
from crosscheck.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _read(path: Path) -> dict:
    data = json.loads(path.read_text())
    assert list(data)[:2] == ["schema", "crosscheck"], list(data)[:4]
    assert data["crosscheck"] == __version__
    return data


def test_check_report(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "check.json"
    assert main(["check", "examples/cs231n_two_layer.py:loss_grads", "--preset", "cs231n", "--l2", "0.05",
                 "--examples", "3", "--json", str(out)]) == 0
    data = _read(out)
    assert data["schema"] == "crosscheck.check/1"
    assert "note" not in data and isinstance(data["notes"], list)  # one key for notes


def test_layer_report(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "layers.json"
    assert main(["check", "examples/layers/layers.py", "--api", "cs231n", "--layers", "relu", "--examples", "2",
                 "--json", str(out)]) == 0
    assert _read(out)["schema"] == "crosscheck.layers/1"


def test_sweep_report(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "sweep.json"
    assert main(["sweep", "--backends", "torch", "--examples", "2", "--draws", "2", "--json", str(out)]) == 0
    data = _read(out)
    assert data["schema"] == "crosscheck.sweep/1" and data["cases"] > 0
    for key in ("draws", "architectures", "examples", "route_checks"):  # out of the headline, still here
        assert key in data


def test_env_report(tmp_path):
    out = tmp_path / "env.json"
    assert main(["env", "--json", str(out)]) == 0
    assert _read(out)["schema"] == "crosscheck.env/1"


def test_a_sweep_that_compares_nothing_is_a_usage_error(capsys, monkeypatch):
    # with torch and jax not installed: a one-line reason, not "PASSED: 0 cases"
    import crosscheck.backends as backends

    monkeypatch.setattr(backends, "available_backends",
                        lambda: {"numpy": None, "torch": "torch is not installed", "jax": "jax is not installed"})
    assert main(["sweep", "--examples", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing to compare" in err and "not installed" in err


def test_the_reference_routes_alone_say_so_in_the_headline(capsys):
    assert main(["sweep", "--backends", "numpy", "--examples", "2", "--draws", "2"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert "route check" in head and "no framework compared" in head and "0 cases" not in head
