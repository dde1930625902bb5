"""The tolerance policy: rounding passes, a planted 1e-3 (float32) or 1e-8 (float64) in one
gradient fails, NaN and shape mismatches never pass, tiny gradients next to big ones are
judged against the whole gradient's scale."""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck.compare import compare_gradients
from crosscheck.draws import draw
from crosscheck.model.network import Network
from crosscheck.reference import recursive
from crosscheck.tolerance import FLOOR, TolerancePolicy, policy_for

NETWORKS = [
    Network((3, 5, 4, 2), ("tanh", "relu", "identity"), loss="half_sse"),
    Network((4, 6, 3), ("sigmoid", ("softplus", "elu", "gelu")), loss="softmax_ce", reduction="mean"),
    Network((2, 7, 5, 3, 1), ("sin", "leaky_relu", "gelu_tanh", "identity"), loss="output", bias=False),
]
PLANT = {"float64": 1e-8, "float32": 1e-3}


def _up(a):
    return None if a is None else a.astype(np.float64)


def _pair(network: Network, dtype: str, seed: int):
    """(expected float64, got computed in dtype) on the same dtype-rounded inputs."""
    d = draw(network, seed, batch_size=4, draws=1, dtype=dtype)
    params, X, Y = d.one(0)
    expected = recursive.gradients(network, tuple((_up(W), _up(b)) for W, b in params), _up(X), _up(Y))
    got = recursive.gradients(network, params, X, Y)  # NumPy in dtype: honest rounding
    return expected, got


def _planted(grads, layer: int, name: str, delta):
    out = [list(p) for p in grads]
    i = 0 if name == "W" else 1
    out[layer - 1][i] = (out[layer - 1][i] + delta).astype(out[layer - 1][i].dtype)
    return tuple(tuple(p) for p in out)


def test_policy_carries_rtol_reason_and_checks_its_arguments():
    p64, p32 = policy_for("float64"), policy_for(np.float32)
    assert isinstance(p64, TolerancePolicy) and p64.reason and p32.reason
    assert p64.rtol <= 1e-8 / 10 and p32.rtol <= 1e-3 / 5  # room to catch the mistakes we promise to
    assert p64.floor == FLOOR["float64"] and p32.floor == FLOOR["float32"]
    with pytest.raises(ValueError, match="dtype"):
        policy_for("float16")
    with pytest.raises(ValueError, match="device"):
        policy_for("float32", device="tpu")
    with pytest.raises(ValueError, match="precision"):
        policy_for("float32", precision="fast")


def test_tf32_risk_is_flagged_never_tolerated():
    gpu = policy_for("float32", "cuda", "default")
    assert gpu.tf32_risk and "TF32" in gpu.reason
    assert gpu.rtol == policy_for("float32", "cpu").rtol  # not loosened for TF32
    assert not policy_for("float32", "cuda", "highest").tf32_risk
    assert not policy_for("float64", "cuda", "default").tf32_risk
    assert not policy_for("float32", "cpu", "default").tf32_risk


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("net", range(len(NETWORKS)))
def test_correct_gradients_in_dtype_pass(net, dtype):
    for seed in range(5):
        expected, got = _pair(NETWORKS[net], dtype, seed)
        result = compare_gradients(expected, got, dtype=dtype)
        assert result.passed, result.summary()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("net", range(len(NETWORKS)))
def test_planted_error_in_one_gradient_is_caught(net, dtype):
    network = NETWORKS[net]
    rng = np.random.default_rng(net)
    expected, got = _pair(network, dtype, 0)
    for layer in range(1, network.depth + 1):
        for name in ("W", "b") if network.bias else ("W",):
            g = got[layer - 1][0 if name == "W" else 1]
            norm = np.linalg.norm(g.astype(np.float64))
            # spread over the whole parameter, and concentrated in one entry
            spread = rng.normal(size=g.shape)
            one = np.zeros(g.shape)
            one.flat[rng.integers(g.size)] = 1.0
            for direction in (spread / np.linalg.norm(spread), one):
                bad = _planted(got, layer, name, PLANT[dtype] * norm * direction)
                result = compare_gradients(expected, bad, dtype=dtype)
                assert not result.passed, (layer, name, result.summary())
                assert [f.label for f in result.failures()] == [f"{name}{layer}"]


