"""examples/grading: its submissions are what they claim (checked against torch.autograd, not
crosscheck), and the results committed beside them are what the command line gives today."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from crosscheck.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "grading"
REGENERATE = "regenerate them as examples/grading/README.md says"


def _load(kind: str, file: str = "nn.py"):
    spec = importlib.util.spec_from_file_location(f"grading_{kind}_{file[:-3]}", EXAMPLE / "submissions" / kind / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _torch_loss_grads(params, X, Y, torch):
    """cs231n: relu hidden layers, softmax cross-entropy of integer labels Y (N,), mean over rows."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    k = len(params) // 2
    A = torch.tensor(X)
    for layer in range(1, k + 1):
        A = A @ t[f"W{layer}"] + t[f"b{layer}"]
        if layer < k:
            A = torch.relu(A)
    loss = torch.nn.functional.cross_entropy(A, torch.tensor(Y))
    loss.backward()
    return {k: v.grad.numpy() for k, v in t.items()}


def _torch_backprop(params, X, Y, hidden, torch):
    """torch style: A @ W.T + b, the hidden activation, identity output, 1/2 squared error, mean over rows."""
    t = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in params]
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}[hidden]
    A = torch.tensor(X)
    for i, (W, b) in enumerate(t):
        A = A @ W.T + b
        if i < len(t) - 1:
            A = act(A)
    loss = 0.5 * ((A - torch.tensor(Y)) ** 2).sum() / X.shape[0]
    loss.backward()
    return [(W.grad.numpy(), b.grad.numpy()) for W, b in t]


def _rng_params(rng, widths, layout):
    if layout == "dict":  # W as (in, out)
        out = {}
        for layer, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
            out[f"W{layer}"] = rng.standard_normal((n_in, n_out))
            out[f"b{layer}"] = rng.standard_normal(n_out)
        return out
    return [(rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)) for n_in, n_out in
            zip(widths[:-1], widths[1:])]


@pytest.mark.parametrize("widths", [(3, 2), (3, 5, 2), (4, 6, 5, 3)])
def test_loss_grads_is_right_in_the_correct_submission_and_wrong_past_depth_1(widths):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(widths))
    params = _rng_params(rng, widths, "dict")
    X = rng.standard_normal((4, widths[0]))
    Y = rng.integers(0, widths[-1], size=4)
    truth = _torch_loss_grads(params, X, Y, torch)
    for kind, should_match in (("correct", True), ("wrong", len(widths) == 2)):
        got = _load(kind).loss_grads(params, X, Y)
        match = all(np.allclose(got[k], truth[k], rtol=1e-10, atol=1e-12) for k in truth)
        assert match == should_match, (kind, widths)


@pytest.mark.parametrize("hidden", ["tanh", "sigmoid", "relu"])
def test_backprop_is_right_in_the_correct_submission_and_wrong_for_sigmoid(hidden):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    params = _rng_params(rng, (3, 5, 2), "pairs")
    X, Y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    truth = _torch_backprop(params, X, Y, hidden, torch)
    spec = {"network": {"activations": [hidden, "identity"]}}
    for kind, should_match in (("correct", True), ("wrong", hidden != "sigmoid")):
        got = _load(kind).backprop(params, X, Y, spec=spec)
        match = all(np.allclose(g, e, rtol=1e-10, atol=1e-12) for ge, ee in zip(got, truth) for g, e in zip(ge, ee))
        assert match == should_match, (kind, hidden)


def test_the_layers_are_right_in_the_correct_submission_and_affine_wrong_in_the_other():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    (tx.reshape(4, -1) @ tw + tb).backward(torch.tensor(dout))
    scores, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    ts = torch.tensor(scores, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(ts, torch.tensor(labels))
    loss.backward()
    for kind in ("correct", "wrong"):
        layers = _load(kind, "layers.py")
        out, cache = layers.affine_forward(x, w, b)
        assert np.allclose(out, x.reshape(4, -1) @ w + b)
        dx, dw, db = layers.affine_backward(dout, cache)
        assert np.allclose(dx, tx.grad.numpy()) and np.allclose(db, tb.grad.numpy())
        assert (dw.shape == w.shape and np.allclose(dw, tw.grad.numpy())) == (kind == "correct")
        r, rc = layers.relu_forward(x)
        assert np.array_equal(layers.relu_backward(x, rc), x * (x > 0))
        value, dscores = layers.softmax_loss(scores, labels)
        assert np.isclose(value, loss.item()) and np.allclose(dscores, ts.grad.numpy())


def _without_timing(results: dict) -> dict:
    results = dict(results)
    results.pop("execution_time")
    return results


@pytest.mark.parametrize("kind", ["correct", "wrong"])
def test_the_committed_results_are_what_grading_gives(kind, tmp_path, monkeypatch):
    monkeypatch.chdir(EXAMPLE)
    out = tmp_path / f"{kind}.json"
    assert main(["grade", "grading.toml", "--submission", f"submissions/{kind}", "--format", "gradescope",
                 "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    committed = json.loads((EXAMPLE / "results" / f"{kind}.json").read_text())
    assert _without_timing(got) == _without_timing(committed), f"results/{kind}.json is stale: {REGENERATE}"
    if kind == "correct":
        assert got["score"] == 22 and all(t["status"] == "passed" for t in got["tests"])
    else:  # exactly the parts it gets wrong: relu's derivative at depth 2, sigmoid's derivative, affine's dw
        lost = {t["name"]: t["extra_data"]["diagnosis"][0] for t in got["tests"] if t["status"] == "failed"}
        assert lost == {"Fully connected net: loss gradients: depth 2": "missing_activation_derivative",
                        "Backprop with any hidden activation: depth 2, hidden sigmoid": "activation_derivative",
                        "Layers: affine": "transposed_dw"}
        assert got["score"] == 22 - 5 - 2 - 2


def test_the_committed_text_report_is_what_grading_gives(tmp_path, monkeypatch):
    monkeypatch.chdir(EXAMPLE)
    # as examples/grading/README.md makes it: with --out, so whole lines whatever the terminal's width
    out = tmp_path / "wrong.txt"
    assert main(["grade", "grading.toml", "--submission", "submissions/wrong", "--out", str(out)]) == 0
    assert out.read_text() == (EXAMPLE / "results" / "wrong.txt").read_text(), (
        f"results/wrong.txt is stale: {REGENERATE}")
