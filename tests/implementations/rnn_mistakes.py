"""Planted mistakes in assignment 3's recurrent layers, each written the way students write it, over the
correct ``examples/layers/rnn_layers.py``. ``PLANTED[key] = (layer, {api name: planted function})``; the
key's first part is the diagnosis id crosscheck must give first or second.

``lstm_step_backward__adds_into_dnext_c`` is the published bug (found in four of four assignment-3
solutions of 2016-2022): ``dnext_c += ...`` changes the caller's array. Its gradients are right; the
mutation is what must be caught and named.
"""

import os
import sys
import textwrap

import numpy as np

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples",
                        "layers")
sys.path.insert(0, EXAMPLES)

import rnn_layers as ok  # noqa: E402


def rnn_step_backward__tanh_missing(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h
    return da.dot(Wx.T), da.dot(Wh.T), x.T.dot(da), prev_h.T.dot(da), np.sum(da, axis=0)


def _rnn_backward(dh, cache, *, summed=True, stop=0, carry=True):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx, dWx, dWh, db = np.zeros((N, T, D)), np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    dprev_h = np.zeros((N, H))
    for t in range(T - 1, stop - 1, -1):
        dx_t, dprev_h_t, dWx_t, dWh_t, db_t = ok.rnn_step_backward(dh[:, t, :] + (dprev_h if carry else 0), cache[t])
        dx[:, t, :] = dx_t
        dprev_h = dprev_h_t
        if summed:
            dWx += dWx_t
            dWh += dWh_t
            db += db_t
        else:
            dWx, dWh, db = dWx_t, dWh_t, db_t
    return dx, dprev_h, dWx, dWh, db


def rnn_backward__not_summed(dh, cache):
    return _rnn_backward(dh, cache, summed=False)


def rnn_backward__stops_early(dh, cache):
    return _rnn_backward(dh, cache, stop=1)


def rnn_backward__carry_dropped(dh, cache):
    return _rnn_backward(dh, cache, carry=False)


def word_embedding_backward__overwrites(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    dW[x] = dout
    return dW


_temporal_softmax_loss = ok.temporal_softmax_loss  # the correct one, before a planted module rebinds it


def temporal_softmax_loss__mask_ignored(x, y, mask, verbose=False):
    return _temporal_softmax_loss(x, y, np.ones_like(mask), verbose)


def lstm_step_forward__ifgo(x, prev_h, prev_c, Wx, Wh, b):
    """PyTorch's gate order (i, f, g, o) where the course's is (i, f, o, g)."""
    H = prev_h.shape[1]
    a = x.dot(Wx) + prev_h.dot(Wh) + b
    i, f = ok.sigmoid(a[:, :H]), ok.sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), ok.sigmoid(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    return o * np.tanh(next_c), next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward__adds_into_dnext_c(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    do = dnext_h * np.tanh(next_c)
    dnext_c += dnext_h * o * (1 - np.tanh(next_c) ** 2)
    dprev_c = dnext_c * f
    di, df, dg = dnext_c * g, dnext_c * prev_c, dnext_c * i
    da = np.hstack((di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)))
    return da.dot(Wx.T), da.dot(Wh.T), dprev_c, x.T.dot(da), prev_h.T.dot(da), da.sum(axis=0)


def lstm_step_backward__cell_tanh_missing(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    dc = dnext_c + dnext_h * o
    do = dnext_h * np.tanh(next_c)
    da = np.hstack((dc * g * i * (1 - i), dc * prev_c * f * (1 - f), do * o * (1 - o), dc * i * (1 - g ** 2)))
    return da.dot(Wx.T), da.dot(Wh.T), dc * f, x.T.dot(da), prev_h.T.dot(da), da.sum(axis=0)


def lstm_backward__dc_dropped(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx, dWx, dWh, db = np.zeros((N, T, D)), np.zeros((D, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H)
    dprev_h = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t, :], dprev_h, _, dWx_t, dWh_t, db_t = ok.lstm_step_backward(dh[:, t, :] + dprev_h, np.zeros((N, H)),
                                                                            cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


PLANTED = {
    "tanh_derivative_missing": ("rnn_step", {"rnn_step_backward": "rnn_step_backward__tanh_missing"}),
    "weights_not_summed_over_time": ("rnn", {"rnn_backward": "rnn_backward__not_summed"}),
    "bptt_stops_early": ("rnn", {"rnn_backward": "rnn_backward__stops_early"}),
    "carried_dh_dropped": ("rnn", {"rnn_backward": "rnn_backward__carry_dropped"}),
    "embedding_overwrites": ("word_embedding", {"word_embedding_backward": "word_embedding_backward__overwrites"}),
    "mask_ignored": ("temporal_softmax_loss", {"temporal_softmax_loss": "temporal_softmax_loss__mask_ignored"}),
    "gate_order": ("lstm_step", {"lstm_step_forward": "lstm_step_forward__ifgo"}),
    "gate_order/lstm": ("lstm", {"lstm_step_forward": "lstm_step_forward__ifgo"}),
    "mutates_inputs": ("lstm_step", {"lstm_step_backward": "lstm_step_backward__adds_into_dnext_c"}),
    "cell_tanh_derivative_missing": ("lstm_step", {"lstm_step_backward": "lstm_step_backward__cell_tanh_missing"}),
    "cell_tanh_derivative_missing/lstm": ("lstm", {"lstm_step_backward": "lstm_step_backward__cell_tanh_missing"}),
    "carried_dc_dropped": ("lstm", {"lstm_backward": "lstm_backward__dc_dropped"}),
}


def planted_module(key: str, directory: str) -> str:
    """Write ``<directory>/planted_<key>.py``: the correct layers with mistake ``key`` planted; its path.
    The planted functions are copied in, so the forward and backward of a sequence layer call them."""
    _, overrides = PLANTED[key]
    here = os.path.dirname(os.path.abspath(__file__))
    lines = [f"import sys\nsys.path.insert(0, {EXAMPLES!r})\nsys.path.insert(0, {here!r})",
             "import rnn_layers", "import rnn_mistakes", "from rnn_layers import *  # noqa: F403"]
    for api, planted in overrides.items():
        # rebinding inside rnn_layers too: its rnn_forward / lstm_forward call the step by its module name
        lines += [f"rnn_layers.{api} = rnn_mistakes.{planted}", f"{api} = rnn_mistakes.{planted}"]
    path = os.path.join(directory, "planted_" + key.replace("/", "_") + ".py")
    with open(path, "w") as fh:
        fh.write(textwrap.dedent("\n".join(lines)) + "\n")
    return path
