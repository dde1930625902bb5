"""The mistake catalogue and the matcher: each planted output is named, first, in every layout.

The planted outputs here are made directly (slips applied to the reference gradient in the
user's layout; mechanisms through ``backprop``'s hooks). ``test_check.py`` plants the same
mistakes in independently written student code and runs them through the whole job.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from crosscheck.case import Case
from crosscheck.conventions import Convention
from crosscheck.diagnose import CATALOGUE, Diagnosis, backprop, candidates, diagnose, expected_user_arrays, user_arrays
from crosscheck.draws import draw
from crosscheck.errors import ConventionError
from crosscheck.network import Network
from crosscheck.reference.recursive import gradients
from crosscheck.strategies import cases

CONVENTIONS = [
    Convention("rows", "in_out", "vector", "dict"),
    Convention("columns", "out_in", "column", "dict"),
    Convention("rows", "out_in", "row", "pairs"),
    Convention("columns", "in_out", "vector", "pairs"),
]


def make_case(convention=CONVENTIONS[0], widths=(3, 4, 5, 2), acts=("tanh", "sigmoid", "identity"),
              loss="half_sse", reduction="mean", m=6, seed=1, kinks=False, bias=None):
    net = Network(widths, acts, loss=loss, reduction=reduction,
                  bias=convention.has_bias if bias is None else bias)
    params, X, Y = draw(net, seed, batch_size=m, kinks=kinks).one(0)
    return Case(net, convention, params, X, Y)


def user(case, grads):
    return case.convention.params_to_user(grads, case.network, gradient=True)


def named_to_container(case, named):
    """Named user arrays back into the user's container, without shape checks."""
    c, k = case.convention, case.network.depth
    if c.params == "dict":
        return dict(named)
    if c.has_bias and not c.augmented:
        return [(named[f"dW{i}"], named[f"db{i}"]) for i in range(1, k + 1)]
    return [named[f"dW{i}"] for i in range(1, k + 1)]


def ids(diagnoses):
    return [d.id for d in diagnoses]


def expected_named(case):
    return expected_user_arrays(case, gradients(case.network, case.params, case.X, case.Y))


# ---- the hooks: without them, backprop is the reference -------------------------------------------

@settings(max_examples=40, deadline=None, database=None)
@given(cases(depth=(1, 3), widths=(2, 6)))
def test_backprop_without_hooks_is_the_reference(case):
    got, deltas = backprop(case.network, case.params, case.X, case.Y)
    want = gradients(case.network, case.params, case.X, case.Y)
    for (gW, gb), (wW, wb) in zip(got, want):
        np.testing.assert_allclose(gW, wW, rtol=1e-12, atol=1e-14)
        if wb is not None:
            np.testing.assert_allclose(gb, wb, rtol=1e-12, atol=1e-14)
    # db is delta summed over the samples: bias_not_reduced matches against the unsummed delta
    for layer, (_W, b) in enumerate(want, start=1):
        if b is not None:
            np.testing.assert_allclose(deltas[layer].sum(axis=-1), b, rtol=1e-12, atol=1e-14)


def test_the_right_gradient_has_no_mistake_to_name():
    case = make_case()
    d = diagnose(case, user(case, gradients(case.network, case.params, case.X, case.Y)))
    assert ids(d) == ["unknown"] and "rounding" in d[0].detail


# ---- slips, in the user's layout --------------------------------------------------------------------

@pytest.mark.parametrize("convention", CONVENTIONS, ids=lambda c: c.describe())
def test_slips_are_named_first(convention):
    case = make_case(convention)
    e = expected_named(case)
    m = case.batch_size
    _, deltas = backprop(case.network, case.params, case.X, case.Y)
    delta2 = deltas[2].T if convention.batch == "rows" else deltas[2]
    planted = {
        "transposed": {**e, "dW2": e["dW2"].T},
        "sign": {k: -v for k, v in e.items()},
        "scale": {k: m * v for k, v in e.items()},
        "layer_order": {**e, "dW1": e["dW3"], "db1": e["db3"], "dW3": e["dW1"], "db3": e["db1"]},
        "bias_not_reduced": {**e, "db2": delta2},
        "vec_order": {**e, "dW2": e["dW2"].ravel(order="F").reshape(e["dW2"].shape)},
        "shape": {**e, "dW1": np.hstack([e["dW1"], np.ones((e["dW1"].shape[0], 1))])},
        "unknown": {**e, "dW2": e["dW2"] + 0.1},
    }
    for mistake, named in planted.items():
        d = diagnose(case, named_to_container(case, named))
        assert ids(d)[0] == mistake, (mistake, [str(x) for x in d])
        assert isinstance(d[0], Diagnosis) and d[0].parameter.startswith("d")


