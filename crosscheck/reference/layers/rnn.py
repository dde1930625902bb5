"""The recurrent layers of CS231n's assignment 3 (``rnn_layers.py``): forward passes and VJPs from the
inputs alone (no cache), in NumPy, beside the course's formulas.

Shapes: N samples, T time steps, D input features, H hidden units, V words, M outputs.

vanilla RNN step   next_h = tanh(x Wx + prev_h Wh + b)          x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H)
vanilla RNN        h[:, t] = step(x[:, t], h[:, t-1]), h[:, -1] = h0      x (N, T, D), h0 (N, H), h (N, T, H)
word embedding     out[n, t] = W[x[n, t]]                        x (N, T) integers in [0, V), W (V, D)
temporal affine    out[n, t] = x[n, t] w + b                     x (N, T, D), w (D, M), b (M,)
temporal softmax   loss = -(1/N) sum_{n,t} mask[n, t] log softmax(x[n, t])[y[n, t]]   x (N, T, V), y, mask (N, T)
LSTM step          a = x Wx + prev_h Wh + b (N, 4H), split in the gate order i, f, o, g:
                   i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
                   next_c = f * prev_c + i * g;  next_h = o * tanh(next_c)      Wx (D, 4H), Wh (H, 4H), b (4H,)
LSTM               the step over t with c0 = 0                   x (N, T, D), h0 (N, H), h (N, T, H)

Backpropagation through time (``rnn_vjp``, ``lstm_vjp``) walks t = T-1 ... 0, carrying dh (and dc) into
the previous step and summing the weights' gradients over every step. The keyword switches of the
VJPs (``carry_h``, ``carry_c``, ``first_step``, ``cell_tanh_prime``, ``tanh_prime``) compute what code
with one mistake returns; the layer diagnosis matches against them. Defaults are the right gradients.

May import: NumPy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rnn_step_forward", "rnn_step_vjp", "rnn_forward", "rnn_vjp", "embedding_forward", "embedding_vjp",
           "temporal_affine_forward", "temporal_affine_vjp", "temporal_softmax_loss", "lstm_step_forward",
           "lstm_step_vjp", "lstm_forward", "lstm_vjp", "sigmoid", "GATES"]

GATES = ("i", "f", "o", "g")  # the course's order of the four blocks of a, Wx, Wh and b


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Without overflow for large |z| (and complex-safe for the complex step)."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# ---- vanilla RNN --------------------------------------------------------------------------------------

def rnn_step_forward(x, prev_h, Wx, Wh, b) -> np.ndarray:
    """next_h: (N, H)."""
    return np.tanh(x @ Wx + prev_h @ Wh + b)


def rnn_step_vjp(dnext_h, x, prev_h, Wx, Wh, b, *, tanh_prime: bool = True) -> dict[str, np.ndarray]:
    """dnext_h: (N, H) -> dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,)."""
    next_h = rnn_step_forward(x, prev_h, Wx, Wh, b)
    da = dnext_h * (1 - next_h**2) if tanh_prime else dnext_h
    return {"dx": da @ Wx.T, "dprev_h": da @ Wh.T, "dWx": x.T @ da, "dWh": prev_h.T @ da, "db": da.sum(axis=0)}


def rnn_forward(x, h0, Wx, Wh, b) -> np.ndarray:
    """h: (N, T, H)."""
    hs, h = [], h0
    for t in range(x.shape[1]):
        h = rnn_step_forward(x[:, t], h, Wx, Wh, b)
        hs.append(h)
    return np.stack(hs, axis=1)


def rnn_vjp(dh, x, h0, Wx, Wh, b, *, carry_h: bool = True, first_step: int = 0, summed: bool = True,
            tanh_prime: bool = True) -> dict[str, np.ndarray]:
    """dh: (N, T, H), the upstream gradient of every hidden state -> dx, dh0, dWx, dWh, db.

    Mistakes: ``carry_h=False`` drops the gradient carried from step t+1 into step t; ``first_step=1``
    stops BPTT before t = 0 (dx[:, 0] = 0, dh0 the carry out of t = 1); ``summed=False`` keeps the last
    step processed (t = 0) instead of the sum over time; ``tanh_prime=False`` forgets tanh'."""
    h = rnn_forward(x, h0, Wx, Wh, b)
    N, T, _ = x.shape
    prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    carried = np.zeros_like(h0)
    for t in range(T - 1, first_step - 1, -1):
        step = rnn_step_vjp(dh[:, t] + (carried if carry_h else 0), x[:, t], prev[:, t], Wx, Wh, b,
                            tanh_prime=tanh_prime)
        dx[:, t] = step["dx"]
        if summed:
            dWx, dWh, db = dWx + step["dWx"], dWh + step["dWh"], db + step["db"]
        else:
            dWx, dWh, db = step["dWx"], step["dWh"], step["db"]
        carried = step["dprev_h"]
    return {"dx": dx, "dh0": carried, "dWx": dWx, "dWh": dWh, "db": db}


# ---- word embedding, temporal affine, temporal softmax -----------------------------------------------------

def embedding_forward(x, W) -> np.ndarray:
    """out: (N, T, D)."""
    return W[x]


def embedding_vjp(dout, x, W, *, accumulate: bool = True) -> dict[str, np.ndarray]:
    """dout: (N, T, D) -> dW (V, D): a word seen k times gets the sum of its k rows of dout.
    ``accumulate=False``: dW[x] = dout, where the last occurrence overwrites the others."""
    dW = np.zeros_like(W, dtype=np.result_type(W, dout))
    if accumulate:
        np.add.at(dW, x, dout)
    else:
        dW[x] = dout
    return {"dW": dW}


