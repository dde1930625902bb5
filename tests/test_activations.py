"""The activation table: derivatives match the values, kinks are complete and carry their
declared subgradients, the complex step agrees wherever an activation claims to be analytic."""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck.model.activations import ACTIVATIONS, get_activation

NAMES = tuple(ACTIVATIONS) + ("relu:1", "leaky_relu:0.5", "elu:0")
GRID = np.concatenate([np.linspace(-6.0, 6.0, 241), np.random.default_rng(0).normal(0.0, 3.0, 200)])


def off_kinks(name: str, xs: np.ndarray, margin: float = 1e-3) -> np.ndarray:
    act = get_activation(name)
    keep = np.ones(xs.shape, dtype=bool)
    for k in act.kinks:
        keep &= np.abs(xs - k) >= margin
    return xs[keep]


def test_the_issue_list_is_in_the_table():
    for name in ("identity", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus", "gelu", "gelu_tanh", "sin"):
        assert name in ACTIVATIONS


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_a_central_difference_of_the_value_off_kinks(name):
    act = get_activation(name)
    x = off_kinks(name, GRID)
    h = 1e-6  # error ~ h^2 |f'''| / 6 + eps |f| / h < 1e-9 on this grid
    fd = (act.value(x + h) - act.value(x - h)) / (2 * h)
    np.testing.assert_allclose(act.prime(x), fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_complex_step_of_the_value_equals_the_derivative_where_analytic(name):
    act = get_activation(name)
    x = off_kinks(name, GRID)
    h = 1e-30
    if act.analytic:
        cs = np.imag(act.value(x + 1j * h)) / h
        # atol: a few ulps of the O(1) terms that cancel in e.g. gelu_tanh' = 0.5 (1 + tanh) + ...
        np.testing.assert_allclose(cs, act.prime(x), rtol=1e-13, atol=1e-14)
    else:
        # the flag is honest: the complex step cannot be taken (or would be wrong)
        try:
            cs = np.imag(act.value(x + 1j * h)) / h
        except TypeError:
            return
        assert not np.allclose(cs, act.prime(x), rtol=1e-6)


def test_gelu_is_the_one_activation_without_a_complex_evaluation():
    assert [a.name for a in ACTIVATIONS.values() if not a.analytic] == ["gelu"]


@pytest.mark.parametrize("name", NAMES)
def test_every_jump_of_the_derivative_is_a_listed_kink(name):
    act = get_activation(name)
    xs = np.linspace(-5.0, 5.0, 100_001)  # step 1e-4: a smooth derivative moves < 1e-3 per step
    d = act.derivative(xs)
    jumps = xs[:-1][np.abs(np.diff(d)) > 1e-3]
    for x in jumps:
        assert any(abs(x - k) <= 2e-4 for k in act.kinks), f"{name}: derivative jumps near {x}, not a listed kink"


@pytest.mark.parametrize("name", [n for n in ACTIVATIONS if ACTIVATIONS[n].kinks])
def test_every_listed_kink_is_continuous_but_not_smooth(name):
    act = get_activation(name)
    for k in act.kinks:
        d = 1e-7
        assert abs(act.value(np.array([k + d]))[0] - act.value(np.array([k - d]))[0]) < 1e-6
        left, right = act.derivative(np.array([k - d]))[0], act.derivative(np.array([k + d]))[0]
        second_left = (act.derivative(np.array([k - d]))[0] - act.derivative(np.array([k - 2 * d]))[0]) / d
        second_right = (act.derivative(np.array([k + 2 * d]))[0] - act.derivative(np.array([k + d]))[0]) / d
        # relu, leaky_relu: sigma' jumps; elu (alpha = 1): sigma'' jumps from 1 to 0
        assert abs(left - right) > 1e-3 or abs(second_left - second_right) > 0.5, name


@pytest.mark.parametrize("name", [n for n in ACTIVATIONS if ACTIVATIONS[n].kinks])
def test_default_subgradient_lies_between_the_one_sided_derivatives(name):
    act = get_activation(name)
    for k, g in zip(act.kinks, act.at_kink):
        left, right = act.derivative(np.array([k - 1e-9]))[0], act.derivative(np.array([k + 1e-9]))[0]
        assert min(left, right) <= g <= max(left, right)
        assert act.prime(np.array([k]))[0] == g


def test_subgradient_conventions_at_zero():
    zero = np.array([0.0, 1.0, -1.0])
    assert get_activation("relu").prime(zero).tolist() == [0.0, 1.0, 0.0]  # torch and JAX (docs/measurements.md)
    assert get_activation("relu:1").prime(zero).tolist() == [1.0, 1.0, 0.0]  # seed 002
    assert get_activation("relu:0.5").prime(zero).tolist() == [0.5, 1.0, 0.0]  # maximum(x, 0)
    assert get_activation("leaky_relu").prime(zero)[0] == pytest.approx(0.01)
    assert get_activation("elu").prime(zero)[0] == 1.0
    # the value is untouched by the subgradient convention
    np.testing.assert_array_equal(get_activation("relu:1").value(zero), get_activation("relu").value(zero))


def test_bad_names_are_explained():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        get_activation("swish")
    with pytest.raises(ValueError, match="has no kink"):
        get_activation("tanh:1")
    with pytest.raises(ValueError, match="must be a number"):
        get_activation("relu:one")


@pytest.mark.parametrize("name", NAMES)
def test_large_inputs_stay_finite_without_overflow(name):
    act = get_activation(name)
    x = np.array([-1000.0, -50.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert np.all(np.isfinite(act.value(x)))
        assert np.all(np.isfinite(act.prime(x)))
