"""Every declared constraint holds in every phase of ``crosscheck check`` (issue 20): the distinct
dimensions, the coincident ones, the diagnosis's re-drawn cases (and the coincident re-run after a
crash), and the reproduction command. One test per constraint goes through all of them; single-output
course code (tests/implementations/single_output.py), verified against torch.autograd in float64,
passes under ``--output-width 1`` and fails with a named id when wrong."""

from __future__ import annotations

import shlex

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from implementations import single_output as so

from crosscheck.check.followup import _limits
from crosscheck.check.job import _strategy, check_implementation
from crosscheck.cli import build_parser
from crosscheck.diagnosis.evidence import coincident_cases, diagnosis_cases
from crosscheck.draws import draw
from crosscheck.errors import GradientMismatch, UsageError
from crosscheck.model.case import Case
from crosscheck.model.conventions import Convention
from crosscheck.model.network import Network
from crosscheck.model.presets import resolve_options

# (options, what every generated network must satisfy)
CONSTRAINTS = {
    "output_width": ({"output_width": 1}, lambda n: n.widths[-1] == 1),
    "depth": ({"depth": 3}, lambda n: n.depth == 3),
    "min_depth": ({"min_depth": 2}, lambda n: n.depth >= 2),
    "max_depth": ({"max_depth": 2}, lambda n: n.depth <= 2),
    "max_width_1": ({"max_width": 1}, lambda n: max(n.widths) == 1),
    "max_width_3": ({"max_width": 3, "min_depth": 3}, lambda n: max(n.widths) <= 3 and n.depth >= 3),
    "targets": ({"loss": "softmax_ce", "targets": "labels"}, lambda n: n.targets == "labels"),
    "penalty": ({"l2": 0.25, "penalty_form": "over_m", "penalty_bias": True},
                lambda n: n.l2 == 0.25 and n.penalty_form == "over_m" and n.penalty_bias),
}


