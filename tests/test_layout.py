"""The layout debugger prints NumPy lines that work: every convention's printed forward and
backward pass is executed here and must give the reference gradient, with the printed shapes."""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck.cli import main
from crosscheck.draws import draw
from crosscheck.errors import UsageError
from crosscheck.layout import format_layout, layout_steps, parse_widths
from crosscheck.model.case import Case
from crosscheck.model.conventions import all_conventions
from crosscheck.model.network import Network
from crosscheck.reference.forward import output_gradient
from crosscheck.reference.recursive import gradients

WIDTHS = (3, 5, 4, 2)
ACTS = ("tanh", "sigmoid", "sin")


def _run(convention, widths=WIDTHS, m=6, seed=0):
    net = Network(widths, ACTS, loss="half_sse", reduction="mean", bias=convention.has_bias)
    m = 1 if convention.batch == "single" else m
    params, X, Y = draw(net, seed, batch_size=m).one(0)
    case = Case(net, convention, params, X, Y)
    uparams, uX, _ = case.user_inputs()
    rows = convention.batch == "rows"

    def dL_dA(A):  # the loss gradient in the user's batch orientation
        g = output_gradient(net, A.T if rows else A, Y)
        return g.T if rows else g

    ns = {"params": uparams, "X": uX, "dL_dA": dL_dA}
    for layer in range(1, net.depth + 1):
        ns[f"sigma{layer}"] = lambda Z, layer=layer: net.sigma(layer, Z)
        ns[f"sigma_prime{layer}"] = lambda Z, layer=layer: net.sigma_prime(layer, Z)
    steps = layout_steps(convention, widths, m)
    for step in steps:
        exec(step.code, ns)  # noqa: S102 - the printed lines are the thing under test
        name = {"X": "X"}.get(step.name, step.name.replace("δ", "D"))
        assert np.shape(ns[name]) == step.shape, (step.name, np.shape(ns[name]), step.shape)
    want = convention.params_to_user(gradients(net, params, X, Y), net, gradient=True)
    return ns, want, steps


@pytest.mark.parametrize("convention", all_conventions(params=("pairs",)) + all_conventions(params=("dict",),
                         bias=("vector", "augmented")), ids=lambda c: c.describe())
def test_printed_lines_compute_the_reference_gradient(convention):
    ns, want, _ = _run(convention)
    k = len(WIDTHS) - 1
    items = want.items() if isinstance(want, dict) else (
        [(f"dW{i}", w) for i, (w, _) in enumerate(want, 1)] + [(f"db{i}", b) for i, (_, b) in enumerate(want, 1)]
        if convention.has_bias and not convention.augmented else [(f"dW{i}", w) for i, w in enumerate(want, 1)])
    for name, value in items:
        np.testing.assert_allclose(ns[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
    assert len([n for n, _ in items if n.startswith("dW")]) == k


def test_a_planted_formula_mistake_is_caught_by_this_test(monkeypatch):
    # the test above must be able to fail: dW1 computed with the operands swapped (a transpose)
    real = layout_steps

    def planted(*a, **kw):
        from crosscheck.layout import Step

        return [Step(s.phase, s.name, s.shape, s.math, s.code.replace("A0.T @ D1", "(D1.T @ A0).T.T"), s.note)
                for s in real(*a, **kw)]
    monkeypatch.setitem(globals(), "layout_steps", planted)
    conv = all_conventions(batch=("rows",), weights=("in_out",), bias=("vector",))[0]
    with pytest.raises(AssertionError, match="dW1"):
        test_printed_lines_compute_the_reference_gradient(conv)


def test_formulas_are_written_in_each_conventions_order():
    rows = format_layout(all_conventions(batch=("rows",), weights=("in_out",), bias=("vector",))[0], (2, 3, 2), 4)
    assert "dW₂ = A₁ᵀ·δ₂" in rows and "dW2 = A1.T @ D2" in rows and "db2 = D2.sum(axis=0)" in rows
    cols = format_layout(all_conventions(batch=("columns",), weights=("out_in",), bias=("column",))[0], (2, 3, 2), 4)
    assert "dW₂ = δ₂·A₁ᵀ" in cols and "db2 = D2.sum(axis=1, keepdims=True)" in cols and "(3, 1)" in cols
    aug = format_layout(all_conventions(batch=("columns",), weights=("out_in",), bias=("augmented",))[0],
                        (2, 3, 2), 4)
    assert "W1   (4, 3)" in aug and "constant 1" in aug and "not a parameter" in aug


def test_shapes_command(capsys):
    assert main(["shapes", "--preset", "seed003", "--widths", "2,3,2", "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "rows/in_out/row/dict" in out and "X    (4, 2)" in out and "b1   (1, 3)" in out
    assert main(["shapes", "--batch", "single", "--widths", "2,3,2"]) == 0
    assert "m = 1" in capsys.readouterr().out
    assert main(["shapes", "--widths", "2,x"]) == 2
    assert "--widths" in capsys.readouterr().err


def test_widths_are_parsed_strictly():
    assert parse_widths("2,3,2") == (2, 3, 2)
    for bad in ("2", "2,0", "a,b", ""):
        with pytest.raises(UsageError):
            parse_widths(bad)
