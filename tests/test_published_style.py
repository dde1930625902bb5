"""Backprop written the way courses and books write it (tests/implementations/published_style.py):
each function is first checked against torch.autograd in float64 with a loss written independently
in torch, then through ``crosscheck check`` under its declared options (pass) and under a wrong
declaration (fail): labels, one-hot and 0/1 targets, means over every element, each penalty form,
and extra ``dA`` entries."""

from __future__ import annotations

import numpy as np
import pytest
from implementations import published_style as ps

from crosscheck.check.job import check_implementation
from crosscheck.draws import draw
from crosscheck.errors import GradientMismatch
from crosscheck.model.conventions import Convention
from crosscheck.model.network import Network

torch = pytest.importorskip("torch")
F = torch.nn.functional
TARGET = "implementations.published_style:"


def _inputs(net: Network, conv: Convention, m: int, seed: int = 3):
    from crosscheck.model.case import Case

    d = draw(net, seed, batch_size=m)
    return Case(net, conv, *d.one(0)).user_inputs()


def _t(a, grad=True):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _close(got, truth):
    np.testing.assert_allclose(np.asarray(got), truth.detach().numpy(), rtol=1e-10, atol=1e-12)


# ---- ground truth: torch.autograd in float64 ----------------------------------------------------------

@pytest.mark.parametrize("name, reg_scale, depth", [("cs231n_two_layer", 0.5, 2), ("cs231n_two_layer_2017", 1.0, 2),
                                                      ("cs231n_fully_connected", 0.5, 3)])
def test_cs231n_style_against_torch(name, reg_scale, depth):
    widths = (4, 6, 5, 3)[: depth] + (3,)
    net = Network(widths, ("relu",) * (depth - 1) + ("identity",), loss="softmax_ce", targets="labels",
                  reduction="mean")
    params, X, y = _inputs(net, Convention("rows", "in_out", "vector", "dict"), m=5)
    assert y.ndim == 1 and y.dtype.kind == "i"  # integer labels (N,), as CS231n passes them
    t = {k: _t(v) for k, v in params.items()}
    h = _t(X, False)
    for layer in range(1, depth + 1):
        h = h @ t[f"W{layer}"] + t[f"b{layer}"]
        h = torch.relu(h) if layer < depth else h
    loss = F.cross_entropy(h, torch.tensor(y)) + reg_scale * ps.REG * sum((t[f"W{i}"] ** 2).sum()
                                                                          for i in range(1, depth + 1))
    loss.backward()
    got = getattr(ps, name)(params, X, y)
    for k, v in t.items():
        _close(got[k], v.grad)


def test_deeplearning_ai_l_model_against_torch_with_its_dA_entries():
    net = Network((4, 6, 5, 1), ("relu", "relu", "sigmoid"), loss="bce", targets="binary", reduction="mean")
    params, X, Y = _inputs(net, Convention("columns", "out_in", "column", "dict"), m=5)
    m = X.shape[1]
    t = {k: _t(v) for k, v in params.items()}
    A = [_t(X)]
    for layer in range(1, 4):
        Z = t[f"W{layer}"] @ A[-1] + t[f"b{layer}"]
        A.append(torch.sigmoid(Z) if layer == 3 else torch.relu(Z))
        A[-1].retain_grad()
    cost = F.binary_cross_entropy(A[-1], _t(Y, False), reduction="sum") / m
    cost = cost + ps.LAMBD / (2 * m) * sum((t[f"W{i}"] ** 2).sum() for i in range(1, 4))
    cost.backward()
    grads = ps.deeplearning_ai_l_model(params, X, Y)
    for layer in range(1, 4):
        _close(grads[f"dW{layer}"], t[f"W{layer}"].grad)
        _close(grads[f"db{layer}"], t[f"b{layer}"].grad)
    # dA{l} is the gradient with respect to A^l (A^0 = X), of the summed per-sample losses: m dJ/dA^l
    assert sorted(k for k in grads if k.startswith("dA")) == ["dA0", "dA1", "dA2"]
    for layer in range(3):
        _close(grads[f"dA{layer}"], m * A[layer].grad)


