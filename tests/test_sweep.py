"""The sweep: it passes on correct backends, fails on a planted derivative error, shards add up."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace

import pytest

from crosscheck.cli import main
from crosscheck.errors import UsageError
from crosscheck.model import activations as activations_module
from crosscheck.sweep.config import SweepConfig, parse_shard
from crosscheck.sweep.run import run_sweep

ALL_BIAS = ["augmented", "column", "none", "row", "vector"]


def _sweep_json(tmp_path, argv):
    out = tmp_path / "sweep.json"
    code = main(["sweep", "--no-progress", "--json", str(out), *argv])
    return code, json.loads(out.read_text())


def test_numpy_sweep_covers_every_route_layout_and_bias(tmp_path):
    code, report = _sweep_json(tmp_path, ["--backends", "numpy", "--examples", "120"])
    assert code == 0, report["failures"]
    cov = report["coverage"]
    assert cov["routes"] == ["recursive", "explicit", "kronecker", "jacobian", "finite_difference", "complex_step"]
    assert cov["backends"] == ["numpy"]
    assert sorted(cov["batch"]) == ["columns", "rows", "single"]
    assert sorted(cov["bias"]) == ALL_BIAS
    # the numpy backend is the verdict route itself: it runs, but no case is counted for it
    assert report["cases"] == 0 and report["draws"] > 0 and report["architectures"] > 0
    assert report["coverage"]["native"] == {}
    assert report["route_checks"] > 0 and report["passed"] is True


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_and_jax_agree_with_the_reference(tmp_path, dtype):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    code, report = _sweep_json(tmp_path, ["--backends", "numpy,torch,jax", "--examples", "25", "--dtype", dtype,
                                          "--routes", "recursive"])
    assert code == 0, report["failures"]
    assert report["cases"] == 2 * report["draws"]  # torch and jax; numpy is the reference


def _torch_tanh_with_derivative(torch, derivative):
    """torch tanh whose backward is ``derivative(tanh(x))``, usable under torch.func.vmap."""

    class Tanh(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            return torch.tanh(x)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(output)

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * derivative(y)

    return Tanh.apply


def _planted_tanh(backend: str):
    """tanh whose derivative is wrong by a relative 1e-3, in the backend's own autodiff."""
    if backend == "torch":
        def make(torch):
            return _torch_tanh_with_derivative(torch, lambda y: (1 - y * y) * (1 + 1e-3))
        return make

    def make(jax):
        @jax.custom_jvp
        def bad_tanh(x):
            return jax.numpy.tanh(x)

        @bad_tanh.defjvp
        def _jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            y = jax.numpy.tanh(x)
            return y, (1 - y * y) * (1 + 1e-3) * t

        return bad_tanh
    return make


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_wrong_tanh_derivative_fails_the_sweep(tmp_path, monkeypatch, backend, dtype):
    pytest.importorskip(backend)
    tanh = activations_module.ACTIVATIONS["tanh"]
    monkeypatch.setitem(activations_module.ACTIVATIONS, "tanh", replace(tanh, **{backend: _planted_tanh(backend)}))
    code, report = _sweep_json(tmp_path, ["--backends", backend, "--examples", "40", "--dtype", dtype,
                                          "--activations", "tanh,identity", "--routes", "recursive"])
    assert code == 1
    (failure,) = report["failures"]
    problem = failure["problems"][0]
    assert problem["who"] == backend
    assert "raised" not in problem["summary"], problem["summary"]  # a value mismatch, not a crash
    assert any(not p["passed"] and p["reason"] == "value" for p in problem["comparison"]["parameters"])
    assert "tanh" in json.dumps(failure["network"])
    assert failure["reproduce"].startswith("crosscheck sweep --replay ")
    # shrinking leaves a small network: few layers, small widths
    assert len(failure["network"]["widths"]) <= 3


def test_replay_reproduces_a_failure(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    tanh = activations_module.ACTIVATIONS["tanh"]
    monkeypatch.setitem(activations_module.ACTIVATIONS, "tanh", replace(tanh, torch=_planted_tanh("torch")))
    code, report = _sweep_json(tmp_path, ["--backends", "torch", "--examples", "30", "--activations", "tanh",
                                          "--routes", "recursive"])
    assert code == 1
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    assert main(["sweep", "--no-progress", "--backends", "torch", "--replay", str(path)]) == 1
    monkeypatch.setitem(activations_module.ACTIVATIONS, "tanh", tanh)
    assert main(["sweep", "--no-progress", "--backends", "torch", "--replay", str(path)]) == 0


def test_shards_add_up_to_the_whole_sweep():
    base = SweepConfig(backends=("numpy",), routes=("recursive",), examples=40, seed=3, draws=2)
    whole = run_sweep(base)
    parts = [run_sweep(replace(base, shard=(i, 3))) for i in (1, 2, 3)]
    assert whole.passed and all(p.passed for p in parts)
    sharded = [fp for p in parts for fp in p.fingerprints]
    assert len(sharded) == len(set(sharded)), "a case ran in two shards"
    assert sorted(sharded) == sorted(whole.fingerprints)
    assert sum(p.draws for p in parts) == whole.draws


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "3", "1/0"])
def test_bad_shards_are_usage_errors(text):
    with pytest.raises(UsageError):
        parse_shard(text)


def test_usage_errors_exit_2(capsys):
    assert main(["sweep", "--backends", "numpy,tensorflow"]) == 2
    assert "unknown backend" in capsys.readouterr().err
    assert main(["sweep", "--activations", "swish"]) == 2
    assert main(["sweep", "--examples", "0"]) == 2
    assert main(["sweep", "--replay", "/nonexistent.json"]) == 2


