"""Targets (soft, one-hot, labels, 0/1), the mean over every element, and L2/L1 penalties in four
forms: the model validates them eagerly, the reference and the oracles agree with torch.autograd,
labels cross the layout edge as 1-D integers, draws keep |w| off L1's kink, and torch and JAX
(stacked, padded, native, per case) agree with the reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.errors import InvalidArgument

from crosscheck.check.extras import check_extras, split_extras
from crosscheck.cli import main
from crosscheck.compare import compare_batched, compare_gradients
from crosscheck.draws import KINK_MARGIN, draw
from crosscheck.errors import ConventionError, UsageError
from crosscheck.model.case import Case
from crosscheck.model.conventions import Convention
from crosscheck.model.network import Network
from crosscheck.model.penalties import penalty_value
from crosscheck.model.presets import PRESETS, resolve_options
from crosscheck.reference import get_route
from crosscheck.strategies import networks

ROWS = Convention("rows", "in_out", "vector", "dict")
COLS = Convention("columns", "out_in", "column", "pairs")
AUG = Convention("columns", "in_out", "augmented", "dict")


def _net(**kw):
    kw.setdefault("loss", "softmax_ce")
    out = "sigmoid" if kw["loss"] == "bce" else "identity"
    return Network((3, 5, 4), ("tanh", out), **kw)


# ---- the model ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, words", [
    ({"loss": "half_sse", "targets": "labels"}, "takes targets soft"),
    ({"loss": "bce", "targets": "labels"}, "soft or binary or onehot"),
    ({"loss": "softmax_ce", "reduction": "mean_all"}, "nn.CrossEntropyLoss"),
    ({"loss": "half_sse", "reduction": "median"}, "mean_all"),
    ({"loss": "half_sse", "l2": -0.1}, "l2 must be"),
    ({"loss": "half_sse", "l1": float("nan")}, "l1 must be"),
    ({"loss": "half_sse", "penalty_form": "quarter"}, "half, full, half_over_m, over_m"),
    ({"loss": "half_sse", "targets": "hard"}, "targets must be one of"),
])
def test_bad_declarations_are_refused_eagerly(kw, words):
    with pytest.raises(ValueError, match=words):
        _net(**kw)


def test_the_new_fields_round_trip_and_show():
    net = _net(targets="labels", reduction="mean", l2=0.1, l1=0.05, penalty_form="half_over_m", penalty_bias=True)
    assert Network.from_dict(net.to_dict()) == net
    assert Network.from_dict({k: v for k, v in net.to_dict().items() if k not in ("targets", "l2")}).l2 == 0.0
    assert net.describe().endswith("softmax_ce[labels]/mean +l2=0.1,l1=0.05(half_over_m,bias)")
    assert _net(loss="half_sse", reduction="mean_all").reduction_scale(5) == 1 / (5 * 4)


@pytest.mark.parametrize("form, c", [("half", lambda m: 0.5), ("full", lambda m: 1.0),
                                     ("half_over_m", lambda m: 0.5 / m), ("over_m", lambda m: 1.0 / m)])
@pytest.mark.parametrize("penalty_bias", [False, True])
def test_every_route_and_oracle_matches_torch_on_each_penalty_form(form, c, penalty_bias):
    torch = pytest.importorskip("torch")
    net = _net(loss="half_sse", reduction="mean_all", l2=0.3, l1=0.2, penalty_form=form, penalty_bias=penalty_bias)
    params, X, Y = draw(net, 7, batch_size=6).one(0)
    m = X.shape[1]
    t = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in params]
    A = torch.tensor(X)
    for i, (W, b) in enumerate(t):
        A = W @ A + b[:, None]
        A = torch.tanh(A) if i == 0 else A
    loss = 0.5 * torch.nn.functional.mse_loss(A, torch.tensor(Y))  # 1/2 (a - y)^2 averaged over m n_k
    arrays = [a for W, b in t for a in ((W, b) if penalty_bias else (W,))]
    loss = loss + c(m) * sum(0.3 * (a ** 2).sum() + 0.2 * a.abs().sum() for a in arrays)
    loss.backward()
    truth = tuple((W.grad.numpy(), b.grad.numpy()) for W, b in t)
    assert abs(float(loss) - float(get_route_value(net, params, X, Y))) < 1e-12
    for route in ("recursive", "explicit", "kronecker", "jacobian"):
        assert compare_gradients(truth, get_route(route)(net, params, X, Y)).passed, route
    for route, tol in (("finite_difference", 1e-7), ("complex_step", 1e-12)):
        got = get_route(route)(net, params, X, Y)
        err = max(float(np.max(np.abs(g - e))) for gp, ep in zip(got, truth) for g, e in zip(gp, ep))
        assert err < tol, (route, err)


def get_route_value(net, params, X, Y):
    from crosscheck.reference.forward import loss_value

    return loss_value(net, params, X, Y)


def test_without_a_penalty_nothing_is_added():
    net = _net(loss="half_sse")
    params, X, Y = draw(net, 1, batch_size=3).one(0)
    assert penalty_value(net, params, 3) == 0.0


# ---- labels at the layout edge ------------------------------------------------------------------------

@pytest.mark.parametrize("conv", [ROWS, COLS, Convention("single", "out_in", "vector", "pairs")])
def test_labels_are_one_dimensional_integers_in_every_layout(conv):
    net = _net(targets="labels")
    m = 1 if conv.batch == "single" else 5
    params, X, Y = draw(net, 2, batch_size=m).one(0)
    case = Case(net, conv, params, X, Y)
    _, _, y = case.user_inputs()
    assert y.shape == (m,) and y.dtype == np.int64
    np.testing.assert_array_equal(conv.y_from_user(y, net), Y)  # back to the one-hot columns
    with pytest.raises(ConventionError, match="0..3"):
        conv.y_from_user(np.array([0, 4] + [0] * (m - 2) if m > 1 else [4]), net)
    with pytest.raises(ConventionError, match="1-D integer"):
        conv.y_from_user(y.astype(float), net)


def test_draws_fit_each_target_form():
    for targets, loss in (("onehot", "softmax_ce"), ("labels", "softmax_ce"), ("binary", "bce"), ("onehot", "bce")):
        d = draw(_net(loss=loss, targets=targets), 4, batch_size=6, draws=8)
        assert set(np.unique(d.Y)) <= {0.0, 1.0}
        if targets != "binary":
            assert np.all(d.Y.sum(axis=1) == 1)
    with pytest.raises(ValueError, match="one 1 per sample"):
        net = _net(targets="onehot")
        params, X, Y = draw(_net(), 4, batch_size=3).one(0)  # soft rows
        Case(net, COLS, params, X, Y)


def test_draws_keep_penalised_weights_off_the_l1_kink_unless_kinks_are_asked_for():
    net = _net(loss="half_sse", l1=0.1, penalty_bias=True)
    d = draw(net, 5, batch_size=4, draws=64)
    assert all(np.min(np.abs(a)) >= KINK_MARGIN for W, b in d.params for a in (W, b))
    k = draw(_net(loss="half_sse", l1=0.1), 5, batch_size=4, draws=64, kinks=True)
    zero = np.array([any(np.any(W[i] == 0) for W, _ in k.params) for i in range(64)])
    assert zero.any() and np.all(k.on_kink[zero])


# ---- backends -----------------------------------------------------------------------------------------

NETS = [
    _net(targets="labels", reduction="mean", l2=0.3, l1=0.2, penalty_form="half_over_m", penalty_bias=True),
    Network((3, 5, 2), ("tanh", "sigmoid"), loss="bce", targets="binary", reduction="mean_all", l1=0.5,
            penalty_form="full"),
    Network((2, 4, 3), ("relu", "identity"), loss="sse", reduction="mean_all", l2=0.7, penalty_form="over_m",
            penalty_bias=True),
    # Ng's ex4: sigmoid outputs, cross-entropy over one-hot targets summed over the outputs, lambda/(2m)
    Network((3, 5, 4), ("sigmoid", "sigmoid"), loss="bce", targets="onehot", reduction="mean", l2=1.0,
            penalty_form="half_over_m"),
]


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.describe())
@pytest.mark.parametrize("conv", [ROWS, COLS, AUG], ids=lambda c: c.describe())
def test_torch_and_jax_agree_with_the_reference(net, conv):
    from crosscheck.backends.jax import JaxBackend
    from crosscheck.backends.torch import TorchBackend

    pytest.importorskip("torch")
    pytest.importorskip("jax")
    backends = [TorchBackend(), JaxBackend(mode="padded"), JaxBackend(mode="native")]
    for dtype in ("float64", "float32"):
        d = draw(net, 3, batch_size=5, draws=4, dtype=dtype)
        d64 = d.astype(np.float64)
        expected = get_route("recursive")(net, d64.params, d64.X, d64.Y)
        for b in backends:
            _, ok = compare_batched(expected, b.gradients_batched(net, conv, d.params, d.X, d.Y), dtype=dtype)
            assert ok.all(), (b, dtype)
        case = Case(net, conv, *d.one(0))
        first = tuple((W[0], None if bb is None else bb[0]) for W, bb in expected)
        assert compare_gradients(first, backends[0].gradients(case), dtype=dtype).passed


# ---- strategies, presets, CLI -------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(networks(targets=None, l2=(0.0, 0.5), l1=(0.0, 0.2), penalty_bias=None))
def test_strategies_draw_only_what_each_loss_takes(net):
    assert net.targets in net.loss_fn.targets
    assert net.reduction != "mean_all" or net.loss_fn.elementwise
    assert net.penalty_form == "half" or net.has_penalty


def test_strategies_refuse_targets_no_loss_takes():
    with pytest.raises(InvalidArgument, match="no loss"):
        networks(losses=["half_sse"], targets=["labels"])


def test_presets_match_their_code():
    o = resolve_options("cs231n")
    assert (o.depth, o.targets, o.loss, o.reduction, o.penalty_form) == (2, "labels", "softmax_ce", "mean", "half")
    assert resolve_options("cs231n-fc").depth is None and resolve_options("cs231n-fc").targets == "labels"
    assert resolve_options("deeplearning.ai").penalty_form == "half_over_m"
    for new, *old in (("mishachev", "homogeneous", "seed000"), ("qa-thread", "one-sample-sigmoid", "seed001"),
                      ("wen-sun", "relu-readout", "seed002"), ("phunc20", "rows-tanh-bce", "seed003")):
        for name in old:  # earlier names stay aliases
            assert PRESETS[name] is PRESETS[new] and resolve_options(name) == resolve_options(new)
    flags = resolve_options("cs231n", l2=0.05, penalty_bias=True).cli_flags()
    assert "--penalty-bias" in flags and flags[flags.index("--l2") + 1] == "0.05"


@pytest.mark.parametrize("argv, words", [
    (["--output", "softmax"], "--loss softmax_ce"),
    (["--targets", "labels"], "--loss softmax_ce"),
    (["--loss", "softmax_ce", "--reduction", "mean_all"], "--reduction mean"),
    (["--loss", "half_sse", "--targets", "binary"], "--targets soft"),
])
def test_cli_refuses_what_no_network_satisfies(argv, words, capsys):
    assert main(["check", "examples/cs231n_two_layer.py:loss_grads", *argv]) == 2
    assert words in capsys.readouterr().err
    with pytest.raises(UsageError):
        resolve_options(None, **{"l2": -1.0})


# ---- extra entries ------------------------------------------------------------------------------------

def _dA_case():
    net = Network((3, 5, 4, 1), ("relu", "tanh", "sigmoid"), loss="bce", targets="binary", reduction="mean")
    conv = Convention("columns", "out_in", "column", "dict")
    return Case(net, conv, *draw(net, 9, batch_size=6).one(0))


def _dA(case, scale=1.0):
    from crosscheck.check.extras import activation_gradients

    G = activation_gradients(case.network, case.params, case.X, case.Y)
    return {f"dA{l}": scale * G[l][0] for l in range(case.network.depth)}


def test_dA_entries_are_checked_in_either_scaling_but_not_mixed():
    case = _dA_case()
    grads = {"dW1": 0, "db1": 0, "cost": 1.0, "dAL": 2.0}
    _, acts, ignored = split_extras(case.convention, case.network, {**grads, **_dA(case)})
    assert sorted(acts) == ["dA0", "dA1", "dA2"] and ignored == ["cost", "dAL"]
    assert all(c.passed and c.scaling == "reduced" for c in check_extras(case, _dA(case)))
    per_sample = check_extras(case, _dA(case, 6.0))  # deeplearning.ai: without the 1/m
    assert all(c.passed and c.scaling == "per_sample" for c in per_sample)
    mixed = {**_dA(case), "dA1": 6.0 * _dA(case)["dA1"]}
    verdicts = {c.key: c.passed for c in check_extras(case, mixed)}
    assert verdicts == {"dA0": True, "dA1": False, "dA2": True}
    off = check_extras(case, {"dA1": _dA(case)["dA0"]})
    assert not off[0].passed and "index is one off" in off[0].detail
