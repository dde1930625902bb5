"""The audit's verdicts can fail: a library that changes a default or a derivative is a finding, and
a baseline saved before the change names it (faked here by patching the installed library)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
jax = pytest.importorskip("jax")

from crosscheck.audit import baseline as bl  # noqa: E402
from crosscheck.audit import probes  # noqa: E402
from crosscheck.audit.probes import run_audit  # noqa: E402
from crosscheck.cli import main  # noqa: E402


@pytest.fixture
def gelu_exact_by_default(monkeypatch):
    """jax.nn.gelu as if a JAX release had made the erf form its default."""
    original = jax.nn.gelu

    def gelu(x, approximate: bool = False):
        return original(x, approximate=approximate)

    monkeypatch.setattr(jax.nn, "gelu", gelu)


def test_a_changed_default_is_a_finding_and_a_baseline_change(tmp_path, gelu_exact_by_default, monkeypatch):
    path = tmp_path / "audit.json"
    monkeypatch.undo()  # the baseline is recorded on the real library
    before = run_audit(functions=["gelu"])
    assert not before.findings
    bl.save(before, str(path))
    data = json.loads(path.read_text())
    data["versions"]["jax"] = "0.9.0"  # as if recorded on an older JAX
    path.write_text(json.dumps(data))

    original = jax.nn.gelu
    monkeypatch.setattr(jax.nn, "gelu", lambda x, approximate=False: original(x, approximate=approximate))
    after = run_audit(functions=["gelu"])
    stale = [r for r in after.findings if "gelu-approximate" in r.detail or r.key.startswith("gelu | default")]
    assert stale, "the documented gelu difference vanished without a finding"
    comparison = bl.compare(after, bl.load(str(path)))
    keys = [c.key for c in comparison.changes]
    assert "gelu | default approximate | torch.nn.GELU / jax.nn.gelu" in keys
    assert "gelu | value at positive: x = 1 | float64" in keys
    text = comparison.report()
    assert "jax 0.9.0" in text and f"jax {after.versions['jax']}" in text
    assert "was torch \"none\", jax \"True\" (known)" in text and "jax \"False\" (finding)" in text


def test_a_changed_derivative_at_a_kink_is_a_finding(monkeypatch):
    original = jax.nn.leaky_relu
    jnp = jax.numpy
    monkeypatch.setattr(jax.nn, "leaky_relu", lambda x, negative_slope=0.01: jnp.where(x > 0, x, negative_slope * x))
    result = run_audit(functions=["leaky_relu"])
    kink = [r for r in result.findings if r.point == "kink" and r.aspect == "derivative"]
    assert {r.dtype for r in kink} == {"float32", "float64"}
    assert "jax.nn.leaky_relu(x) gives 0.01" in kink[0].detail
    monkeypatch.setattr(jax.nn, "leaky_relu", original)
    assert not run_audit(functions=["leaky_relu"]).findings


def test_cli_baseline_round_trip_and_change(tmp_path, capsys, monkeypatch):
    path = str(tmp_path / "audit.json")
    assert main(["audit", "--functions", "softplus", "--save-baseline", path]) == 0
    assert "baseline written to" in capsys.readouterr().out
    assert main(["audit", "--functions", "softplus", "--baseline", path]) == 0
    assert "every answer is as recorded" in capsys.readouterr().out
    import torch

    real = torch.nn.Softplus.__init__

    def init(self, beta: float = 1.0, threshold: float = 30.0):  # a torch that moved the threshold
        real(self, beta, threshold)

    monkeypatch.setattr(torch.nn.Softplus, "__init__", init)
    assert main(["audit", "--functions", "softplus", "--baseline", path]) == 1
    out = capsys.readouterr().out
    assert "CHANGED softplus | default threshold | torch.nn.Softplus / jax.nn.softplus: was torch 20.0" in out
    assert "now torch 30.0" in out and "torch 2." in out


def test_strict_and_json(tmp_path, capsys):
    assert main(["audit", "--functions", "relu", "--strict"]) == 1  # maximum and clamp differ at 0
    capsys.readouterr()
    assert main(["audit", "--functions", "sigmoid,tanh", "--strict", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["findings"] == 0 and data["summary"]["known"] == 0
    assert {r["function"] for r in data["rows"]} == {"sigmoid", "tanh"}
    assert data["versions"]["torch"] and "gelu-approximate" in data["conventions"]


@pytest.mark.parametrize("argv, message", [
    (["audit", "--without", "torch"], "not an optional library"),
    (["audit", "--functions", "swish"], "unknown function 'swish'"),
    (["audit", "--baseline", "/nonexistent/audit.json"], "cannot read the baseline"),
    (["audit", "--markdown", "--json", "-"], "both write to stdout"),
])
def test_usage_errors_are_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_file_that_is_not_a_baseline_is_a_usage_error(tmp_path, capsys):
    p = tmp_path / "x.json"
    p.write_text('{"rows": []}')
    assert main(["audit", "--functions", "relu", "--baseline", str(p)]) == 2
    assert "not a crosscheck audit baseline" in capsys.readouterr().err


def test_flax_not_installed_is_said(monkeypatch, capsys):
    real = probes._installed
    monkeypatch.setattr(probes, "_installed", lambda name: name != "flax" and real(name))
    result = run_audit(functions=["batch_norm", "layer_norm"])
    assert not [r for r in result.rows if "flax" in r.jax_expr]
    assert any("flax not installed (pip install 'crosscheck-grad[flax]')" in u for u in result.unavailable)
    assert [d.jax_where for d in result.defaults] == ["jax.nn.standardize"]  # core JAX still compared
    assert result.versions["flax"] in ("not used", "not installed")
    assert main(["audit", "--functions", "batch_norm,layer_norm"]) == 0
    assert "not compared:\n  batch_norm running_mean: flax not installed" in capsys.readouterr().out
    assert main(["audit", "--functions", "batch_norm"]) == 2  # nothing left to compare is never green
    assert "nothing to compare: batch_norm running_mean: flax not installed" in capsys.readouterr().err


def test_flax_installed_is_compared():
    pytest.importorskip("flax")
    result = run_audit(functions=["batch_norm", "layer_norm"])
    assert {r.function for r in result.rows} == {"batch_norm running_mean", "batch_norm running_var",
                                                 "batch_norm output (training)"}
    assert not result.unavailable and not result.findings
    eps = next(d for d in result.defaults if d.jax_where == "flax.linen.LayerNorm")
    assert (eps.torch, eps.jax, eps.conventions) == (1e-05, 1e-06, ["layernorm-eps"])


def test_the_example_user_workflow_audits_against_a_baseline():
    import shlex
    from pathlib import Path

    import yaml

    from crosscheck.cli import build_parser

    flow = yaml.safe_load((Path(__file__).resolve().parent.parent / "ci" / "example-user-workflow.yml").read_text())
    lines = [ln.strip() for step in flow["jobs"]["audit"]["steps"] for ln in str(step.get("run", "")).splitlines()]
    line = next(ln for ln in lines if ln.startswith("crosscheck audit"))
    parsed = build_parser().parse_args(shlex.split(line)[1:])
    assert parsed.command == "audit" and parsed.baseline == "audit.json" and parsed.json == "reports/audit.json"


def test_without_torch_or_jax_the_audit_is_a_usage_error(monkeypatch, capsys):
    real = probes._installed
    monkeypatch.setattr(probes, "_installed", lambda name: name != "torch" and real(name))
    assert main(["audit"]) == 2
    assert "crosscheck audit compares torch with JAX: torch not installed" in capsys.readouterr().err


def test_all_lists_agreeing_aspects_and_json_spells_nan(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # pytest-xdist workers set 80; the table fits 100 in a log
    assert main(["audit", "--functions", "sigmoid", "--all"]) == 0
    out = capsys.readouterr().out
    assert "sigmoid" in out and "  yes" in out and "derivative at tail x = -1000  f32 f64" in out
    path = tmp_path / "norm.json"
    assert main(["audit", "--functions", "norm", "--json", str(path)]) == 0
    rows = json.loads(path.read_text())["rows"]
    zero = next(r for r in rows if r["point"] == "zero vector" and r["aspect"] == "derivative")
    assert zero["jax"] == ["nan", "nan"] and zero["torch"] == [0.0, 0.0] and zero["conventions"] == ["norm-at-zero"]
