"""torch.nn.Linear-style students who like einsum: rows are samples, ``W: (n_out, n_in)``,
``b: (n_out,)``, a list of (W, b) pairs, tanh hidden layers, identity output,
1/2 squared error averaged over the batch (``--preset torch``)."""

import numpy as np

_ACC = {}  # the stateful student's running sums


def _forward(params, X):
    As, Zs = [X], []
    for i, (W, b) in enumerate(params):
        Z = np.einsum("mi,oi->mo", As[-1], W) + b
        Zs.append(Z)
        As.append(Z if i == len(params) - 1 else np.tanh(Z))
    return As, Zs


def backprop(params, X, Y):
    """Correct."""
    As, Zs = _forward(params, X)
    m = X.shape[0]
    delta = (As[-1] - Y) / m
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (np.einsum("mo,mi->oi", delta, As[i]), np.einsum("mo->o", delta))
        if i:
            delta = np.einsum("mo,oi->mi", delta, params[i][0]) * (1 - np.tanh(Zs[i - 1]) ** 2)
    return grads


def tanh_missing_square(params, X, Y):
    """tanh' written 1 - tanh(z)."""
    As, Zs = _forward(params, X)
    delta = (As[-1] - Y) / X.shape[0]
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (np.einsum("mo,mi->oi", delta, As[i]), delta.sum(0))
        if i:
            delta = np.einsum("mo,oi->mi", delta, params[i][0]) * (1 - np.tanh(Zs[i - 1]))
    return grads


def tanh_prime_of_activation(params, X, Y):
    """tanh' evaluated at the cached activation: 1 - tanh(A)^2."""
    As, Zs = _forward(params, X)
    delta = (As[-1] - Y) / X.shape[0]
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (np.einsum("mo,mi->oi", delta, As[i]), delta.sum(0))
        if i:
            delta = np.einsum("mo,oi->mi", delta, params[i][0]) * (1 - np.tanh(As[i]) ** 2)
    return grads


def mse_over_every_entry(params, X, Y):
    """Like torch.nn.MSELoss(): the mean over samples *and* outputs."""
    As, Zs = _forward(params, X)
    delta = (As[-1] - Y) / Y.size
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (np.einsum("mo,mi->oi", delta, As[i]), delta.sum(0))
        if i:
            delta = np.einsum("mo,oi->mi", delta, params[i][0]) * (1 - As[i] ** 2)
    return grads


def residual_sign(params, X, Y):
    """delta = (Y - Y_hat) / m."""
    As, Zs = _forward(params, X)
    delta = (Y - As[-1]) / X.shape[0]
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (np.einsum("mo,mi->oi", delta, As[i]), delta.sum(0))
        if i:
            delta = np.einsum("mo,oi->mi", delta, params[i][0]) * (1 - As[i] ** 2)
    return grads


def bias_summed_over_units(params, X, Y):
    """db = delta.sum(axis=1): summed over the units instead of the samples."""
    As, Zs = _forward(params, X)
    delta = (As[-1] - Y) / X.shape[0]
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (delta.T @ As[i], delta.sum(axis=1))
        if i:
            delta = (delta @ params[i][0]) * (1 - As[i] ** 2)
    return grads


def dW_in_out(params, X, Y):
    """dW from einsum('mi,mo->io'): the (n_in, n_out) orientation of X @ W code."""
    As, Zs = _forward(params, X)
    delta = (As[-1] - Y) / X.shape[0]
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (np.einsum("mi,mo->io", As[i], delta), delta.sum(0))
        if i:
            delta = np.einsum("mo,oi->mi", delta, params[i][0]) * (1 - As[i] ** 2)
    return grads


def squared_error_factor_two(params, X, Y):
    """d/dy_hat of (y_hat - y)^2 although the loss is 1/2 (y_hat - y)^2."""
    As, Zs = _forward(params, X)
    delta = 2 * (As[-1] - Y) / X.shape[0]
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (delta.T @ As[i], delta.sum(0))
        if i:
            delta = (delta @ params[i][0]) * (1 - As[i] ** 2)
    return grads


def hidden_prime_forgotten(params, X, Y):
    """delta goes back through W only: the tanh' of the hidden layers is missing."""
    As, Zs = _forward(params, X)
    delta = (As[-1] - Y) / X.shape[0]
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (delta.T @ As[i], delta.sum(0))
        if i:
            delta = delta @ params[i][0]
    return grads


def _mm(a, b):
    """'Whatever fits': a @ b.T when the inner sizes match that way, else a @ b."""
    return a @ b.T if a.shape[1] == b.shape[1] else a @ b


def layout_guessing(params, X, Y):
    """Backpropagates through _mm, which guesses the layout from shapes: right unless W is square."""
    As, Zs = _forward(params, X)
    delta = (As[-1] - Y) / X.shape[0]
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (delta.T @ As[i], delta.sum(0))
        if i:
            delta = _mm(delta, params[i][0]) * (1 - As[i] ** 2)
    return grads


def running_sums(params, X, Y):
    """Accumulates into module-level buffers (meant for mini-batches) that are never reset."""
    grads = backprop(params, X, Y)
    out = []
    for i, (dW, db) in enumerate(grads):
        key = (i, dW.shape)
        prev_W, prev_b = _ACC.get(key, (0.0, 0.0))
        _ACC[key] = (prev_W + dW, prev_b + db)
        out.append(_ACC[key])
    return out
