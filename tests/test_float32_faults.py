"""Float32-only faults in the frameworks themselves: the float32 verdict must not excuse them.

A kernel regression that exists only in a framework's float32 path (its float64 path right)
is what a CI suite pinning framework versions exists to catch. Here torch's ``torch.tanh`` or
JAX's ``jax.numpy.tanh`` is replaced by one whose derivative is wrong, in float32 only, by a
relative 1e-2 or by its sign; ``crosscheck sweep --dtype float32`` must exit 1 and the
float64 sweep must still pass (the fault really is float32-only).
"""

from __future__ import annotations

import json

import pytest

from crosscheck.cli import main

FAULTS = {"1e-2": 1 + 1e-2, "sign": -1.0}


def _plant_torch(monkeypatch, factor: float) -> None:
    torch = pytest.importorskip("torch")
    real_tanh = torch.tanh

    class Tanh(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            return real_tanh(x)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(output)

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            d = 1 - y * y
            return g * (d * factor if y.dtype == torch.float32 else d)

    monkeypatch.setattr(torch, "tanh", Tanh.apply)


def _plant_jax(monkeypatch, factor: float) -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    real_tanh = jnp.tanh

    @jax.custom_vjp
    def tanh(x):
        return real_tanh(x)

    def fwd(x):
        y = real_tanh(x)
        return y, y

    def bwd(y, g):
        d = 1 - y * y
        return (g * (d * factor if y.dtype == jnp.float32 else d),)  # dtype is static: float32 path only

    tanh.defvjp(fwd, bwd)
    monkeypatch.setattr(jnp, "tanh", tanh)


PLANT = {"torch": _plant_torch, "jax": _plant_jax}


def _sweep(tmp_path, backend: str, dtype: str) -> tuple[int, dict]:
    out = tmp_path / f"{backend}-{dtype}.json"
    code = main(["sweep", "--no-progress", "--backends", f"numpy,{backend}", "--dtype", dtype, "--examples", "60",
                 "--routes", "recursive", "--json", str(out)])
    return code, json.loads(out.read_text())


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_a_float32_only_tanh_fault_fails_the_float32_sweep(tmp_path, monkeypatch, backend, fault):
    PLANT[backend](monkeypatch, FAULTS[fault])
    code, report = _sweep(tmp_path, backend, "float32")
    assert code == 1, report["notes"]
    (failure,) = report["failures"]
    problem = failure["problems"][0]
    assert problem["who"] == backend
    assert "tanh" in json.dumps(failure["network"])
    assert problem["float32"]["context"].startswith(f"{backend} agrees in float64: a float32-only difference")
    assert problem["float32"]["bound"] < 1e-3  # the reference's own float32 rounding is far smaller
    assert not [n for n in report["notes"] if n["kind"] == "float32_rounding"]
    # the fault is in the float32 path only: the float64 sweep of the same framework passes
    code64, report64 = _sweep(tmp_path, backend, "float64")
    assert code64 == 0, report64["failures"]