def _drawn(options, coincident: bool, n: int = 25) -> list[Case]:
    out: list[Case] = []

    @settings(max_examples=n, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(_strategy(options, True, "float64", coincident))
    def collect(case):
        out.append(case)

    collect()
    return out


@pytest.mark.parametrize("name", list(CONSTRAINTS))
def test_a_constraint_holds_in_every_phase(name):
    kwargs, holds = CONSTRAINTS[name]
    options = resolve_options(None, **kwargs)
    # phases 1 and 2 as check draws them (a spec-aware target: everything not declared is drawn)
    distinct, coincident = _drawn(options, False), _drawn(options, True)
    assert distinct and coincident
    for case in distinct + coincident:
        assert holds(case.network), (name, "phase", case.describe())
    # the diagnosis's re-drawn cases and the coincident re-run after a crash, with check's limits
    for case in distinct[:8] + coincident[:8]:
        for again in diagnosis_cases(case, seed=0, **_limits(options)) + coincident_cases(case, **_limits(options)):
            assert holds(again.network), (name, "re-drawn", case.describe(), again.describe())
    # end to end: a target wrong everywhere is shrunk, re-drawn and diagnosed inside the constraint
    with pytest.raises(GradientMismatch) as info:
        check_implementation("implementations.single_output:engine_doubled", examples=6, **kwargs)
    report = info.value.report
    assert report.diagnosis and report.diagnosis[0].id == "scale"
    for case in (report.case, report.shrunk):
        if case is not None:
            assert holds(case.network), (name, "diagnosed", case.describe())
    # replay: the reproduction command declares the same constraint
    argv = shlex.split(report.reproduce)[1:]
    args = build_parser().parse_args(argv)
    again = resolve_options(None, **{k: getattr(args, k) for k in options.to_dict()})
    assert again == options


def test_impossible_width_constraints_are_usage_errors():
    with pytest.raises(UsageError, match="min-depth"):
        resolve_options(None, min_depth=3, max_depth=2)
    with pytest.raises(UsageError, match="not both"):
        resolve_options(None, depth=2, min_depth=2)
    with pytest.raises(UsageError, match="softmax_ce"):
        resolve_options(None, loss="softmax_ce", max_width=1)
    assert resolve_options("cs231n", min_depth=2).depth is None  # a preset's fixed depth gives way


def test_narrow_widths_are_checked_with_a_note():
    report = check_implementation("implementations.engine:engine", examples=8, max_width=1)
    assert report.verdict == "pass" and report.examples == 8
    assert any("cannot all differ" in n for n in report.notes), report.notes


# ---- single-output course code: ground truth first, then the check ------------------------------------

torch = pytest.importorskip("torch")


def _inputs(net: Network, conv: Convention, m: int, seed: int = 5):
    d = draw(net, seed, batch_size=m)
    return Case(net, conv, *d.one(0)).user_inputs()


def _t(a, grad=True):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _bce(a, y):  # written independently: the mean over samples of -[y log a + (1 - y) log(1 - a)]
    return -(y * torch.log(a) + (1 - y) * torch.log(1 - a)).sum() / y.numel()


COLUMNS = Convention("columns", "out_in", "column", "dict")
ROWS = Convention("rows", "in_out", "row", "pairs")


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_l_model_backward_agrees_with_torch(depth):
    widths = (4, 5, 3, 6)[:depth] + (1,)
    net = Network(widths, ("relu",) * (depth - 1) + ("sigmoid",), loss="bce", targets="binary", reduction="mean")
    params, X, Y = _inputs(net, COLUMNS, m=7)
    t = {k: _t(v) for k, v in params.items()}
    A = _t(X, False)
    for layer in range(1, depth + 1):
        Z = t[f"W{layer}"] @ A + t[f"b{layer}"]
        A = torch.sigmoid(Z) if layer == depth else torch.relu(Z)
    _bce(A, _t(Y, False)).backward()
    got = so.l_model_backward(params, X, Y)
    for k, v in t.items():
        np.testing.assert_allclose(got["d" + k], v.grad.numpy(), rtol=1e-10, atol=1e-12)
    wrong = so.l_model_backward_no_relu_derivative(params, X, Y)
    assert depth == 1 or not np.allclose(wrong["dW1"], t["W1"].grad.numpy())


def test_planar_and_nnfs_agree_with_torch():
    net = Network((2, 4, 1), ("tanh", "sigmoid"), loss="bce", targets="binary", reduction="mean")
    params, X, Y = _inputs(net, COLUMNS, m=6)
    t = {k: _t(v) for k, v in params.items()}
    A2 = torch.sigmoid(t["W2"] @ torch.tanh(t["W1"] @ _t(X, False) + t["b1"]) + t["b2"])
    _bce(A2, _t(Y, False)).backward()
    got = so.planar_backward(params, X, Y)
    for k, v in t.items():
        np.testing.assert_allclose(got["d" + k], v.grad.numpy(), rtol=1e-10, atol=1e-12)

    net = Network((3, 5, 1), ("relu", "sigmoid"), loss="bce", targets="binary", reduction="mean")
    params, X, y = _inputs(net, ROWS, m=6)
    tp = [(_t(W), _t(b)) for W, b in params]
    out = torch.sigmoid(torch.relu(_t(X, False) @ tp[0][0] + tp[0][1]) @ tp[1][0] + tp[1][1])
    _bce(out, _t(y, False).reshape(-1, 1)).backward()
    got = so.nnfs_bce_backward(params, X, y)
    for (dW, db), (W, b) in zip(got, tp):
        np.testing.assert_allclose(dW, W.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(db, b.grad.numpy(), rtol=1e-10, atol=1e-12)


NNFS = {"batch": "rows", "weights": "in_out", "bias": "row", "params": "pairs", "hidden": "relu",
        "output": "sigmoid", "loss": "bce", "targets": "binary", "reduction": "mean"}
SINGLE = [("l_model_backward", {"preset": "deeplearning.ai"}, "l_model_backward_no_relu_derivative",
           "missing_activation_derivative"),
          ("planar_backward", {"preset": "deeplearning.ai", "hidden": "tanh", "depth": 2},
           "planar_backward_tanh_derivative", "activation_derivative"),
          ("nnfs_bce_backward", NNFS, "nnfs_bce_backward_not_averaged", "scale")]


@pytest.mark.parametrize("right, options, wrong, mistake", SINGLE)
def test_single_output_code_passes_under_output_width_1_and_its_mistake_is_named(right, options, wrong, mistake):
    report = check_implementation(f"implementations.single_output:{right}", examples=20, output_width=1, **options)
    assert report.verdict == "pass" and report.examples == 20
    extra = {"min_depth": 2} if wrong.endswith("relu_derivative") else {}  # depth 1 has no hidden layer
    with pytest.raises(GradientMismatch) as info:
        check_implementation(f"implementations.single_output:{wrong}", examples=20, output_width=1, **options,
                             **extra)
    report = info.value.report
    assert report.diagnosis[0].id == mistake
    assert report.case.network.widths[-1] == 1