def test_tiny_gradient_next_to_big_ones_is_judged_by_the_whole_scale():
    big = np.ones((3, 2))
    tiny = np.full(3, 1e-9)
    expected = ((big, tiny),)
    # 1e-15 absolute noise on a 1e-9 gradient: relative 1e-6 of itself, 4e-16 of the whole
    noisy = ((big, tiny + 1e-15),)
    assert compare_gradients(expected, noisy).passed
    # but an error at the whole gradient's scale is caught
    wrong = ((big, tiny + 1e-9),)
    assert not compare_gradients(expected, wrong).passed


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinity_never_pass(dtype, bad):
    expected, got = _pair(NETWORKS[0], dtype, 1)
    poisoned = [list(p) for p in got]
    poisoned[1][0] = poisoned[1][0].copy()
    poisoned[1][0][0, 0] = bad
    result = compare_gradients(expected, poisoned, dtype=dtype)
    assert not result.passed
    assert result.failures()[0].reason == "nan" and result.worst_rel_error == np.inf


def test_nan_in_both_does_not_pass():
    a = ((np.array([[np.nan]]), np.array([1.0])),)
    assert not compare_gradients(a, a).passed


def test_shape_mismatch_fails_with_reason_shape_whatever_the_values():
    expected = ((np.ones((3, 2)), np.ones(3)),)
    result = compare_gradients(expected, ((np.ones((2, 3)), np.ones(3)),))
    assert not result.passed and result.parameters[0].reason == "shape"
    result = compare_gradients(expected, ((np.ones((3, 2)), np.ones((3, 1))),))
    assert result.parameters[1].reason == "shape"
    result = compare_gradients(expected, ((np.ones((3, 2)), None),))
    assert result.parameters[1].reason == "shape" and result.parameters[1].hint == "missing"
    result = compare_gradients(expected, ((np.ones((3, 2)), np.ones(3)), (np.ones((1, 3)), None)))
    assert not result.passed and result.failures()[0].layer == 2


def test_all_zero_gradients_compare_without_dividing_by_zero():
    zero = ((np.zeros((2, 2)), np.zeros(2)),)
    assert compare_gradients(zero, zero).passed
    assert not compare_gradients(zero, ((np.zeros((2, 2)), np.full(2, 1e-3)),)).passed


def test_saturated_gelu_output_fails_float32_alone_and_passes_the_float64_recheck():
    """Why float32 has a second stage: gelu_tanh' at z = -4.5 is 0.5 (1 + tanh(...)) ~ -2.8e-5,
    a difference of O(1) numbers, so a correct float32 implementation is off by ~1e-3 relative
    in every parameter behind that neuron; in float64 the same implementation agrees."""
    pytest.importorskip("torch")
    from crosscheck.backends import get_backend
    from crosscheck.model.case import Case
    from crosscheck.model.conventions import Convention

    net = Network((3, 1), ("gelu_tanh",), loss="output")
    params = ((np.array([[0.24997444, 0.38864392, -1.20719373]], np.float32), np.array([-0.69089216], np.float32)),)
    X = np.array([[-0.38209924], [-1.06816828], [2.73982668]], np.float32)
    case = Case(net, Convention(), params, X, None)
    expected = recursive.gradients(net, tuple((_up(W), _up(b)) for W, b in params), _up(X), None)
    torch_backend = get_backend("torch")
    stage1 = compare_gradients(expected, torch_backend.gradients(case), dtype="float32")
    assert not stage1.passed and stage1.worst_rel_error > 1e-3
    stage2 = compare_gradients(expected, torch_backend.gradients(case.astype(np.float64)), dtype="float64")
    assert stage2.passed, stage2.summary()