@pytest.mark.parametrize("name", ["onehot_softmax", "mse_mean_all", "bce_mean_all"])
def test_torch_layout_losses_against_torch(name):
    loss_name, targets, out = {"onehot_softmax": ("softmax_ce", "onehot", "identity"),
                               "mse_mean_all": ("sse", "soft", "identity"),
                               "bce_mean_all": ("bce", "binary", "sigmoid")}[name]
    reduction = "mean" if name == "onehot_softmax" else "mean_all"
    net = Network((4, 6, 3), ("tanh", out), loss=loss_name, targets=targets, reduction=reduction)
    params, X, Y = _inputs(net, Convention("rows", "out_in", "vector", "pairs"), m=5)
    t = [(_t(W), _t(b)) for W, b in params]
    h = torch.tanh(_t(X, False) @ t[0][0].T + t[0][1])
    z = h @ t[1][0].T + t[1][1]
    Yt = _t(Y, False)
    if name == "onehot_softmax":
        loss = F.cross_entropy(z, Yt.argmax(1))
    elif name == "mse_mean_all":
        loss = torch.nn.MSELoss()(z, Yt)
    else:
        loss = torch.nn.BCELoss()(torch.sigmoid(z), Yt)
    loss.backward()
    got = getattr(ps, name)(params, X, Y)
    for (dW, db), (W, b) in zip(got, t):
        _close(dW, W.grad)
        _close(db, b.grad)


@pytest.mark.parametrize("name, l1_factor", [("book_l2_l1_half", 0.5), ("book_l1_twice", 1.0)])
def test_book_penalties_against_torch(name, l1_factor):
    """book_l2_l1_half is the gradient of C0 + L2/2 sum w^2 + L1/2 sum |w|; book_l1_twice is the
    gradient of C0 + L2/2 sum w^2 + L1 sum |w| (twice the L1 term it declares)."""
    net = Network((3, 5, 2), ("sigmoid", "sigmoid"), loss="half_sse", reduction="sum", l1=ps.L1)
    params, x, y = _inputs(net, Convention("single", "out_in", "column", "pairs"), m=1)
    t = [(_t(W), _t(b)) for W, b in params]
    a = _t(x, False)
    for W, b in t:
        a = torch.sigmoid(W @ a + b)
    loss = 0.5 * ((a - _t(y, False)) ** 2).sum()
    loss = loss + sum(ps.L2 / 2 * (W ** 2).sum() + l1_factor * ps.L1 * W.abs().sum() for W, _ in t)
    loss.backward()
    got = getattr(ps, name)(params, x, y)
    for (dW, db), (W, b) in zip(got, t):
        _close(dW, W.grad)
        _close(db, b.grad)


# ---- through crosscheck check --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ps.DECLARED))
def test_each_form_passes_when_declared_right(name):
    report = check_implementation(TARGET + name, examples=12, **ps.DECLARED[name])
    assert report.passed
    if name == "deeplearning_ai_l_model":  # its dA entries were compared, in deeplearning.ai's scaling
        assert any("checked activation gradients dA0" in n and "deeplearning.ai" in n for n in report.notes)


@pytest.mark.parametrize("name", sorted(ps.MISDECLARED))
def test_each_form_fails_when_declared_differently(name):
    with pytest.raises(GradientMismatch) as info:
        check_implementation(TARGET + name, examples=12, **ps.MISDECLARED[name])
    assert info.value.report.verdict == "fail" and info.value.report.exit_code == 1


def test_an_l1_gradient_twice_the_declared_term_fails():
    with pytest.raises(GradientMismatch):
        check_implementation(TARGET + "book_l1_twice", examples=12, **ps.DECLARED["book_l2_l1_half"])


def test_a_dA_entry_one_index_off_is_named():
    with pytest.raises(GradientMismatch) as info:
        check_implementation(TARGET + "deeplearning_ai_dA_off_by_one", examples=12,
                             **ps.DECLARED["deeplearning_ai_l_model"])
    first = info.value.report.diagnosis[0]
    assert first.id == "activation_gradient" and first.parameter.startswith("dA")
    assert "index is one off" in first.detail


def test_other_extra_entries_are_ignored_with_a_note():
    report = check_implementation(TARGET + "deeplearning_ai_with_cost", examples=8,
                                  **ps.DECLARED["deeplearning_ai_l_model"])
    assert report.passed and "ignored entries that are not parameters: cost" in report.notes
    assert "note: ignored entries that are not parameters: cost" in report.summary()
