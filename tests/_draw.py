"""Test helpers: cases from the public strategies, and hand-made networks with fixed values.

``law_cases`` wraps ``crosscheck.strategies``: when ``crosscheck.draws.draw`` cannot find values
that keep the kink margin (e.g. a single dead relu feeding bias-free layers puts the next relu
exactly on its kink for every redraw) the example is rejected instead of erroring, since such a
network has no valid draw to test.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from crosscheck.draws import DrawError, draw
from crosscheck.model.activations import ACTIVATIONS
from crosscheck.model.case import Case
from crosscheck.model.network import Network
from crosscheck.strategies import architectures, networks

# every activation in the table, plus seed 002's subgradient convention
ALL_ACTIVATIONS = tuple(ACTIVATIONS) + ("relu:1",)


def _make(dtype: str, kinks: bool):
    def make(arch) -> Case | None:
        net, conv, m, seed = arch
        try:
            d = draw(net, seed, batch_size=m, draws=1, kinks=kinks, dtype=dtype)
        except DrawError:
            return None
        params, X, Y = d.one(0)
        return Case(net, conv, params, X, Y)
    return make


def law_cases(*, dtype: str = "float64", kinks: bool = False, batch_sizes=(1, 6), conventions=None,
              **network_options) -> st.SearchStrategy[Case]:
    """``cases()`` over ``networks(**network_options)``; defaults: the issue's law ranges
    (depth 1-5, widths 1-9, every activation incl. per-neuron, every loss, both reductions,
    with and without bias)."""
    network_options.setdefault("depth", (1, 5))
    network_options.setdefault("widths", (1, 9))
    network_options.setdefault("activations", ALL_ACTIVATIONS)
    network_options.setdefault("per_neuron", True)
    arch = architectures(networks=networks(**network_options), conventions=conventions,
                         batch_sizes=batch_sizes)
    return arch.map(_make(dtype, kinks)).filter(lambda c: c is not None)


def random_params(network: Network, seed: int, m: int, *, scale: float = 1.0):
    """Fixed-seed canonical (params, X, Y) with NumPy only; no kink margin is enforced."""
    rng = np.random.default_rng(seed)
    params = []
    for layer in range(1, network.depth + 1):
        n_out, n_in = network.weight_shape(layer)
        W = rng.normal(0.0, scale / np.sqrt(n_in), (n_out, n_in))
        b = rng.normal(0.0, 0.5, n_out) if network.bias else None
        params.append((W, b))
    X = rng.normal(size=(network.n_in, m))
    loss = network.loss_fn
    if not loss.needs_target:
        Y = None
    elif loss.name == "bce":
        Y = rng.uniform(size=(network.n_out, m))
    elif loss.name == "softmax_ce":
        Y = rng.dirichlet(np.ones(network.n_out), size=m).T
    else:
        Y = rng.normal(size=(network.n_out, m))
    return tuple(params), X, Y
