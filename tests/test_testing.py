"""crosscheck.testing.assert_grads_close: passes equal gradients, and its failure message names
the layer, the parameter, both shapes, the error against the tolerance, and a hint."""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck import Convention, Network
from crosscheck.errors import UsageError
from crosscheck.reference.recursive import gradients
from crosscheck.testing import assert_grads_close
from crosscheck.tolerance import policy_for

NET = Network.simple((3, 4, 2), hidden="tanh", output="identity", loss="half_sse")


def _reference(net: Network = NET, seed: int = 0, m: int = 5):
    rng = np.random.default_rng(seed)
    params = tuple((rng.normal(size=net.weight_shape(l)), rng.normal(size=net.widths[l]) if net.bias else None)
                   for l in range(1, net.depth + 1))
    X, Y = rng.normal(size=(net.n_in, m)), rng.normal(size=(net.n_out, m))
    return gradients(net, params, X, Y)


def _replace(grads, layer: int, name: str, value):
    out = [list(p) for p in grads]
    out[layer - 1][0 if name == "W" else 1] = value
    return tuple(tuple(p) for p in out)


EXPECTED = _reference()


def test_equal_gradients_pass_and_return_the_comparison():
    c = assert_grads_close(EXPECTED, tuple((W.copy(), b.copy()) for W, b in EXPECTED))
    assert c.passed and c.worst_rel_error == 0.0


def test_transposed_weight_gradient_names_layer_parameter_shapes_and_hint():
    bad = _replace(EXPECTED, 2, "W", EXPECTED[1][0].T.copy())
    with pytest.raises(AssertionError) as e:
        assert_grads_close(EXPECTED, bad)
    text = str(e.value)
    assert "dW2 (layer 2 of 2): expected shape (2, 4), got shape (4, 2); shape mismatch; hint: transposed" in text
    assert "1 of 4 parameter gradients" in text


def test_scaled_gradient_reports_error_against_tolerance_and_the_factor():
    bad = _replace(EXPECTED, 1, "W", 2 * EXPECTED[0][0])
    with pytest.raises(AssertionError) as e:
        assert_grads_close(EXPECTED, bad)
    text = str(e.value)
    rtol = policy_for("float64").rtol
    assert "dW1 (layer 1 of 2): expected shape (4, 3), got shape (4, 3); relative error 1.00e+00 > " \
           f"tolerance {rtol:.1e}; hint: scaled by 2.000" in text


def test_sign_nan_and_missing_layer():
    with pytest.raises(AssertionError, match=r"db2 .*hint: sign flipped"):
        assert_grads_close(EXPECTED, _replace(EXPECTED, 2, "b", -EXPECTED[1][1]))
    nan = EXPECTED[0][1].copy()
    nan[0] = np.nan
    with pytest.raises(AssertionError, match=r"db1 \(layer 1 of 2\): .*contains NaN or infinity"):
        assert_grads_close(EXPECTED, _replace(EXPECTED, 1, "b", nan))
    with pytest.raises(AssertionError, match=r"dW2 .*got shape None; shape mismatch; hint: missing"):
        assert_grads_close(EXPECTED, EXPECTED[:1])


def test_the_first_failure_reported_is_nearest_the_output():
    bad = _replace(_replace(EXPECTED, 1, "W", 3 * EXPECTED[0][0]), 2, "b", 3 * EXPECTED[1][1])
    lines = str(pytest.raises(AssertionError, assert_grads_close, EXPECTED, bad).value).splitlines()
    assert "2 of 4" in lines[0]
    assert lines[1].strip().startswith("db2") and lines[2].strip().startswith("dW1")


def test_tolerance_is_the_policys_not_widened():
    W = EXPECTED[0][0]
    tiny = W * (1 + 1e-13)
    assert_grads_close(EXPECTED, _replace(EXPECTED, 1, "W", tiny))
    small = W.copy()
    small[0, 0] += 1e-8 * np.linalg.norm(W)  # a 1e-8 relative mistake is caught in float64
    rtol = policy_for("float64").rtol
    assert rtol < 1e-8
    with pytest.raises(AssertionError, match=rf"dW1 .*relative error 1\.00e-08 > tolerance {rtol:.1e}") as e:
        assert_grads_close(EXPECTED, _replace(EXPECTED, 1, "W", small))
    assert "hint" not in str(e.value)  # one entry off: no scale explains it


def test_dtype_picks_the_float32_tolerance():
    as32 = tuple((W.astype(np.float32), b.astype(np.float32)) for W, b in EXPECTED)
    assert_grads_close(EXPECTED, as32, dtype="float32")
    with pytest.raises(AssertionError, match="float64 cpu"):
        assert_grads_close(EXPECTED, as32)  # float32 rounding fails float64's tolerance


def test_names_and_msg_appear_in_the_message():
    bad = _replace(EXPECTED, 2, "W", -EXPECTED[1][0])
    with pytest.raises(AssertionError) as e:
        assert_grads_close(EXPECTED, bad, names=("hidden", "output"), msg="after the upgrade")
    text = str(e.value)
    assert text.startswith("after the upgrade: gradients differ")
    assert "dW2 (layer 2 of 2, output)" in text


ROWS_DICT = Convention(batch="rows", weights="in_out", bias="row", params="dict")


def test_user_layout_passes_and_reports_the_users_shapes():
    exp = ROWS_DICT.params_to_user(EXPECTED, NET, gradient=True)
    got = {k: v.copy() for k, v in exp.items()}
    assert assert_grads_close(exp, got, layout=ROWS_DICT, network=NET).passed
    assert_grads_close(exp, got, layout="rows/in_out/row/dict", network=NET)
    assert_grads_close(exp, got, layout=ROWS_DICT.to_dict(), network=NET)
    got["dW2"] = exp["dW2"].T.copy()  # user layout in_out: (4, 2) expected, (2, 4) returned
    with pytest.raises(AssertionError) as e:
        assert_grads_close(exp, got, layout=ROWS_DICT, network=NET)
    assert "dW2 (layer 2 of 2): expected shape (4, 2), got shape (2, 4); shape mismatch; hint: transposed" \
        in str(e.value)


