"""Unrolled parameter vectors and first-column biases (issue 20): Andrew Ng's ex4 ``nnCostFunction`` as the
NumPy ports write it (tests/implementations/ng_ex4.py), first verified against torch.autograd in float64,
then checked with ``--preset ng-ex4``: the right ones pass, each wrong twin is named, and a declaration
that differs from the code's (the unrolling order, the label base) is named with the flag that fixes it."""

from __future__ import annotations

import shlex

import numpy as np
import pytest
from implementations import ng_ex4

from crosscheck.check.job import check_implementation
from crosscheck.cli import main
from crosscheck.errors import GradientMismatch, UsageError
from crosscheck.model.presets import resolve_options
from crosscheck.sandbox.adapters import packed_function

FILE = "tests/implementations/ng_ex4.py"


def _torch_truth(Theta1, Theta2, X, y, lambda_, num_labels):
    """J and (dTheta1, dTheta2) of ex4's network by torch.autograd in float64, from the Thetas themselves."""
    torch = pytest.importorskip("torch")
    T1, T2 = (torch.tensor(T, requires_grad=True) for T in (Theta1, Theta2))
    Xt = torch.tensor(X)
    m = X.shape[0]
    a2 = torch.sigmoid(Xt @ T1[:, 1:].T + T1[:, 0])
    h = torch.sigmoid(a2 @ T2[:, 1:].T + T2[:, 0])
    Y = torch.nn.functional.one_hot(torch.tensor(y), num_labels).double()
    J = torch.nn.functional.binary_cross_entropy(h, Y, reduction="sum") / m
    J = J + lambda_ / (2 * m) * ((T1[:, 1:] ** 2).sum() + (T2[:, 1:] ** 2).sum())
    J.backward()
    return float(J.detach()), T1.grad.numpy(), T2.grad.numpy()


def _problem(seed=0, n_in=4, hidden=5, K=3, m=7):
    rng = np.random.default_rng(seed)
    Theta1, Theta2 = rng.normal(size=(hidden, n_in + 1)), rng.normal(size=(K, hidden + 1))
    return Theta1, Theta2, rng.normal(size=(m, n_in)), rng.integers(0, K, size=m)


