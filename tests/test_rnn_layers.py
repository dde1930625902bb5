"""Assignment 3's recurrent layers under ``--api cs231n`` (issue 20): the NumPy reference against
torch.nn.RNN / torch.nn.LSTM (their own cells, weights re-laid out from the course's) in float64, a
correct ``rnn_layers.py`` passing every layer, each planted mistake named, and the published LSTM bug
(``dnext_c += ...`` in lstm_step_backward) caught as a mutation of the caller's dnext_c."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from crosscheck.layers import check_layers
from crosscheck.layers.api import LAYERS
from crosscheck.layers.diagnose import MISTAKE_IDS
from crosscheck.layers.recurrent import RECURRENT_LAYERS
from crosscheck.reference.layers import rnn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "implementations"))
from rnn_mistakes import PLANTED, planted_module  # noqa: E402

RNN_LAYERS = "examples/layers/rnn_layers.py"


def _inputs(name: str, dims: dict, seed: int = 1) -> dict:
    return LAYERS[name].inputs(dims, np.random.default_rng(seed), "float64", {})


# ---- the reference against torch's own recurrent modules ------------------------------------------------

def _torch_module(kind: str, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray):
    """torch.nn.RNN (tanh) or torch.nn.LSTM holding the course's weights: torch keeps W as (gates*H, D)
    and orders an LSTM's gates i, f, g, o where the course's a is split i, f, o, g."""
    torch = pytest.importorskip("torch")
    D, G = Wx.shape
    H = Wh.shape[0]
    perm = np.arange(G) if kind == "rnn" else np.concatenate([np.arange(0, 2 * H), np.arange(3 * H, 4 * H),
                                                              np.arange(2 * H, 3 * H)])
    module = (torch.nn.RNN if kind == "rnn" else torch.nn.LSTM)(D, H, batch_first=True).double()
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.tensor(Wx[:, perm].T))
        module.weight_hh_l0.copy_(torch.tensor(Wh[:, perm].T))
        module.bias_ih_l0.copy_(torch.tensor(b[perm]))
        module.bias_hh_l0.zero_()
    return module, perm


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize("T", [1, 4])
def test_sequence_reference_agrees_with_torch_nn(kind, T):
    torch = pytest.importorskip("torch")
    a = _inputs(kind, {"N": 3, "T": T, "D": 4, "H": 5})
    module, perm = _torch_module(kind, a["Wx"], a["Wh"], a["b"])
    x = torch.tensor(a["x"], requires_grad=True)
    h0 = torch.tensor(a["h0"][None], requires_grad=True)
    state = h0 if kind == "rnn" else (h0, torch.zeros_like(h0))
    h, _ = module(x, state)
    h.backward(torch.tensor(a["dh"]))
    forward, vjp = (rnn.rnn_forward, rnn.rnn_vjp) if kind == "rnn" else (rnn.lstm_forward, rnn.lstm_vjp)
    args = (a["x"], a["h0"], a["Wx"], a["Wh"], a["b"])
    np.testing.assert_allclose(forward(*args), h.detach().numpy(), rtol=1e-12, atol=1e-13)
    g = vjp(a["dh"], *args)
    back = np.argsort(perm)  # torch's gate order back to the course's
    np.testing.assert_allclose(g["dx"], x.grad.numpy(), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(g["dh0"], h0.grad.numpy()[0], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(g["dWx"], module.weight_ih_l0.grad.numpy().T[:, back], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(g["dWh"], module.weight_hh_l0.grad.numpy().T[:, back], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(g["db"], module.bias_ih_l0.grad.numpy()[back], rtol=1e-11, atol=1e-13)


def test_step_embedding_and_loss_references_agree_with_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = _inputs("lstm_step", {"N": 2, "D": 3, "H": 4})
    cell = torch.nn.LSTMCell(3, 4).double()
    _, perm = _torch_module("lstm", a["Wx"], a["Wh"], a["b"])
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor(a["Wx"][:, perm].T))
        cell.weight_hh.copy_(torch.tensor(a["Wh"][:, perm].T))
        cell.bias_ih.copy_(torch.tensor(a["b"][perm]))
        cell.bias_hh.zero_()
    t = {k: torch.tensor(a[k], requires_grad=True) for k in ("x", "prev_h", "prev_c")}
    h, c = cell(t["x"], (t["prev_h"], t["prev_c"]))
    (h * torch.tensor(a["dnext_h"]) + c * torch.tensor(a["dnext_c"])).sum().backward()
    args = [a[k] for k in ("x", "prev_h", "prev_c", "Wx", "Wh", "b")]
    nh, nc = rnn.lstm_step_forward(*args)
    np.testing.assert_allclose(nh, h.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(nc, c.detach().numpy(), rtol=1e-12)
    g = rnn.lstm_step_vjp(a["dnext_h"], a["dnext_c"], *args)
    for k in ("x", "prev_h", "prev_c"):
        np.testing.assert_allclose(g["d" + k], t[k].grad.numpy(), rtol=1e-11, atol=1e-13)

    e = _inputs("word_embedding", {"N": 2, "T": 3, "V": 4, "D": 5})
    W = torch.tensor(e["W"], requires_grad=True)
    (F.embedding(torch.tensor(e["x"]), W) * torch.tensor(e["dout"])).sum().backward()
    np.testing.assert_allclose(rnn.embedding_vjp(e["dout"], e["x"], e["W"])["dW"], W.grad.numpy(), rtol=1e-13)

    s = _inputs("temporal_softmax_loss", {"N": 3, "T": 4, "V": 5})
    x = torch.tensor(s["x"], requires_grad=True)
    per_step = -torch.log_softmax(x, dim=2).gather(2, torch.tensor(s["y"])[..., None])[..., 0]
    loss = (per_step * torch.tensor(s["mask"], dtype=torch.float64)).sum() / 3
    loss.backward()
    ref_loss, ref_dx = rnn.temporal_softmax_loss(s["x"], s["y"], s["mask"])
    np.testing.assert_allclose(ref_loss, loss.item(), rtol=1e-13)
    np.testing.assert_allclose(ref_dx, x.grad.numpy(), rtol=1e-12, atol=1e-15)


# ---- the layer check --------------------------------------------------------------------------------------

def test_a_correct_rnn_layers_file_passes_every_recurrent_layer():
    report = check_layers(RNN_LAYERS, examples=10)
    assert [v.name for v in report.layers] == list(RECURRENT_LAYERS)  # not told it misses conv or batchnorm
    assert report.exit_code == 0, report.summary()
    assert all(v.verdict == "pass" for v in report.layers)


def test_a_layers_file_is_not_told_it_misses_the_lstm():
    report = check_layers("examples/layers/layers.py", layers=None, examples=2)
    assert not any(v.name in RECURRENT_LAYERS for v in report.layers)


@pytest.mark.parametrize("key", sorted(PLANTED))
def test_planted_recurrent_mistake_is_named(key, tmp_path):
    layer, _ = PLANTED[key]
    mistake = key.split("/")[0]
    path = planted_module(key, str(tmp_path))
    report = check_layers(path, layers=f"{layer},temporal_affine", examples=10)
    verdict = report.layer(layer)
    assert verdict.verdict == "fail", report.summary()
    ids = [d["id"] for d in verdict.diagnosis]
    assert mistake in ids[:2], (ids, report.summary())
    assert report.layer("temporal_affine").verdict == "pass"


def test_the_published_lstm_bug_is_caught_and_names_dnext_c(tmp_path):
    """lstm_step_backward's `dnext_c += dnext_h * o * (1 - tanh(next_c)**2)`: the gradients it returns
    are right, but the caller's dnext_c has changed (lstm_backward's own carry survives it; a caller that
    reuses its array does not)."""
    path = planted_module("mutates_inputs", str(tmp_path))
    report = check_layers(path, layers="lstm_step,lstm", examples=10)
    verdict = report.layer("lstm_step")
    assert verdict.verdict == "fail"
    first = verdict.diagnosis[0]
    assert first["id"] == "mutates_inputs" and "dnext_c" in first["parameter"], verdict.diagnosis
    assert all(p.passed for p in verdict.parts)  # the values were right: only the mutation failed it
    assert "mutates_inputs" in report.summary() and "dnext_c" in report.summary()


def test_every_planted_id_is_in_the_catalogue():
    assert {k.split("/")[0] for k in PLANTED} <= set(MISTAKE_IDS) | {"mutates_inputs"}  # the last: any layer
