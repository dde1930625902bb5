"""Three ways to use crosscheck in a test suite."""

from __future__ import annotations

import pytest
from hypothesis import given
from mybackprop import LAYOUT, backprop

import crosscheck
from crosscheck import Convention
from crosscheck.profiles import settings_for
from crosscheck.strategies import cases, conventions, networks
from crosscheck.testing import assert_grads_close


# 1. check_implementation: crosscheck generates networks in our layout, calls backprop in a
#    sandboxed process, compares with its reference and, on a mismatch, raises GradientMismatch
#    naming the mistake (transposed, scale, ...) on a minimal network. The hypothesis profile is
#    the plugin's (--crosscheck-profile) or the environment's.
def test_backprop_matches_the_reference(check_options):
    crosscheck.check_implementation(backprop, **check_options)


# 2. Our own hypothesis test over crosscheck's public strategies. settings_for() reads the
#    profile chosen by --crosscheck-profile (or CROSSCHECK_PROFILE, or CI).
@settings_for(max_examples=20)
@given(cases(networks=networks(depth=(1, 3), hidden="tanh", output="identity", losses="half_sse",
                               reductions="mean", bias=True),
             conventions=conventions(**LAYOUT)))
def test_backprop_on_generated_cases(case):
    params, X, Y = case.user_inputs()
    expected = crosscheck.reference_gradients(case.network, case.params, case.X, case.Y)
    expected = case.convention.params_to_user(expected, case.network, gradient=True)
    assert_grads_close(expected, backprop(params, X, Y), layout=Convention(**LAYOUT), network=case.network)


# 3. The plugin's fixtures: the reference against the backends given by --crosscheck-backends
#    (or crosscheck_backends in pytest.ini), on the shard given by --crosscheck-shard. A framework
#    upgrade that changes gradients fails here with the minimal network and a replay command.
def test_frameworks_agree_with_the_reference(crosscheck_config, crosscheck_sweep):
    result = crosscheck_sweep(examples=6, draws=2, activations=("tanh", "relu"), losses=("half_sse",))
    assert result.coverage["backends"] == list(crosscheck_config.backends)


@pytest.mark.crosscheck_gpu
def test_frameworks_agree_on_the_gpu(crosscheck_sweep):
    crosscheck_sweep(device="cuda", examples=6, activations=("tanh", "relu"))