@pytest.mark.parametrize("fn, order, base", [(ng_ex4.nnCostFunction, "C", 0), (ng_ex4.nnCostFunction_octave, "F", 1)])
def test_the_ports_agree_with_torch(fn, order, base):
    Theta1, Theta2, X, y = _problem()
    nn_params = np.concatenate([Theta1.ravel(order=order), Theta2.ravel(order=order)])
    J, grad = fn(nn_params, 4, 5, 3, X, y + base, 1.5)
    tJ, g1, g2 = _torch_truth(Theta1, Theta2, X, y, 1.5, 3)
    assert abs(J - tJ) < 1e-12
    np.testing.assert_allclose(grad, np.concatenate([g1.ravel(order=order), g2.ravel(order=order)]), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("fn", [ng_ex4.regularises_bias, ng_ex4.no_mean, ng_ex4.sigmoid_grad_at_activation])
def test_the_wrong_twins_differ_from_torch(fn):
    Theta1, Theta2, X, y = _problem(1)
    _, grad = fn(np.concatenate([Theta1.ravel(), Theta2.ravel()]), 4, 5, 3, X, y, 1.5)
    _, g1, g2 = _torch_truth(Theta1, Theta2, X, y, 1.5, 3)
    assert not np.allclose(grad, np.concatenate([g1.ravel(), g2.ravel()]), rtol=1e-6)


@pytest.mark.parametrize("name, options", [
    ("nnCostFunction", {"flat_order": "C"}),
    ("nnCostFunction_octave", {"label_base": 1}),
    ("flat_backprop", {"flat_order": "C"}),  # fn(params, X, Y): the vector in, the vector out
    # y as Octave's (m, 1) column, the gradients returned apart as two Thetas
    ("nnCostFunction_split", {"flat_order": "C", "label_base": 1, "returns": "loss,grads,grads",
                              "args": "params,n_in,n_hidden,n_out,X,y_column,l2"}),
])
def test_the_right_ports_pass(name, options):
    report = check_implementation(f"{FILE}:{name}", preset="ng-ex4", examples=15, **options)
    assert report.verdict == "pass" and report.examples == 15
    assert report.coverage["losses"] == ["bce"] and report.coverage["targets"] == ["onehot"]


@pytest.mark.parametrize("name, mistake", [("regularises_bias", "regularization"), ("no_mean", "loss"),
                                           ("sigmoid_grad_at_activation", "activation_derivative"),
                                           ("mutates_params", "mutates_inputs")])
def test_each_wrong_twin_is_named(name, mistake):
    with pytest.raises(GradientMismatch) as info:
        check_implementation(f"{FILE}:{name}", preset="ng-ex4", flat_order="C", examples=15)
    report = info.value.report
    assert report.diagnosis[0].id == mistake, report.summary()
    assert "--flat-order C" in report.reproduce and "--preset ng-ex4" in report.reproduce


@pytest.mark.parametrize("name, options, words", [
    ("nnCostFunction", {}, "row (C, NumPy's) order: declare --flat-order C"),
    # a failing check shrinks, diagnoses and probes: ~10 s each on a loaded 2-core machine, so these under -m slow
    pytest.param("nnCostFunction_octave", {}, "counts the class labels from 1: declare --label-base 1",
                 marks=pytest.mark.slow),
    pytest.param("nnCostFunction", {"flat_order": "C", "label_base": 1}, "from 0: declare --label-base 0",
                 marks=pytest.mark.slow),  # it crashes (IndexError): exit 1 with the diagnosis, not 3
    pytest.param("nnCostFunction_octave", {"flat_order": "C"}, "column (F, Octave's) order and counts the class "
                 "labels from 1: declare --flat-order F --label-base 1", marks=pytest.mark.slow),
    # a base neither 0 nor 1 declared (a typo): both of the bases code uses are tried
    pytest.param("nnCostFunction_octave", {"flat_order": "F", "label_base": 2},
                 "counts the class labels from 1: declare --label-base 1", marks=pytest.mark.slow),
])
def test_a_declaration_the_code_does_not_follow_is_named_with_its_flag(name, options, words):
    with pytest.raises(GradientMismatch) as info:
        check_implementation(f"{FILE}:{name}", preset="ng-ex4", examples=10, **options)
    first = info.value.report.diagnosis[0]
    assert first.id == "convention" and words in first.detail


def test_the_reproduce_command_fails_the_same_way(capsys):
    with pytest.raises(GradientMismatch) as info:
        check_implementation(f"{FILE}:nnCostFunction_octave", preset="ng-ex4", label_base=1, examples=10,
                             args="params,n_in,n_hidden,n_out,X,y,l2", returns="loss,grads", depth=2,
                             hidden="tanh")
    argv = shlex.split(info.value.report.reproduce)
    assert argv[argv.index("--args") + 1] == "params,n_in,n_hidden,n_out,X,y,l2"
    assert argv[argv.index("--label-base") + 1] == "1" and "--returns" in argv
    assert main(argv[1:]) == 1
    assert "FAIL" in capsys.readouterr().out


# ---- the worker's adapter, alone -------------------------------------------------------------------------

def _pairs(rng, widths, in_out=False):
    return [(rng.normal(size=(a, b) if in_out else (b, a)), rng.normal(size=b)) for a, b in zip(widths, widths[1:])]


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("weights", ["out_in", "in_out"])
@pytest.mark.parametrize("bias_first", [True, False])
def test_the_adapter_packs_and_unpacks_exactly(order, weights, bias_first):
    rng = np.random.default_rng(2)
    pairs = _pairs(rng, (3, 4, 2), in_out=weights == "in_out")
    pack = {"flat": True, "order": order, "bias_first": bias_first, "weights": weights, "rows": True}
    seen = {}

    def identity(params, X, Y):  # returns its own vector: the gradients must come back as the parameters
        seen["v"] = params
        return params.copy()

    back = packed_function(identity, pack)(pairs, rng.normal(size=(5, 3)), None)
    for (W, b), (dW, db) in zip(pairs, back):
        assert np.array_equal(W, dW) and np.array_equal(b, db)
    theta1 = np.concatenate([pairs[0][1][:, None], pairs[0][0]], 1) if weights == "out_in" else \
        np.concatenate([pairs[0][1][None, :], pairs[0][0]], 0)
    if bias_first:
        np.testing.assert_array_equal(seen["v"][:theta1.size], theta1.ravel(order=order))


def test_the_adapter_says_how_many_numbers_it_expected():
    rng = np.random.default_rng(3)
    fn = packed_function(lambda p, X, Y: p[:-1], {"flat": True, "order": "C", "bias_first": True,
                                                  "weights": "out_in", "rows": True})
    with pytest.raises(ValueError, match=r"shape \(16,\); the unrolled parameters have 17 numbers"):
        fn(_pairs(rng, (2, 3, 2)), rng.normal(size=(4, 2)), None)


def test_the_adapter_reads_a_signature_off_its_names_or_asks_for_args():
    def cost(theta, input_size, hidden_size, num_labels, x, y, lmbda):
        return 0.0, np.zeros_like(theta)

    def odd(nn_params, sizes, X, y):
        return nn_params

    pack = {"flat": True, "order": "F", "bias_first": True, "weights": "out_in", "rows": True, "l2": 1.0}
    rng = np.random.default_rng(4)
    out = packed_function(cost, pack)(_pairs(rng, (2, 3, 2)), rng.normal(size=(4, 2)), np.eye(2)[[0, 1, 1, 0]])
    assert all(not dW.any() and not db.any() for dW, db in out)
    with pytest.raises(TypeError, match="--args"):
        packed_function(odd, pack)


# ---- declarations --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, words", [
    ({"params": "flat", "flat_order": "X"}, "--flat-order must be one of C, F"),
    ({"flat_order": "F"}, "add --params flat"),
    ({"params": "flat", "args": "params,X,Z"}, "unknown 'Z'"),
    ({"preset": "ng-ex4", "depth": 3, "args": "params,n_in,n_hidden,n_out,X,y,l2"}, "--depth 2"),
    ({"params": "flat", "args": "params,X,y"}, "--targets onehot"),
    ({"params": "flat", "returns": "loss"}, "no 'grads'"),
    ({"bias": "first_column", "params": "dict"}, "--params pairs"),
    ({"params": "flat", "label_base": -1}, "--label-base must be"),
    ({"params_attr": "params"}, "Class.method"),
])
def test_declarations_no_call_can_satisfy_are_usage_errors(kwargs, words):
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_implementation(f"{FILE}:nnCostFunction", examples=2, **kwargs)