def temporal_affine_forward(x, w, b) -> np.ndarray:
    """out: (N, T, M)."""
    return x @ w + b


def temporal_affine_vjp(dout, x, w, b) -> dict[str, np.ndarray]:
    """dout: (N, T, M) -> dx (N, T, D), dw (D, M), db (M,)."""
    D = x.shape[2]
    return {"dx": dout @ w.T, "dw": x.reshape(-1, D).T @ dout.reshape(-1, dout.shape[2]),
            "db": dout.sum(axis=(0, 1))}


def temporal_softmax_loss(x, y, mask, *, divide_by: str = "N") -> tuple[np.floating, np.ndarray]:
    """(loss, dx (N, T, V)): the masked cross-entropy summed over time, averaged over the N samples.
    ``divide_by="NT"``: the mean over every (n, t) instead (a mistake); mask all ones: the mask ignored."""
    N, T, V = x.shape
    flat = x.reshape(N * T, V)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows, yf, mf = np.arange(N * T), y.reshape(-1), mask.reshape(-1).astype(log_p.real.dtype)
    denom = N if divide_by == "N" else N * T
    loss = -(mf * log_p[rows, yf]).sum() / denom
    dx = np.exp(log_p)
    dx[rows, yf] -= 1.0
    dx = dx * mf[:, None] / denom
    return loss, dx.reshape(N, T, V)


# ---- LSTM -----------------------------------------------------------------------------------------------

def _gates(a: np.ndarray, order: tuple[str, ...] = GATES) -> dict[str, np.ndarray]:
    """The four blocks of a (N, 4H) by name, in ``order`` (the course's i, f, o, g by default)."""
    H = a.shape[1] // 4
    blocks = {name: a[:, k * H:(k + 1) * H] for k, name in enumerate(order)}
    return {"i": sigmoid(blocks["i"]), "f": sigmoid(blocks["f"]), "o": sigmoid(blocks["o"]), "g": np.tanh(blocks["g"])}


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b, *, order: tuple[str, ...] = GATES):
    """(next_h (N, H), next_c (N, H))."""
    gate = _gates(x @ Wx + prev_h @ Wh + b, order)
    next_c = gate["f"] * prev_c + gate["i"] * gate["g"]
    return gate["o"] * np.tanh(next_c), next_c


def lstm_step_vjp(dnext_h, dnext_c, x, prev_h, prev_c, Wx, Wh, b, *, cell_tanh_prime: bool = True,
                  order: tuple[str, ...] = GATES, grad_order: tuple[str, ...] = GATES) -> dict[str, np.ndarray]:
    """-> dx (N, D), dprev_h (N, H), dprev_c (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).

    ``cell_tanh_prime=False``: dnext_h reaches next_c as dnext_h * o, without tanh'(next_c);
    ``grad_order``: the order the four blocks of da are laid out in (the course's i, f, o, g)."""
    gate = _gates(x @ Wx + prev_h @ Wh + b, order)
    i, f, o, g = gate["i"], gate["f"], gate["o"], gate["g"]
    next_c = f * prev_c + i * g
    tc = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * ((1 - tc**2) if cell_tanh_prime else 1)
    dgate = {"i": dc * g * i * (1 - i), "f": dc * prev_c * f * (1 - f), "o": dnext_h * tc * o * (1 - o),
             "g": dc * i * (1 - g**2)}
    da = np.concatenate([dgate[name] for name in grad_order], axis=1)
    return {"dx": da @ Wx.T, "dprev_h": da @ Wh.T, "dprev_c": dc * f, "dWx": x.T @ da, "dWh": prev_h.T @ da,
            "db": da.sum(axis=0)}


def lstm_forward(x, h0, Wx, Wh, b, *, order: tuple[str, ...] = GATES) -> np.ndarray:
    """h: (N, T, H), with the cell state starting at c0 = 0."""
    hs, h, c = [], h0, np.zeros_like(h0)
    for t in range(x.shape[1]):
        h, c = lstm_step_forward(x[:, t], h, c, Wx, Wh, b, order=order)
        hs.append(h)
    return np.stack(hs, axis=1)


def lstm_vjp(dh, x, h0, Wx, Wh, b, *, carry_h: bool = True, carry_c: bool = True, first_step: int = 0,
             summed: bool = True, cell_tanh_prime: bool = True) -> dict[str, np.ndarray]:
    """dh: (N, T, H) -> dx (N, T, D), dh0 (N, H), dWx, dWh, db; the switches as ``rnn_vjp``'s, and
    ``carry_c=False`` drops the cell gradient carried from step t+1."""
    N, T, _ = x.shape
    hs, cs, h, c = [h0], [np.zeros_like(h0)], h0, np.zeros_like(h0)
    for t in range(T):
        h, c = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        hs.append(h)
        cs.append(c)
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    carried_h, carried_c = np.zeros_like(h0), np.zeros_like(h0)
    for t in range(T - 1, first_step - 1, -1):
        step = lstm_step_vjp(dh[:, t] + (carried_h if carry_h else 0), carried_c if carry_c else 0 * carried_c,
                             x[:, t], hs[t], cs[t], Wx, Wh, b, cell_tanh_prime=cell_tanh_prime)
        dx[:, t] = step["dx"]
        if summed:
            dWx, dWh, db = dWx + step["dWx"], dWh + step["dWh"], db + step["db"]
        else:
            dWx, dWh, db = step["dWx"], step["dWh"], step["db"]
        carried_h, carried_c = step["dprev_h"], step["dprev_c"]
    return {"dx": dx, "dh0": carried_h, "dWx": dWx, "dWh": dWh, "db": db}