def test_sentences_name_the_parameter_and_the_factor():
    case = make_case(m=4)
    e = expected_named(case)
    d = diagnose(case, {**e, "dW2": e["dW2"].T})[0]
    assert (d.parameter, d.layer) == ("dW2", 2)
    assert d.detail.startswith("dW2 is the transpose of the expected gradient")
    d = diagnose(case, {k: 4 * v for k, v in e.items()})[0]
    assert "every gradient is 4 times too large" in d.detail and "1/m of the mean is missing" in d.detail
    # the same factor under a sum: dividing by m is the mistake then
    case = make_case(reduction="sum", m=4)
    e = expected_named(case)
    d = diagnose(case, {k: v / 4 for k, v in e.items()})[0]
    assert d.id == "scale" and "declared reduction is sum" in d.detail
    assert d.to_dict() == {"id": "scale", "parameter": d.parameter, "layer": d.layer, "detail": d.detail}


def test_every_weight_transposed_is_one_mistake():
    case = make_case(CONVENTIONS[0])
    e = expected_named(case)
    d = diagnose(case, {k: (v.T if k.startswith("dW") else v) for k, v in e.items()})
    assert ids(d) == ["transposed"]
    assert "dW3, dW2 and dW1 are the transposes" in d[0].detail


def test_two_mistakes_are_both_named():
    case = make_case(CONVENTIONS[1], m=5)
    e = expected_named(case)
    d = diagnose(case, {**{k: 5 * v for k, v in e.items()}, "dW3": 5 * e["dW3"].T})
    assert set(ids(d)[:2]) == {"transposed", "scale"}


def test_reshape_to_a_flat_vector_is_a_shape_slip_and_column_stacking_is_vec_order():
    case = make_case(CONVENTIONS[0])
    e = expected_named(case)
    assert ids(diagnose(case, {**e, "dW2": e["dW2"].ravel()}))[0] == "shape"
    d = diagnose(case, {**e, "dW2": e["dW2"].ravel(order="F")})[0]
    assert d.id == "vec_order" and "column-stacking" in d.detail
    d = diagnose(case, {**e, "dW2": e["dW2"].reshape(e["dW2"].shape[::-1])})[0]
    assert d.id == "vec_order" and "reshaped instead of transposed" in d.detail


# ---- mechanisms: the recursion done wrong -------------------------------------------------------------

def _mechanisms(net):
    return {
        "activation_derivative": dict(sigma_prime=lambda layer, z, a: net.sigma_prime(layer, a)),
        "missing_activation_derivative": dict(
            sigma_prime=lambda layer, z, a: np.ones_like(z) if layer == 1 else net.sigma_prime(layer, z)),
        "no_transpose_in_backprop": dict(back_matrix=lambda layer, W: W.reshape(W.shape[::-1])),
    }


@pytest.mark.parametrize("convention", CONVENTIONS + [Convention("columns", "out_in", "augmented", "pairs")],
                         ids=lambda c: c.describe())
def test_mechanisms_are_named_first(convention):
    case = make_case(convention, acts=("tanh", "sigmoid", "sigmoid"))
    net, (params, X, Y) = case.network, (case.params, case.X, case.Y)
    for mistake, hooks in _mechanisms(net).items():
        grads, _ = backprop(net, params, X, Y, **hooks)
        d = diagnose(case, user(case, grads))
        assert ids(d)[0] == mistake, (mistake, [str(x) for x in d])
    # single_sample: the first sample's gradient alone
    grads, _ = backprop(net, params, X[:, :1], Y[:, :1])
    assert ids(diagnose(case, user(case, grads)))[0] == "single_sample"


def test_the_derivative_of_another_function_is_named():
    case = make_case(acts=("tanh", "tanh", "identity"))
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    grads, _ = backprop(case.network, case.params, case.X, case.Y,
                        sigma_prime=lambda layer, z, a: sig(z) * (1 - sig(z)) if layer < 3 else np.ones_like(z))
    d = diagnose(case, user(case, grads))[0]
    assert d.id == "activation_derivative" and "derivative of sigmoid" in d.detail


