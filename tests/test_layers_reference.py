"""The per-layer references against torch.autograd, jax.vjp and the numeric oracles (float64 and
float32), and the layer sweep able to fail."""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck.layers import oracles as O
from crosscheck.layers.api import LAYERS
from crosscheck.layers.evaluate import compare_parts
from crosscheck.layers.recurrent_oracles import oracle_inputs
from crosscheck.layers.sweep import _NUMERIC, _numeric_error, sweep_layers
from crosscheck.reference.layers import norm

FAMILIES = sorted(O.FAMILIES)


def _examples(name: str, dtype: str = "float64") -> list[dict]:
    """The layer's explicit first examples (N = 1, N > 1, distinct dimensions), with their inputs."""
    layer = LAYERS[name]
    out = []
    for i, dims in enumerate(d for d in layer.first if not d.get("kinks")):  # no derivative on a kink
        rng = np.random.default_rng(i)
        a = layer.inputs(dims, rng, dtype, {})
        a.pop("x_large", None)
        out.append(O.add_mask(oracle_inputs(name, a), rng))
    return out


def _agree(family: O.Family, got: dict, a: dict, dtype: str) -> list:
    a64 = {k: (np.asarray(v, np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
           for k, v in a.items()}
    expected = O.reference_vjp(family, a64)
    groups = (("out",), tuple("d" + k for k in family.wrt))
    expected32 = O.reference_vjp(family, a) if dtype == "float32" else None
    scales = family.scales(a64) if family.scales else None
    return [p.describe() for p in compare_parts(expected, got, groups, dtype, expected32, scales) if not p.passed]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", FAMILIES)
def test_reference_agrees_with_torch_autograd(name, dtype):
    pytest.importorskip("torch")
    family = O.FAMILIES[name]
    for a in _examples(name, dtype):
        got = O.torch_vjp(family, a)
        assert got["d" + family.wrt[0]].dtype == np.dtype(dtype)
        assert not _agree(family, got, a, dtype), (name, a)


@pytest.mark.parametrize("name", FAMILIES)
def test_reference_agrees_with_jax_vjp(name):
    pytest.importorskip("jax")
    family = O.FAMILIES[name]
    # N = 1 and N > 1 in float64, N > 1 in float32: one JAX compile each
    for dtype, a in [("float64", e) for e in _examples(name)] + [("float32", _examples(name, "float32")[1])]:
        got = O.jax_vjp(family, a)
        assert got["d" + family.wrt[0]].dtype == np.dtype(dtype)
        assert not _agree(family, got, a, dtype), (name, dtype)


@pytest.mark.parametrize("name", FAMILIES)
def test_reference_agrees_with_numeric_oracles(name):
    family = O.FAMILIES[name]
    methods = ["finite_difference"] + (["complex_step"] if family.analytic else [])
    for a in _examples(name):
        ref = O.reference_vjp(family, a)
        for method in methods:
            err = _numeric_error(ref, O.numeric_vjp(family, a, method), family, a)
            assert err <= _NUMERIC[method], (name, method, err)


def test_numeric_oracle_sees_a_wrong_vjp():
    """The comparison can fail: a reference VJP off by 1e-3 in one entry is caught by every oracle."""
    family = O.FAMILIES["affine"]
    a = _examples("affine")[1]
    ref = O.reference_vjp(family, a)
    ref["dw"] = ref["dw"].copy()
    ref["dw"][0, 0] += 1e-3 * np.abs(ref["dw"]).max()
    assert _numeric_error(ref, O.numeric_vjp(family, a), family, a) > _NUMERIC["finite_difference"]
    assert _numeric_error(ref, O.numeric_vjp(family, a, "complex_step"), family, a) > _NUMERIC["complex_step"]


def test_running_statistics_follow_the_course_formula():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    rm, rv = rng.normal(size=3), rng.uniform(1, 2, size=3)
    new_m, new_v = norm.running_stats(x, rm, rv, 0.9, (0,))
    biased = ((x - x.mean(0)) ** 2).mean(0)
    np.testing.assert_allclose(new_m, 0.9 * rm + 0.1 * x.mean(0))
    np.testing.assert_allclose(new_v, 0.9 * rv + 0.1 * biased)


def test_layer_sweep_passes_on_the_references_and_fails_on_a_planted_error(monkeypatch):
    pytest.importorskip("torch")
    result = sweep_layers(layers="affine,relu", oracles="torch,finite_difference", examples=4)
    assert result["passed"], result
    real = O.FAMILIES["relu"]
    broken = O.Family("relu", real.wrt, real.forward, lambda a: {"dx": real.vjp(a)["dx"] * (1 + 1e-3)},
                      real.analytic)
    monkeypatch.setitem(O.FAMILIES, "relu", broken)
    result = sweep_layers(layers="relu", oracles="torch", examples=4)
    assert not result["passed"]
    failure = result["families"][0]["failure"]
    assert failure["problems"][0]["oracle"] == "torch"
    assert "dx" in failure["problems"][0]["summary"]
