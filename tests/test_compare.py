"""compare_gradients' result objects, hints, summaries, and the vectorised compare_batched."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crosscheck.compare import Comparison, ParameterComparison, batched_rel_errors, compare_batched, compare_gradients
from crosscheck.tolerance import policy_for

RNG = np.random.default_rng(0)
W1, B1 = RNG.normal(size=(4, 3)), RNG.normal(size=4)
W2, B2 = RNG.normal(size=(2, 4)), RNG.normal(size=2)
S2 = RNG.normal(size=(4, 4))  # square: a transpose keeps the shape
EXPECTED = ((W1, B1), (W2, B2))


def _with(layer: int, name: str, value):
    out = [list(p) for p in EXPECTED]
    out[layer - 1][0 if name == "W" else 1] = value
    return tuple(tuple(p) for p in out)


def test_identical_gradients_pass_with_every_field_filled():
    result = compare_gradients(EXPECTED, EXPECTED)
    assert isinstance(result, Comparison) and result.passed
    assert [p.label for p in result.parameters] == ["W1", "b1", "W2", "b2"]
    p = result.parameters[0]
    assert isinstance(p, ParameterComparison)
    assert (p.layer, p.name, p.expected_shape, p.got_shape) == (1, "W", (4, 3), (4, 3))
    assert p.rel_error == 0.0 and p.abs_error == 0.0 and p.passed and p.reason == "" and p.hint == ""
    assert p.tolerance == policy_for("float64").rtol
    assert result.failures() == [] and result.first_failure() is None
    assert result.summary().startswith("ok") and result.worst_rel_error == 0.0
    assert (result.dtype, result.device, result.precision) == ("float64", "cpu", "default")


@pytest.mark.parametrize("got,hint", [
    (2.0 * W2, "scaled by 2.000"),
    (-W2, "sign flipped"),
    (0.25 * W2, "scaled by 0.250"),
    (np.zeros_like(W2), "all zeros"),
    (W2 + 1.0, ""),
])
def test_value_failures_carry_a_cheap_hint(got, hint):
    result = compare_gradients(EXPECTED, _with(2, "W", got))
    (fail,) = result.failures()
    assert (fail.label, fail.reason, fail.hint) == ("W2", "value", hint)
    assert fail.rel_error > fail.tolerance and fail.abs_error > 0


def test_transposes_are_named():
    result = compare_gradients(EXPECTED, _with(1, "W", W1.T.copy()))
    (fail,) = result.failures()
    assert (fail.reason, fail.hint, fail.got_shape) == ("shape", "transposed", (3, 4))
    square = (((S2, None),))
    (fail,) = compare_gradients(square, ((S2.T.copy(), None),)).failures()
    assert (fail.reason, fail.hint) == ("value", "transposed")


def test_per_sample_gradients_not_summed_are_named():
    per_sample = np.stack([B1 / 2, B1 / 2], axis=-1)  # (4, m=2): forgot the sum over the batch
    (fail,) = compare_gradients(EXPECTED, _with(1, "b", per_sample)).failures()
    assert (fail.reason, fail.hint) == ("shape", "not summed over the batch")


def test_first_failure_is_the_one_nearest_the_output_and_summary_names_it():
    got = _with(1, "W", 3 * W1)
    got = tuple(tuple(p) for p in [list(got[0]), [W2 * 1.5, B2]])
    result = compare_gradients(EXPECTED, got)
    assert [f.label for f in result.failures()] == ["W1", "W2"]
    assert result.first_failure().label == "W2"
    s = result.summary()
    assert s.startswith("FAIL") and "2 of 4" in s and "W2" in s and "scaled by 1.500" in s
    assert "\n" not in s


def test_to_dict_is_json_even_with_infinities():
    result = compare_gradients(EXPECTED, _with(1, "b", np.full(4, np.nan)))
    d = json.loads(json.dumps(result.to_dict()))
    assert d["passed"] is False and d["worst_rel_error"] == "inf"
    assert d["parameters"][1]["reason"] == "nan" and d["parameters"][1]["rel_error"] == "inf"
    assert d["tolerance"] == policy_for("float64").rtol


def test_precision_flag_on_float32_gpu_failures_only():
    off = ((W1.astype(np.float32) * np.float32(1.001), B1.astype(np.float32)),)
    exp = ((W1, B1),)
    gpu = compare_gradients(exp, off, dtype="float32", device="cuda")
    assert not gpu.passed and gpu.flags == ("precision",) and "TF32" in gpu.summary()
    assert compare_gradients(exp, off, dtype="float32", device="cuda", precision="highest").flags == ()
    assert compare_gradients(exp, off, dtype="float32", device="cpu").flags == ()
    ok = ((W1.astype(np.float32), B1.astype(np.float32)),)
    assert compare_gradients(exp, ok, dtype="float32", device="cuda").flags == ()


def test_explicit_policy_overrides_the_lookup():
    strict = policy_for("float64")
    got = ((W1 * (1 + 1e-6), B1), (W2, B2))
    assert compare_gradients(EXPECTED, got, dtype="float32").passed
    assert not compare_gradients(EXPECTED, got, dtype="float32", policy=strict).passed


def test_compare_batched_agrees_with_compare_gradients_draw_by_draw():
    rng = np.random.default_rng(1)
    D = 40
    exp = ((rng.normal(size=(D, 4, 3)), rng.normal(size=(D, 4))), (rng.normal(size=(D, 2, 4)), None))
    got = [[a.copy() if a is not None else None for a in p] for p in exp]
    scale = 10.0 ** rng.uniform(-13, -2, size=D)  # from rounding-level to a clear mistake
    for d in range(D):
        got[d % 2][0][d] += scale[d] * rng.normal(size=got[d % 2][0][d].shape)
    got[0][1][3, 0] = np.nan
    worst, ok = compare_batched(exp, got)
    assert worst.shape == ok.shape == (D,)
    assert 0 < ok.sum() < D
    for d in range(D):
        one = compare_gradients(tuple((W[d], None if b is None else b[d]) for W, b in exp),
                                tuple((W[d], None if b is None else b[d]) for W, b in got))
        assert one.passed == ok[d]
        assert one.worst_rel_error == pytest.approx(worst[d], rel=1e-12) or one.worst_rel_error == worst[d]
    rel, labels = batched_rel_errors(exp, got)
    assert labels == ["W1", "b1", "W2"] and rel.shape == (D, 3) and rel[3, 1] == np.inf


def test_compare_batched_shape_mismatch_fails_every_draw():
    exp = ((np.ones((5, 3, 2)), np.ones((5, 3))),)
    got = ((np.ones((5, 2, 3)), np.ones((5, 3))),)
    worst, ok = compare_batched(exp, got)
    assert not ok.any() and np.isinf(worst).all()


def test_a_user_container_is_refused_with_the_conversion_to_use():
    with pytest.raises(TypeError, match="params_from_user"):
        compare_gradients(EXPECTED, {"dW1": W1, "db1": B1})
    with pytest.raises(TypeError, match="pair per layer"):
        compare_gradients(EXPECTED, [W1, W2])


def test_a_small_scale_is_named_but_one_wrong_entry_is_not():
    rng = np.random.default_rng(5)
    W, b = rng.normal(size=(3, 2)), rng.normal(size=3)
    scaled = compare_gradients(((W, b),), ((1.001 * W, b),))
    assert scaled.first_failure().hint == "scaled by 1.001"
    one_entry = W.copy()
    one_entry[0, 0] += 1e-8 * np.linalg.norm(W)
    off = compare_gradients(((W, b),), ((one_entry, b),))
    assert not off.passed and off.first_failure().hint == ""


def test_worst_of_each_is_compare_gradients_worst_for_each_and_refuses_other_shapes():
    from crosscheck.compare import worst_of_each

    rng = np.random.default_rng(11)
    expected = ((rng.normal(size=(4, 3)), rng.normal(size=4)), (rng.normal(size=(2, 4)), None))
    many = [tuple((W + s * rng.normal(size=W.shape), None if b is None else b + s * rng.normal(size=b.shape))
                  for W, b in expected) for s in (0.0, 1e-13, 1e-6, 1.0)]
    worst = worst_of_each(expected, many, policy=policy_for("float64"))
    for w, got in zip(worst, many):
        assert w == pytest.approx(compare_gradients(expected, got).worst_rel_error, rel=1e-12, abs=0)
    assert worst[0] == 0.0 and worst[3] > 0.1
    transposed = ((expected[0][0].T, expected[0][1]), expected[1])
    assert worst_of_each(expected, [many[0], transposed], policy=policy_for("float64")) is None
    with_bias = (expected[0], (expected[1][0], np.zeros(2)))
    assert worst_of_each(expected, [with_bias], policy=policy_for("float64")) is None
