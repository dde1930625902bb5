"""The public strategies: eager validation, distinct dimensions, shrinking keeps them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from crosscheck.draws import KINK_MARGIN, draw, kink_distance
from crosscheck.model.case import Case
from crosscheck.model.network import Network
from crosscheck.reference.forward import forward
from crosscheck.strategies import architectures, cases, conventions, networks

FAST = settings(max_examples=60, deadline=None, database=None)


@pytest.mark.parametrize(
    "make",
    [
        lambda: networks(depth=0),
        lambda: networks(depth=(3, 2)),
        lambda: networks(widths="wide"),
        lambda: networks(activations=["tanh", "nope"]),
        lambda: networks(losses=["mse"]),
        lambda: networks(reductions=["max"]),
        lambda: networks(depth=(1, 5), widths=(2, 4)),  # too few values for distinct widths
        lambda: conventions(batch="diagonal"),
        lambda: cases(dtype="float16"),
        lambda: cases(networks=networks(), depth=2),
    ],
)
def test_bad_options_fail_when_the_strategy_is_built(make):
    with pytest.raises(InvalidArgument):
        make()


@FAST
@given(cases())
def test_default_dimensions_are_distinct(case: Case):
    ws = case.network.widths
    assert len(set(ws)) == len(ws), ws
    if case.convention.batch != "single":
        assert case.batch_size not in ws
    for w in ws[:-1]:
        assert w >= 2


@FAST
@given(cases(kinks=False))
def test_pre_activations_keep_the_kink_margin(case: Case):
    Z, _ = forward(case.network, tuple((W[None], None if b is None else b[None]) for W, b in case.params),
                   case.X[None])
    assert kink_distance(case.network, Z)[0] >= KINK_MARGIN


@FAST
@given(cases(losses=["bce"]))
def test_bce_outputs_do_not_saturate(case: Case):
    _, A = forward(case.network, case.params, case.X)
    assert np.all((A[-1] > 1e-4) & (A[-1] < 1 - 1e-4))


@FAST
@given(cases(conventions=conventions(bias="augmented")))
def test_bias_layout_fits_the_network(case: Case):
    assert case.network.bias and case.convention.bias == "augmented"


def test_shrinking_keeps_dimensions_distinct():
    # The smallest depth-3 network hypothesis can find still has no square W.
    net = find(networks(depth=(1, 4)), lambda n: n.depth >= 3,
               settings=settings(database=None, max_examples=500))
    assert net.depth == 3
    assert len(set(net.widths)) == len(net.widths)
    arch = find(architectures(), lambda a: a[1].batch != "single" and a[0].depth >= 2,
                settings=settings(database=None, max_examples=500))
    net, conv, m, _ = arch
    assert m not in net.widths


def test_kinks_true_puts_pre_activations_exactly_on_kinks():
    net = Network.simple((3, 5, 4, 2), hidden="relu")
    d = draw(net, 7, batch_size=6, draws=50, kinks=True)
    assert d.on_kink.any()
    Z, _ = forward(net, d.params, d.X)
    assert (kink_distance(net, Z)[d.on_kink] == 0).all()


def test_draws_are_deterministic_in_the_seed():
    net = Network.simple((3, 5, 2), hidden="tanh")
    a = draw(net, 11, batch_size=4, draws=3)
    b = draw(net, 11, batch_size=4, draws=3)
    c = draw(net, 12, batch_size=4, draws=3)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.params[0][0], b.params[0][0])
    assert not np.array_equal(a.X, c.X)


def test_float32_draws_are_rounded_once():
    net = Network.simple((3, 5, 2), hidden="tanh")
    d = draw(net, 1, batch_size=4, draws=2, dtype="float32")
    assert d.X.dtype == np.float32 and d.params[0][0].dtype == np.float32


@settings(max_examples=20, database=None)
@given(data=st.data())
def test_a_batch_size_is_an_int_after_a_strength_of_the_same_value_was_drawn(data):
    # the strategies are built once per tuple of values; (1.0,) and (1,) are equal as keys
    data.draw(networks(l2=1.0, widths=(1, 3), depth=1))
    _net, _conv, m, _seed = data.draw(architectures(batch_sizes=(1, 1), distinct=False))
    assert type(m) is int and m == 1