def test_edge_layouts_map_to_a_convention_and_describe_themselves():
    o = resolve_options("ng-ex4")
    assert o.convention().describe() == "rows/out_in/vector/pairs" and o.packed
    assert o.describe_layout() == "rows/out_in/first_column/flat(F)"
    assert ["--bias", "first_column"] == o.cli_flags()[4:6] and o.cli_flags()[-2:] == ["--flat-order", "F"]


def test_shapes_prints_the_packing_and_its_code_builds_what_the_adapter_sends(capsys):
    from crosscheck.layout import packing_steps

    assert main(["shapes", "--preset", "ng-ex4", "--widths", "2,3,2"]) == 0
    out = capsys.readouterr().out
    assert "rows/out_in/first_column/flat(F)" in out.splitlines()[0]
    assert "Theta1  (3, 3)" in out and "params  (17,)" in out and "order='F'" in out
    seen: dict = {}

    def grab(params, X, Y):
        seen["p"] = params
        return params
    for options in (resolve_options("ng-ex4"), resolve_options(None, params="flat", batch="rows", weights="in_out"),
                    resolve_options(None, bias="first_column", weights="in_out")):
        rng = np.random.default_rng(5)
        pairs = _pairs(rng, (2, 3, 2), in_out=options.convention().weights == "in_out")
        space = {"np": np, **{f"W{i}": W for i, (W, _) in enumerate(pairs, 1)},
                 **{f"b{i}": b for i, (_, b) in enumerate(pairs, 1)}}
        for step in packing_steps(options, (2, 3, 2)):
            if step.code:
                exec(step.code, space)  # noqa: S102 - the printed lines, run
        seen.clear()
        pack = {"flat": options.params == "flat", "order": options.flat_order or "C",
                "bias_first": options.bias == "first_column", "weights": options.convention().weights, "rows": True}
        packed_function(grab, pack)(pairs, np.zeros((4, 2)), None)
        if options.params == "flat":
            np.testing.assert_array_equal(space["params"], seen["p"])
        else:
            for a, b in zip(space["params"], seen["p"]):
                np.testing.assert_array_equal(a, b)


def test_labels_counted_from_one_reach_a_plain_function_and_its_container_is_untouched():
    seen = {}

    def backprop(params, X, y):
        seen["y"] = y
        return {"dW1": np.ones((2, 3))}

    fn = packed_function(backprop, {"flat": False, "bias_first": False, "label_base": 1, "rows": True})
    out = fn({"W1": np.zeros((2, 3))}, np.zeros((3, 3)), np.array([0, 2, 1]))
    np.testing.assert_array_equal(seen["y"], [1, 3, 2])
    assert set(out) == {"dW1"}  # neither flat nor first_column: the gradients pass through as returned