def test_a_named_missing_backend_is_a_usage_error(monkeypatch, capsys):
    import crosscheck.backends as backends

    monkeypatch.setattr(backends, "_missing_reason", lambda name: None if name == "numpy" else
                        f"{name} is not installed (pip install 'crosscheck-grad[{name}]')")
    assert main(["sweep", "--backends", "torch", "--examples", "2"]) == 2
    assert "torch is not installed" in capsys.readouterr().err
    # unnamed and missing: skipped with the reason, the sweep still runs
    result = run_sweep(SweepConfig(examples=3, routes=("recursive",)))
    assert result.coverage["backends"] == ["numpy"]
    assert "torch" in result.skipped_backends


def test_kink_only_differences_are_conventions_unless_strict(monkeypatch):
    # A backend whose relu'(0) is 1 (seed 002's convention) differs only exactly at the kink.
    pytest.importorskip("torch")
    relu = activations_module.ACTIVATIONS["relu"]

    def relu_one_at_zero(torch):
        return lambda x: torch.where(x >= 0, x, torch.zeros_like(x))  # d/dx at 0 is 1

    monkeypatch.setitem(activations_module.ACTIVATIONS, "relu", replace(relu, torch=relu_one_at_zero))
    cfg = SweepConfig(backends=("torch",), routes=("recursive",), examples=30, kinks=True,
                      activations=("relu", "identity"))
    lenient = run_sweep(cfg)
    assert lenient.passed
    kinds = {n["kind"] for n in lenient.notes}
    assert kinds == {"kink_convention"}
    assert [n["detail"] for n in lenient.notes] == [
        "differs only at a kink: the reference uses relu'(0) = 0; torch uses relu'(0) = 1 "
        "(the convention of torch.clamp(x, min=0))"]
    strict = run_sweep(replace(cfg, strict_kinks=True))
    assert not strict.passed
    # the reproduction command carries --strict-kinks (and the kinks in its JSON): it fails as printed
    reproduce = strict.failures[0]["reproduce"]
    assert reproduce.endswith(" --strict-kinks") and '"kinks":true' in reproduce
    argv = shlex.split(reproduce)
    assert argv[:2] == ["crosscheck", "sweep"]
    assert main([*argv[1:], "--no-progress"]) == 1
    assert main([a for a in argv[1:] if a != "--strict-kinks"] + ["--no-progress"]) == 0
    # without kinks the same backend agrees everywhere: the margin keeps pre-activations off the kink
    assert run_sweep(replace(cfg, kinks=False)).passed


def test_a_float32_only_difference_beyond_the_references_rounding_fails(monkeypatch):
    # Simulate TF32 on the CPU: the backend rounds tanh' to 10 of float32's 23 mantissa bits,
    # in float32 only. Its float64 recomputation agrees, and that no longer excuses anything:
    # the NumPy reference's own float32 rounding on the same inputs is ~1e-7, not ~1e-3.
    pytest.importorskip("torch")
    tanh = activations_module.ACTIVATIONS["tanh"]

    def rounded_derivative(torch):
        def derivative(y):
            d = 1 - y * y
            if d.dtype == torch.float32:  # TF32-like: keep 10 of float32's 23 mantissa bits
                d = (d.view(torch.int32) & ~0x1FFF).view(torch.float32)
            return d

        return _torch_tanh_with_derivative(torch, derivative)

    monkeypatch.setitem(activations_module.ACTIVATIONS, "tanh", replace(tanh, torch=rounded_derivative))
    cfg = SweepConfig(backends=("torch",), routes=("recursive",), examples=20, dtype="float32",
                      activations=("tanh",))
    result = run_sweep(cfg)
    assert not result.passed
    (problem,) = result.failures[0]["problems"]
    assert problem["float32"]["bound"] < 1e-3
    assert "torch agrees in float64: a float32-only difference" in problem["summary"]
    assert "--dtype" not in result.failures[0]["reproduce"]  # dtype travels in the replay JSON
    assert '"dtype":"float32"' in result.failures[0]["reproduce"]
    # the same rounding is not there in float64: that sweep passes
    assert run_sweep(replace(cfg, dtype="float64")).passed


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_issue_done_when_three_way_sweep_of_200(tmp_path, dtype):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    code, report = _sweep_json(tmp_path, ["--backends", "numpy,torch,jax", "--examples", "200", "--dtype", dtype])
    assert code == 0, report["failures"]
    cov = report["coverage"]
    assert len(cov["activations"]) >= 8 and len(cov["losses"]) >= 4
    assert sorted(cov["batch"]) == ["columns", "rows", "single"] and sorted(cov["weights"]) == ["in_out", "out_in"]
    assert {"none", "vector", "augmented"} <= set(cov["bias"])
    assert cov["backends"] == ["numpy", "torch", "jax"]


def test_kink_conventions_are_named_per_activation():
    # JAX really uses relu'(0) = 0 but leaky_relu'(0) = 1 (jnp.where(x >= 0, ...)): one convention
    # per activation must explain the difference, and only the one that differs is named.
    pytest.importorskip("jax")
    result = run_sweep(SweepConfig(backends=("jax",), routes=("recursive",), examples=60, kinks=True,
                                   activations=("relu", "leaky_relu", "identity")))
    assert result.passed, result.failures
    details = {n["detail"] for n in result.notes}
    # an L1 penalty's weight at exactly 0 is a kink too: JAX's abs'(0) = 1 is named beside it
    l1 = {d for d in details if "in the L1 penalty" in d}
    assert all("jax uses" in d and "|w|'(0) = 1 in the L1 penalty" in d for d in l1)
    assert details - l1 == {"differs only at a kink: the reference uses leaky_relu'(0) = 0.01; jax uses "
                            "leaky_relu'(0) = 1 (the convention of jax.nn.leaky_relu(x))"}