def test_kink_convention_needs_a_pre_activation_on_the_kink():
    net_acts = ("relu", "relu", "identity")
    case = make_case(CONVENTIONS[2], acts=net_acts, kinks=True, seed=3)
    on_kink = make_case(CONVENTIONS[2], acts=("relu:1", "relu:1", "identity"), kinks=True, seed=3)
    grads = gradients(on_kink.network, case.params, case.X, case.Y)
    want = gradients(case.network, case.params, case.X, case.Y)
    assert any(not np.allclose(a, b) for (a, _), (b, _) in zip(grads, want)), "seed 3 must put a neuron on a kink"
    d = diagnose(case, user(case, grads))[0]
    assert d.id == "kink_convention"
    assert "relu'(0) is taken as 1" in d.detail and "relu:1" in d.detail


def test_a_mistake_that_changes_nothing_on_this_case_is_not_reported():
    # identity activations: sigma' = 1 at Z and at A, so "missing sigma'" changes nothing here
    case = make_case(acts=("identity", "identity", "identity"))
    want = gradients(case.network, case.params, case.X, case.Y)
    missing = [c for c in candidates(case) if c.id == "missing_activation_derivative"]
    assert missing and all(np.allclose(a, b) for c in missing for (a, _), (b, _) in zip(c.grads, want))
    e = expected_named(case)
    assert ids(diagnose(case, {k: -v for k, v in e.items()})) == ["sign"]


def test_augmented_fixed_rows_are_never_compared():
    conv = Convention("columns", "out_in", "augmented", "pairs")
    case = make_case(conv)
    e = expected_named(case)
    junk = {k: v.copy() for k, v in e.items()}
    junk["dW1"][-1, :] = 7.0  # the fixed row [0 ... 0 1] is not a parameter
    assert ids(diagnose(case, named_to_container(case, junk))) == ["unknown"]  # i.e. nothing wrong to name
    junk["dW2"] = junk["dW2"].T
    assert ids(diagnose(case, named_to_container(case, junk)))[0] == "transposed"


def test_mutation_comes_first_and_names_the_inputs():
    case = make_case(CONVENTIONS[3])
    right = user(case, gradients(case.network, case.params, case.X, case.Y))
    d = diagnose(case, right, mutated=["params[0][0]", "X"])
    assert ids(d) == ["mutates_inputs"]
    assert (d[0].parameter, d[0].layer) == ("W1", 1) and "W1, X" in d[0].detail
    e = expected_named(case)
    d = diagnose(case, named_to_container(case, {k: -v for k, v in e.items()}), mutated=True)
    assert ids(d) == ["mutates_inputs", "sign"]


def test_the_catalogue_ids_are_exactly_the_issues():
    assert CATALOGUE == ("transposed", "sign", "scale", "layer_order", "bias_not_reduced", "activation_derivative",
                         "missing_activation_derivative", "no_transpose_in_backprop", "single_sample", "vec_order",
                         "mutates_inputs", "kink_convention", "dtype", "stateful", "returns_parameters",
                         "unreached_layer", "loss", "regularization", "shape", "unknown")


# ---- reading the container -----------------------------------------------------------------------------

def test_user_arrays_refuses_what_is_not_the_declared_container():
    case = make_case(CONVENTIONS[2])
    right = user(case, gradients(case.network, case.params, case.X, case.Y))
    assert list(user_arrays(case.convention, case.network, right)) == ["dW1", "db1", "dW2", "db2", "dW3", "db3"]
    bad = [None, {"dW1": 1}, right[:2], [(1.0,)] * 3, [(np.full((4, 3), np.nan), right[0][1])] + right[1:],
           [("a", "b")] + right[1:]]
    for b in bad:
        with pytest.raises(ConventionError):
            user_arrays(case.convention, case.network, b)
    # a wrong shape inside the right container is not refused: it is a wrong gradient
    wrong = [(right[0][0].T, right[0][1])] + right[1:]
    assert user_arrays(case.convention, case.network, wrong)["dW1"].shape == right[0][0].T.shape
    with pytest.raises(ConventionError):
        diagnose(case, None)