def test_user_layout_bias_shape_and_values():
    exp = ROWS_DICT.params_to_user(EXPECTED, NET, gradient=True)
    got = dict(exp, db1=exp["db1"].reshape(-1))  # (1, 4) in the row layout, (4,) returned
    with pytest.raises(AssertionError, match=r"db1 .*expected shape \(1, 4\), got shape \(4,\); shape mismatch"):
        assert_grads_close(exp, got, layout=ROWS_DICT, network=NET)
    got = dict(exp, db1=exp["db1"] * 3)
    with pytest.raises(AssertionError, match=r"db1 .*expected shape \(1, 4\), got shape \(1, 4\); .*scaled by 3"):
        assert_grads_close(exp, got, layout=ROWS_DICT, network=NET)
    with pytest.raises(AssertionError, match="missing key 'dW2'"):
        assert_grads_close(exp, {k: v for k, v in exp.items() if k != "dW2"}, layout=ROWS_DICT, network=NET)
    with pytest.raises(AssertionError, match="dW1 is not an array of real numbers"):
        assert_grads_close(exp, dict(exp, dW1="oops"), layout=ROWS_DICT, network=NET)


def test_augmented_layout_names_the_bias_column():
    conv = Convention(batch="columns", weights="out_in", bias="augmented", params="pairs")
    exp = conv.params_to_user(EXPECTED, NET, gradient=True)
    got = [W.copy() for W in exp]
    assert_grads_close(exp, got, layout=conv, network=NET)
    got[1][:, -1] *= -1  # the bias column of the output layer
    with pytest.raises(AssertionError) as e:
        assert_grads_close(exp, got, layout=conv, network=NET)
    assert "db2 (the bias column of dW2) (layer 2 of 2): expected shape (2, 5), got shape (2, 5)" in str(e.value)
    assert "sign flipped" in str(e.value)


def test_usage_errors():
    exp = ROWS_DICT.params_to_user(EXPECTED, NET, gradient=True)
    with pytest.raises(UsageError, match="needs network="):
        assert_grads_close(exp, exp, layout=ROWS_DICT)
    with pytest.raises(UsageError, match="layout must be"):
        assert_grads_close(exp, exp, layout=42, network=NET)
    with pytest.raises(UsageError, match="batch must be one of"):
        assert_grads_close(exp, exp, layout="cols/in_out/row/dict", network=NET)
    with pytest.raises(UsageError, match="expected does not fit layout"):
        assert_grads_close(EXPECTED, exp, layout=ROWS_DICT, network=NET)


def test_strategies_are_reexported():
    import crosscheck.strategies as strategies
    import crosscheck.testing as testing

    assert testing.cases is strategies.cases and testing.networks is strategies.networks
    assert testing.conventions is strategies.conventions
    with pytest.raises(AttributeError):
        testing.no_such_thing  # noqa: B018


def test_user_layout_reports_shape_and_value_failures_together():
    exp = ROWS_DICT.params_to_user(EXPECTED, NET, gradient=True)
    got = dict(exp, dW2=exp["dW2"].T.copy(), db1=exp["db1"] * 0.5)
    lines = str(pytest.raises(AssertionError, assert_grads_close, exp, got, layout=ROWS_DICT,
                              network=NET).value).splitlines()
    assert "2 of 4 parameter gradients" in lines[0]
    assert lines[1].strip().startswith("dW2") and "hint: transposed" in lines[1]
    assert lines[2].strip().startswith("db1") and "hint: scaled by 0.500" in lines[2]


def test_complex_values_are_refused_not_compared_by_their_real_part():
    # np.asarray(z, float) would drop the imaginary part and pass: a complex gradient is a usage error
    complex_got = tuple((W + 1j, None if b is None else b.astype(complex)) for W, b in EXPECTED)
    with pytest.raises(UsageError, match=r"got\[0\]\[0\] is complex"):
        assert_grads_close(EXPECTED, complex_got)
    with pytest.raises(UsageError, match="expected.* is complex"):
        assert_grads_close(complex_got, EXPECTED)
    exp = ROWS_DICT.params_to_user(EXPECTED, NET, gradient=True)
    with pytest.raises(UsageError, match=r"got\['dW1'\] is complex"):
        assert_grads_close(exp, dict(exp, dW1=exp["dW1"] * (1 + 1e-3j)), layout=ROWS_DICT, network=NET)


@pytest.mark.parametrize("expected", [(), [], ((None, None),)])
def test_an_empty_comparison_is_refused(expected):
    with pytest.raises(UsageError, match="empty comparison"):
        assert_grads_close(expected, expected)


@pytest.mark.parametrize("options, match", [
    ({"dtype": "float16"}, "no tolerance policy"),
    ({"device": "tpu"}, "device must be"),
    ({"precision": "low"}, "precision must be"),
    ({"names": "hidden"}, "names must be"),
    ({"names": [1, 2]}, "names must be"),
    ({"msg": 3}, "msg must be"),
    ({"network": "2-3-2"}, "network must be"),
])
def test_bad_options_are_usage_errors(options, match):
    with pytest.raises(UsageError, match=match):
        assert_grads_close(EXPECTED, EXPECTED, **options)


def test_canonical_expected_must_be_a_sequence():
    with pytest.raises(UsageError, match="canonical gradients"):
        assert_grads_close({"dW1": 1}, EXPECTED)
