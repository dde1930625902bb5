"""JAX's padded mode: one compile for many architectures, the same gradients as the unpadded
network, padded gradient entries exactly zero (and checked), and the mode choice."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from crosscheck.backends import padded
from crosscheck.compare import compare_batched
from crosscheck.draws import draw
from crosscheck.errors import UsageError
from crosscheck.model import activations as activations_module
from crosscheck.model.activations import activation_names
from crosscheck.model.conventions import Convention
from crosscheck.model.losses import loss_names
from crosscheck.model.network import Network
from crosscheck.reference import recursive

pytest.importorskip("jax")

from crosscheck.backends.jax import AUTO_NATIVE_DRAWS, AUTO_NATIVE_REPEATS, MODE_ENV, JaxBackend  # noqa: E402

ALL_ACTS = activation_names()
# every activation (one per neuron of a 10-wide layer), every loss, both reductions, no bias,
# depth 1 to 5, and one network past every first bucket (depth 5, a width of 20, batch 9)
NETWORKS = [
    Network((3, len(ALL_ACTS), 4, 2), (tuple(ALL_ACTS), "tanh", "identity"), loss="softmax_ce", reduction="mean"),
    Network((4, 6, 3), ("elu", "sigmoid"), loss="bce", bias=False),
    Network((5, 2, 1), ("gelu", "sin"), loss="output"),
    Network((2, 7, 3), ("softplus", "leaky_relu"), loss="readout", reduction="mean"),
    Network((6, 5), ("gelu_tanh",), loss="sse"),
    Network((3, 20, 5, 6, 4, 7), ("tanh", "relu", "sigmoid", "sin", "identity"), loss="half_sse"),
    Network((8, 3, 2), ("tanh", "identity"), loss="half_sse", bias=False, reduction="mean"),
]
BATCH = [3, 2, 1, 4, 4, 9, 5]


@pytest.fixture(scope="module")
def shared():
    """One padded backend for the tests that do not count its compiles: each compile is ~1 s."""
    return JaxBackend(mode="padded")


def _reference(network, d):
    d64 = d.astype(np.float64)
    return recursive.gradients(network, d64.params, d64.X, d64.Y)


def test_the_networks_cover_every_activation_and_loss():
    used = {n.partition(":")[0] for net in NETWORKS for n in net.activation_names()}
    assert used == set(ALL_ACTS)
    assert {net.loss for net in NETWORKS} == set(loss_names())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_padded_matches_the_reference_and_native(dtype, shared):
    padded_b, native_b = shared, JaxBackend(mode="native")
    before = dict(shared.calls)
    for net, m in zip(NETWORKS, BATCH):
        d = draw(net, 7, batch_size=m, draws=5, dtype=dtype)
        got = padded_b.gradients_batched(net, None, d.params, d.X, d.Y)
        worst, ok = compare_batched(_reference(net, d), got, dtype=dtype)
        assert ok.all(), (net.describe(), worst)
        native = native_b.gradients_batched(net, None, d.params, d.X, d.Y)
        tol = 1e-12 if dtype == "float64" else 1e-5
        for (a, b), (c, e), (W, bias) in zip(got, native, d.params):
            assert a.shape == W.shape and a.dtype == np.dtype(dtype)
            np.testing.assert_allclose(a, c, rtol=tol, atol=tol)
            assert (b is None) == (bias is None) == (e is None)
            if b is not None:
                np.testing.assert_allclose(b, e, rtol=tol, atol=tol)
    assert padded_b.calls["padded"] - before["padded"] == len(NETWORKS)
    assert padded_b.calls["native"] == before["native"]


def test_one_compile_serves_every_architecture_in_a_bucket():
    backend = JaxBackend(mode="padded")
    rng = np.random.default_rng(0)
    for i in range(8):
        k = int(rng.integers(1, 5))
        widths = tuple(int(w) for w in rng.choice(np.arange(2, 10), size=k + 1, replace=False))
        acts = tuple(str(rng.choice(ALL_ACTS)) for _ in range(k))
        net = Network(widths, acts, loss=str(rng.choice(["half_sse", "sse", "readout"])), bias=bool(i % 2))
        d = draw(net, i, batch_size=int(rng.integers(1, 7)), draws=16)
        got = backend.gradients_batched(net, None, d.params, d.X, d.Y)
        assert compare_batched(_reference(net, d), got)[1].all()
    # one program (shared by every backend in the process: traced here unless a test before did),
    # one bucket shape, eight architectures
    assert backend.padded_traces <= 1
    assert len(backend.programs) == 1
    assert backend.compile_stats()["calls"] == {"padded": 8, "layout": 0, "native": 0}


def test_padded_ignores_the_layout_and_computes_canonically(shared):
    net = NETWORKS[0]
    backend = shared
    d = draw(net, 1, batch_size=3, draws=4)
    canonical = backend.gradients_batched(net, None, d.params, d.X, d.Y)
    for conv in (Convention("rows", "in_out", "augmented", "dict"), Convention("columns", "in_out", "row", "pairs")):
        got = backend.gradients_batched(net, conv, d.params, d.X, d.Y)
        for (a, b), (c, e) in zip(got, canonical):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, e)


def test_kinks_give_the_same_subgradients_as_native(shared):
    net = Network((3, 5, 4, 2), ("relu", "leaky_relu", "identity"))
    d = draw(net, 3, batch_size=4, draws=16, kinks=True)
    assert d.on_kink.any()
    got = shared.gradients_batched(net, None, d.params, d.X, d.Y)
    native = JaxBackend(mode="native").gradients_batched(net, None, d.params, d.X, d.Y)
    for (a, b), (c, e) in zip(got, native):
        np.testing.assert_allclose(a, c, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(b, e, rtol=1e-13, atol=1e-15)


def test_a_wrong_derivative_is_caught_in_padded_mode(monkeypatch):
    jax = pytest.importorskip("jax")
    tanh = activations_module.ACTIVATIONS["tanh"]
    stop = jax.lax.stop_gradient
    wrong = lambda j: (lambda x: j.numpy.tanh(x) + 1e-3 * (j.numpy.tanh(x) - stop(j.numpy.tanh(x))))  # noqa: E731
    monkeypatch.setitem(activations_module.ACTIVATIONS, "tanh", replace(tanh, jax=wrong))
    net = Network((3, 4, 2), ("tanh", "identity"))
    d = draw(net, 11, batch_size=5, draws=20)
    backend = JaxBackend(mode="padded")
    worst, ok = compare_batched(_reference(net, d), backend.gradients_batched(net, None, d.params, d.X, d.Y))
    assert not ok.any(), worst
    assert backend.calls["padded"] == 1


def test_padded_entries_are_exactly_zero_and_checked():
    net = Network((3, 4, 2), ("tanh", "identity"), bias=False)
    shape = padded.padded_shape(net, 2, 3)
    d = draw(net, 0, batch_size=2, draws=3)
    args = padded.pack(net, d.params, d.X, d.Y, shape)
    assert args["ws"].shape == (shape.draws, shape.depth, shape.width, shape.width)
    gW = np.zeros_like(args["ws"])
    gb = np.zeros_like(args["bs"])
    gW[:, 0, :4, :3] = 1.0
    gb[:, 0, :4] = 5.0  # the (zero) bias's gradient of a bias-free net is real, just dropped
    out = padded.unpack(net, gW, gb, 3)
    assert out[0][0].shape == (3, 4, 3) and out[0][1] is None
    gW[1, 0, 4, 0] = 1e-300  # one padded neuron's weight, in a real draw
    with pytest.raises(padded.PaddingError, match="not exactly 0"):
        padded.unpack(net, gW, gb, 3)
    gW[5, 0, 4, 0] = 1.0  # a padded draw is not checked
    gW[1, 0, 4, 0] = 0.0
    padded.unpack(net, gW, gb, 3)
    gW[1, 0, 4, 0] = np.nan  # NaN everywhere: the comparison reports the real NaN, not this
    gW[1, 0, 0, 0] = np.nan
    assert np.isnan(padded.unpack(net, gW, gb, 3)[0][0][1, 0, 0])


def test_float64_padded_does_not_leak_x64(shared):
    jax = pytest.importorskip("jax")
    net = NETWORKS[1]
    d = draw(net, 1, batch_size=2, draws=2)
    got = shared.gradients_batched(net, None, d.params, d.X, d.Y)
    assert got[0][0].dtype == np.float64
    assert jax.numpy.zeros(1).dtype == np.float32


def test_auto_mode_pads_small_networks_only(monkeypatch):
    backend = JaxBackend()
    assert backend.mode == "auto"
    small = NETWORKS[0]
    assert backend.batched_mode(small, 4, 16) == "padded"
    assert backend.batched_mode(small, 4, AUTO_NATIVE_DRAWS) == "native"  # a compile amortised
    d = draw(small, 0, batch_size=4, draws=3)
    for _ in range(AUTO_NATIVE_REPEATS):
        backend.gradients_batched(small, None, d.params, d.X, d.Y)
    assert backend.calls == {"padded": AUTO_NATIVE_REPEATS, "layout": 0, "native": 0}
    backend.gradients_batched(small, None, d.params, d.X, d.Y)  # a recurring architecture: compiled
    assert backend.calls == {"padded": AUTO_NATIVE_REPEATS, "layout": 0, "native": 1}
    assert backend.batched_mode(small, 4, 3) == "native"
    assert backend.batched_mode(small, 4, 3, dtype=np.float32) == "padded"  # another function
    wide = Network((3, padded.PAD_LIMITS["width"] + 1, 2), ("tanh", "identity"))
    assert backend.batched_mode(wide, 4, 16) == "native"
    assert backend.batched_mode(small, padded.PAD_LIMITS["samples"] + 1, 16) == "native"
    monkeypatch.delitem(padded._ROW_FILL, "bce")  # a loss the padding does not know
    assert backend.batched_mode(NETWORKS[1], 4, 16) == "native"
    with pytest.raises(UsageError, match="cannot pad"):
        JaxBackend(mode="padded").batched_mode(NETWORKS[1], 4, 16)
    assert JaxBackend(mode="native").batched_mode(small, 4, 16) == "native"
    assert JaxBackend(jit=False).batched_mode(small, 4, 16) == "native"


def test_mode_from_the_environment_and_bad_modes(monkeypatch):
    monkeypatch.setenv(MODE_ENV, "native")
    assert JaxBackend().mode == "native"
    assert JaxBackend(mode="padded").mode == "padded"
    monkeypatch.setenv(MODE_ENV, "fast")
    with pytest.raises(UsageError, match=MODE_ENV):
        JaxBackend()
    with pytest.raises(UsageError, match="mode must be"):
        JaxBackend(mode="fast")
    with pytest.raises(UsageError, match="jit"):
        JaxBackend(mode="padded", jit=False)


def test_buckets():
    net = Network((3, 9, 2), ("tanh", "identity"))
    assert padded.padded_shape(net, 3, 16) == padded.PaddedShape(4, 16, 8, 16)
    deep = Network((3, 17, 4, 5, 6, 2), ("tanh",) * 4 + ("identity",))
    assert padded.padded_shape(deep, 9, 100) == padded.PaddedShape(8, 32, 16, 128)
    # a fitted smallest bucket (a sweep's largest sizes): exactly those sizes up to them, the
    # power-of-two buckets past them
    assert padded.padded_shape(net, 3, 64, smallest=(4, 10, 6)) == padded.PaddedShape(4, 10, 6, 64)
    aug = Convention("columns", "out_in", "augmented", "pairs")
    assert padded.padded_shape(net, 6, 64, aug, smallest=(4, 10, 6)) == padded.PaddedShape(4, 10, 6, 64)
    assert padded.padded_shape(deep, 7, 64, smallest=(4, 10, 6)) == padded.PaddedShape(8, 32, 8, 64)


def test_a_fitted_bucket_serves_a_sweeps_networks_and_larger_ones_still_fit_above():
    """fit_buckets (what a sweep does with its ranges): networks within the default sweep's sizes
    run in one program of exactly those sizes; a wider network takes the power-of-two bucket; both
    agree with the float64 reference and the exactly-zero padding check runs on both."""
    backend = JaxBackend(mode="padded")
    backend.fit_buckets(depth=4, width=10, samples=6)
    nets = [(Network((3, 9, 2), ("tanh", "identity"), loss="softmax_ce"), 6),
            (Network((9, 4, 5, 3, 9), ("relu", "elu", "sigmoid", "identity")), 2),
            (Network((3, 12, 2), ("tanh", "identity")), 3)]
    for net, m in nets:
        d = draw(net, 3, batch_size=m, draws=8)
        expected = recursive.gradients(net, d.params, d.X, d.Y)
        worst, ok = compare_batched(expected, backend.gradients_batched(net, None, d.params, d.X, d.Y))
        assert ok.all(), (net.describe(), worst)
    assert sorted(backend.programs) == [("K=4 P=10 M=6 D=16", "float64"), ("K=4 P=16 M=6 D=16", "float64")]
    # ranges past the sweep bucket: the general buckets (shared with every other caller)
    backend.fit_buckets(depth=4, width=12, samples=6)
    assert backend.smallest_bucket == padded.SMALLEST
    backend.fit_buckets(depth=3, width=6, samples=2)
    assert backend.smallest_bucket == padded.SWEEP_BUCKET


# ---- the user's own layout through the same program (a sweep's native share) ----------------

LAYOUT_NETWORKS = [
    Network((3, 5, 4), ("tanh", "elu"), loss="softmax_ce", targets="labels", l2=0.1, l1=0.05, penalty_bias=True),
    Network((4, 2, 3, 1), ("relu", "sin", "sigmoid"), loss="bce", reduction="mean_all", l1=0.3, penalty_form="over_m"),
    Network((2, 6, 3), (("tanh", "relu", "gelu", "sin", "identity", "elu"), "softplus"), loss="readout",
            reduction="mean", bias=False, l2=0.7),
]


@pytest.mark.parametrize("net", LAYOUT_NETWORKS, ids=lambda n: n.describe())
def test_layout_mode_builds_every_convention_in_one_program(net, shared):
    """Every batch/weights/bias/params layout, the user's own arrays (in_out W transposed by JAX,
    augmented W with its formal row), against the float64 reference: one padded program."""
    from itertools import product

    from crosscheck.model.conventions import BATCH, BIAS, WEIGHTS

    before, programs = dict(shared.calls), set(shared.programs)
    done = 0
    for i, (batch, weights, bias) in enumerate(product(BATCH, WEIGHTS, BIAS)):
        if (bias != "none") != net.bias:
            continue
        conv = Convention(batch, weights, bias, "dict" if i % 2 else "pairs")
        d = draw(net, i, batch_size=1 if batch == "single" else 3, draws=16)
        got = shared.gradients_batched(net, conv, d.params, d.X, d.Y, mode="layout")
        worst, ok = compare_batched(_reference(net, d), got)
        assert ok.all(), (conv.describe(), worst)
        done += 1
    assert shared.calls["layout"] - before["layout"] == done
    assert shared.calls["native"] == before["native"]  # nothing compiled per architecture
    assert len(shared.programs - programs) <= 1  # at most one program (bucket shape, dtype) more


def test_layout_padding_is_checked_too():
    net = Network((3, 4, 2), ("tanh", "identity"))
    conv = Convention("rows", "in_out", "augmented", "dict")
    shape = padded.padded_shape(net, 2, 3, conv)
    gW = np.zeros((shape.draws, shape.depth, shape.width, shape.width))
    gb = np.zeros((shape.draws, shape.depth, shape.width))
    gW[:, 0, :4, :5] = 1.0  # layer 1 in_out augmented: (n_0 + 1, n_1 + 1), the formal column included
    gb[:, 0, :5] = 2.0  # the zero bias of the real and formal neurons: real, not asked for
    dWs, dbs = padded.unpack_layout(net, conv, gW, gb, 3)
    assert dWs[0].shape == (3, 4, 5) and dbs == [None, None]
    gW[2, 0, 4, 0] = 1e-300  # a padded input row of a real draw
    with pytest.raises(padded.PaddingError, match="not exactly 0"):
        padded.unpack_layout(net, conv, gW, gb, 3)
    gW[2, 0, 4, 0] = 0.0
    gb[0, 0, 5] = -1.0  # a padded neuron's bias
    with pytest.raises(padded.PaddingError):
        padded.unpack_layout(net, conv, gW, gb, 3)
