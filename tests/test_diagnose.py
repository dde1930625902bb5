"""The mistake catalogue and the matcher: each planted output is named, first, in every layout.

The planted outputs here are made directly (slips applied to the reference gradient in the
user's layout; mechanisms through ``backprop``'s hooks). ``test_check.py`` plants the same
mistakes in independently written student code and runs them through the whole job.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from crosscheck.diagnosis.diagnose import (
    CATALOGUE,
    Diagnosis,
    backprop,
    candidates,
    diagnose,
    expected_user_arrays,
    user_arrays,
)
from crosscheck.draws import draw
from crosscheck.errors import ConventionError
from crosscheck.model.case import Case
from crosscheck.model.conventions import Convention
from crosscheck.model.network import Network
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
        # issue 18: no bare unknown; the first departing quantity is named with its layer
        "layer_gradient": {**e, "dW2": e["dW2"] + 0.1},
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
                         "unreached_layer", "loss", "regularization", "activation_gradient", "shape",
                         "unknown")


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


# ---- implied derivatives: generic over the activation table ----------------------------------------------

from crosscheck.diagnosis.evidence import coincident_cases as coincident_reruns  # noqa: E402
from crosscheck.diagnosis.evidence import diagnosis_cases, stateful_detail  # noqa: E402
from crosscheck.diagnosis.implied import describe_implied, wrong_derivatives  # noqa: E402
from crosscheck.model.activations import ACTIVATIONS  # noqa: E402
from crosscheck.strategies import coincident_cases  # noqa: E402

ROOMY = dict(widths=(5, 6, 7, 3), m=4)  # m <= n_{l-1} + 1: sigma' is solvable per unit


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_wrong_derivative_in_the_library_is_named_for_every_activation(name):
    case = make_case(CONVENTIONS[2], acts=(name, name, "identity"), **ROOMY)
    net = case.network
    library = wrong_derivatives(name)
    assert library, name
    for w in library:
        def sp(layer, z, a, w=w):
            return w.fn(z, a) if layer == 1 else net.sigma_prime(layer, z)
        grads, _ = backprop(net, case.params, case.X, case.Y, sigma_prime=sp)
        if all(np.allclose(a, b) for (a, _), (b, _) in zip(grads, gradients(net, case.params, case.X, case.Y))):
            continue  # this draw cannot tell them apart (e.g. every z on one side of the kink)
        d = diagnose(case, user(case, grads))
        assert d[0].id == "activation_derivative" and (d[0].parameter, d[0].layer) == ("dW1", 1), (w.key, d)
        assert w.sentence in d[0].detail or "unit" in d[0].detail, (w.sentence, d[0].detail)


def test_the_sentences_name_what_went_wrong():
    said = {w.key: w.sentence for w in wrong_derivatives("tanh")}
    assert said["1-a"] == "tanh' computed as 1 - tanh(z): the square is missing (tanh' = 1 - tanh(z)^2)"
    assert said["at_activation"].startswith("tanh' is evaluated at the activation A = tanh(Z) instead of")
    elu = {w.key: w.sentence for w in wrong_derivatives("elu")}
    assert elu["value|z < 0"] == "elu' for z < 0 computed as elu(z) itself: the value, not the derivative"
    sig = {w.key: w.sentence for w in wrong_derivatives("sigmoid")}
    assert "the factor sigmoid(z) is missing" in sig["1-a"]
    # every entry differs from the true derivative
    for name in ACTIVATIONS:
        act = ACTIVATIONS[name]
        z = np.linspace(-2, 2, 41) + 1e-3
        for w in wrong_derivatives(name):
            assert not np.allclose(w.fn(z, act.value(z)), act.prime(z)), (name, w.key)


def test_a_slope_nobody_listed_is_solved_from_the_gradients():
    case = make_case(CONVENTIONS[3], acts=("leaky_relu", "leaky_relu", "identity"), **ROOMY)
    net = case.network

    def sp(layer, z, a):
        return np.where(z > 0, 1.0, 0.2) if layer == 2 else net.sigma_prime(layer, z)
    grads, _ = backprop(net, case.params, case.X, case.Y, sigma_prime=sp)
    d = diagnose(case, user(case, grads))[0]
    assert (d.id, d.layer) == ("activation_derivative", 2)
    assert "leaky_relu' for z < 0 is taken as 0.2 (expected 0.01)" in d.detail
    assert describe_implied("tanh", np.array([0.3, -0.2]), 1 - np.tanh(np.array([0.3, -0.2])) ** 2) == ""
    assert describe_implied("tanh", np.array([0.3, -0.2]), np.array([7.0, -3.0])) is None


def test_two_mechanisms_are_each_named_where_they_start():
    case = make_case(CONVENTIONS[0], acts=("tanh", "tanh", "identity"), **ROOMY)
    net = case.network
    grads, _ = backprop(net, case.params, case.X, case.Y,
                        sigma_prime=lambda layer, z, a: 1 - np.tanh(z) if layer == 1 else net.sigma_prime(layer, z),
                        back_matrix=lambda layer, W: W.reshape(W.shape[::-1]) if layer == 3 else W.T)
    d = diagnose(case, user(case, grads))
    assert [(x.id, x.layer) for x in d[:2]] == [("no_transpose_in_backprop", 2), ("activation_derivative", 1)]
    # a mechanism and a slip
    grads, _ = backprop(net, case.params, case.X, case.Y,
                        sigma_prime=lambda layer, z, a: net.sigma_prime(layer, a) if layer == 1
                        else net.sigma_prime(layer, z))
    named = user(case, grads)
    named["dW3"] = named["dW3"].T
    assert set(ids(diagnose(case, named))[:2]) == {"activation_derivative", "transposed"}


# ---- whole-array symptoms ------------------------------------------------------------------------------------

def test_integers_and_lower_precision_are_named_dtype():
    case = make_case()
    e = expected_named(case)
    d = diagnose(case, {k: v.astype(np.int64) for k, v in e.items()})
    assert d[0].id == "dtype" and d[0].detail.startswith("int64 came back for dW1")
    assert "unreached_layer" not in ids(d)  # truncated to zeros is the dtype's doing
    d = diagnose(case, {k: v.astype(np.float32) for k, v in e.items()})
    assert ids(d) == ["dtype"] and "float32 came back" in d[0].detail and "float64 inputs" in d[0].detail


def test_updated_parameters_are_named_with_their_learning_rate():
    case = make_case(CONVENTIONS[1])
    e = expected_named(case)
    P = user_arrays(case.convention, case.network, case.convention.params_to_user(case.params, case.network))
    d = diagnose(case, {k: P[k] - 0.05 * v for k, v in e.items()})
    assert ids(d) == ["returns_parameters"] and "eta = 0.05" in d[0].detail


def test_a_layer_left_at_zero_is_a_layer_never_reached():
    case = make_case(CONVENTIONS[1])
    e = expected_named(case)
    d = diagnose(case, {**e, "dW1": np.zeros_like(e["dW1"]), "db1": np.zeros_like(e["db1"])})
    assert ids(d) == ["unreached_layer"] and (d[0].parameter, d[0].layer) == ("dW1", 1)
    assert "never reached layer 1" in d[0].detail


def test_scale_factors_are_named_by_the_dimension_they_equal():
    case = make_case(CONVENTIONS[2], widths=(5, 6, 3), acts=("tanh", "identity"), m=4)  # m, n_in, n_out distinct
    e = expected_named(case)
    # 1/n_out of a declared mean is the gradient of --reduction mean_all: ``loss`` names it first
    d = diagnose(case, named_to_container(case, {k: v / 3 for k, v in e.items()}))
    assert d[0].id == "loss" and "mean_all" in d[0].detail, d[0].detail
    for factor, words in ((5.0, "n_in = 5"), (4.0, "m = 4"), (2.0, "(a factor 2")):
        d = diagnose(case, named_to_container(case, {k: factor * v for k, v in e.items()}))
        assert d[0].id == "scale" and words in d[0].detail, (factor, d[0].detail)
    # n_out = 2 and the constant 2 share the value: the sentence names both
    case = make_case(CONVENTIONS[2], widths=(5, 6, 2), acts=("tanh", "identity"), m=4)
    e = expected_named(case)
    d = diagnose(case, named_to_container(case, {k: v / 2 for k, v in e.items()}))
    assert d[0].id == "loss" and "mean_all" in d[0].detail
    assert any(x.id == "scale" and "1/2" in x.detail and "n_out = 2" in x.detail for x in d[1:]), d


def test_another_loss_is_named_loss():
    case = make_case(CONVENTIONS[0], widths=(5, 6, 3), acts=("tanh", "sigmoid"), loss="bce", m=4)
    other = Network(case.network.widths, case.network.activations, loss="half_sse", reduction="mean")
    grads = gradients(other, case.params, case.X, case.Y)
    d = diagnose(case, user(case, grads))[0]
    assert d.id == "loss" and "--loss half_sse" in d.detail


def test_a_shape_slip_comes_after_every_value_level_name():
    case = make_case(CONVENTIONS[1], m=4)
    _, deltas = backprop(case.network, case.params, case.X, case.Y)
    e = expected_named(case)
    d = diagnose(case, {**e, "db2": deltas[2]})  # columns: the (n_2, m) delta itself
    assert ids(d)[0] == "bias_not_reduced"


# ---- where to diagnose -----------------------------------------------------------------------------------------

def test_diagnosis_cases_make_dimensions_distinct_and_keep_the_shrunk_case_last():
    case = make_case(CONVENTIONS[2], widths=(2, 3, 2), acts=("relu", "identity"), m=1)
    out = diagnosis_cases(case)
    roomy = out[0]
    m, n_in, n_out = roomy.batch_size, roomy.network.n_in, roomy.network.n_out
    assert len({m, n_in, n_out}) == 3 and 2 not in {m, n_in, n_out} and m >= 2
    assert roomy.network.activations == case.network.activations and roomy.convention == case.convention
    Z = roomy.X.T @ roomy.params[0][0].T + roomy.params[0][1]  # rows: every relu unit sees both signs
    assert ((Z < 0).any(0) & (Z > 0).any(0)).all()
    assert out[1].network.widths == case.network.widths and out[1].batch_size >= 2
    assert out[-1] is case


def test_coincident_reruns_square_every_weight():
    case = make_case(CONVENTIONS[1], widths=(3, 5, 2), acts=("tanh", "identity"))
    for c in coincident_reruns(case):
        assert len(set(c.network.widths)) == 1
    assert {c.batch_size for c in coincident_reruns(case)} == {5, 6}


@settings(max_examples=60, deadline=None, database=None)
@given(coincident_cases(networks=__import__("crosscheck.strategies").strategies.networks(depth=(1, 3), distinct=False)))
def test_coincident_cases_always_have_a_coincidence(case):
    w, m = case.network.widths, case.batch_size
    square = any(w[i] == w[i + 1] for i in range(len(w) - 1))
    assert square or m in w or w[0] == w[-1]


def test_two_calls_that_differ_are_named_stateful():
    a = {"dW1": np.ones((2, 3))}
    assert stateful_detail(a, {"dW1": np.ones((2, 3))}) is None
    text = stateful_detail(a, {"dW1": 2 * np.ones((2, 3))})
    assert "called twice on the same inputs" in text and "dW1" in text


# ---- issue 10 item 6: penalties, reductions and target forms ------------------------------------------------

from dataclasses import replace as _replace  # noqa: E402


def _penalised(l2=0.0, l1=0.0, form="half", bias=False, **kw):
    case = make_case(CONVENTIONS[0], widths=(5, 6, 3), acts=("tanh", "identity"), m=4, **kw)
    net = _replace(case.network, l2=l2, l1=l1, penalty_form=form, penalty_bias=bias)
    return Case(net, case.convention, case.params, case.X, case.Y)


def _as_declared(case, **changes):
    """What a program right for another declaration returns."""
    other = _replace(case.network, **changes)
    return user(case, gradients(other, case.params, case.X, case.Y))


@pytest.mark.parametrize("changes, words", [
    (dict(l2=0.0), "penalty's gradient is missing"),
    (dict(penalty_form="full"), "--penalty-form full"),
    (dict(penalty_form="half_over_m"), "--penalty-form half_over_m"),
    (dict(penalty_bias=True), "biases are penalised too"),
])
def test_a_declared_l2_penalty_done_otherwise_is_regularization_naming_the_form(changes, words):
    case = _penalised(l2=0.1)
    d = diagnose(case, _as_declared(case, **changes))[0]
    assert d.id == "regularization" and words in d.detail, d


def test_an_l1_part_off_by_two_names_the_form_it_matches():
    case = _penalised(l2=0.1, l1=0.05)
    d = diagnose(case, _as_declared(case, l1=0.1))[0]
    assert d.id == "regularization" and "L1 part" in d.detail and "twice" in d.detail and "--l1 0.1" in d.detail


def test_an_undeclared_penalty_is_fitted_and_named():
    case = _penalised()
    d = diagnose(case, _as_declared(case, l2=0.3, l1=0.02, penalty_form="over_m"))[0]
    assert d.id == "regularization" and "undeclared" in d.detail and "--l2" in d.detail and "--l1" in d.detail


def test_another_reduction_is_named_loss():
    case = _penalised()
    d = diagnose(case, _as_declared(case, reduction="mean_all"))
    assert d[0].id == "loss" and "--reduction mean_all" in d[0].detail
    d = diagnose(case, _as_declared(case, reduction="sum"))
    assert ids(d)[:2] == ["scale", "loss"] and "--reduction sum" in d[1].detail


def test_soft_targets_read_as_labels_are_named_loss():
    case = make_case(CONVENTIONS[1], widths=(5, 6, 3), acts=("relu", "identity"), loss="softmax_ce", m=4)
    Y = np.zeros_like(case.Y)
    Y[np.argmax(case.Y, axis=0), np.arange(case.batch_size)] = 1.0
    d = diagnose(case, user(case, gradients(case.network, case.params, case.X, Y)))[0]
    assert d.id == "loss" and "class labels" in d.detail
