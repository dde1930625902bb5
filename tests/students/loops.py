"""Students who loop: columns are samples, ``W: (n_in, n_out)`` used as ``W.T @ a + b``, ``b: (n_out,)``,
a list of (W, b) pairs, 1/2 squared error summed over the batch, elu or leaky_relu hidden layers
and an identity output (flags in ``tests/students/__init__.py``). Several go sample by sample
with a cache dict; one reads parameters back from an unrolled vector, Octave style."""

import numpy as np


def elu(z):
    return np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1)


def elu_prime(z):
    return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)))


def leaky(z):
    return np.where(z > 0, z, 0.01 * z)


def _forward_one(params, x, act):
    cache = {"a0": x}
    a = x
    for l, (W, b) in enumerate(params, start=1):  # noqa: E741
        z = W.T @ a + b
        cache[f"z{l}"] = z
        a = z if l == len(params) else act(z)
        cache[f"a{l}"] = a
    return cache


def backprop_elu(params, X, Y):
    """Correct: one sample at a time, accumulating."""
    L = len(params)
    dWs = [np.zeros_like(W) for W, _ in params]
    dbs = [np.zeros_like(b) for _, b in params]
    for j in range(X.shape[1]):
        cache = _forward_one(params, X[:, j], elu)
        delta = cache[f"a{L}"] - Y[:, j]
        for l in range(L, 0, -1):  # noqa: E741
            dWs[l - 1] += np.outer(cache[f"a{l - 1}"], delta)
            dbs[l - 1] += delta
            if l > 1:
                delta = (params[l - 1][0] @ delta) * elu_prime(cache[f"z{l - 1}"])
    return list(zip(dWs, dbs))


def elu_prime_negative_value(params, X, Y):
    """elu' for z < 0 written as exp(z) - 1, the value."""
    L = len(params)
    dWs = [np.zeros_like(W) for W, _ in params]
    dbs = [np.zeros_like(b) for _, b in params]
    for j in range(X.shape[1]):
        cache = _forward_one(params, X[:, j], elu)
        delta = cache[f"a{L}"] - Y[:, j]
        for l in range(L, 0, -1):  # noqa: E741
            dWs[l - 1] += np.outer(cache[f"a{l - 1}"], delta)
            dbs[l - 1] += delta
            if l > 1:
                z = cache[f"z{l - 1}"]
                delta = (params[l - 1][0] @ delta) * np.where(z > 0, 1.0, np.exp(z) - 1)
    return list(zip(dWs, dbs))


def leaky_slope_mismatch(params, X, Y):
    """Forward with slope 0.01, backward with 0.1."""
    L = len(params)
    dWs = [np.zeros_like(W) for W, _ in params]
    dbs = [np.zeros_like(b) for _, b in params]
    for j in range(X.shape[1]):
        cache = _forward_one(params, X[:, j], leaky)
        delta = cache[f"a{L}"] - Y[:, j]
        for l in range(L, 0, -1):  # noqa: E741
            dWs[l - 1] += np.outer(cache[f"a{l - 1}"], delta)
            dbs[l - 1] += delta
            if l > 1:
                delta = (params[l - 1][0] @ delta) * np.where(cache[f"z{l - 1}"] > 0, 1.0, 0.1)
    return list(zip(dWs, dbs))


def overwrites_instead_of_accumulating(params, X, Y):
    """dW = ... inside the loop over samples: only the last sample survives."""
    L = len(params)
    grads = [None] * L
    for j in range(X.shape[1]):
        cache = _forward_one(params, X[:, j], elu)
        delta = cache[f"a{L}"] - Y[:, j]
        for l in range(L, 0, -1):  # noqa: E741
            grads[l - 1] = (np.outer(cache[f"a{l - 1}"], delta), delta)
            if l > 1:
                delta = (params[l - 1][0] @ delta) * elu_prime(cache[f"z{l - 1}"])
    return grads


def batch_axis_by_size(params, X, Y):
    """Vectorised; finds the batch axis of delta by its length, which picks the units when n_l == m."""
    m = X.shape[1]
    As, Zs = [X], []
    for l, (W, b) in enumerate(params, start=1):  # noqa: E741
        Z = W.T @ As[-1] + b[:, None]
        Zs.append(Z)
        As.append(Z if l == len(params) else elu(Z))
    delta = As[-1] - Y
    grads = [None] * len(params)
    for l in range(len(params), 0, -1):  # noqa: E741
        batch_axis = delta.shape.index(m)
        grads[l - 1] = (As[l - 1] @ delta.T, delta.sum(axis=batch_axis))
        if l > 1:
            delta = (params[l - 1][0] @ delta) * elu_prime(Zs[l - 2])
    return grads


def unrolled_theta(params, X, Y):
    """Gradients unrolled into one vector in column-major (Octave) order, read back row-major."""
    grads = backprop_elu(params, X, Y)
    theta = np.concatenate([np.concatenate([dW.ravel(order="F"), db]) for dW, db in grads])
    out, i = [], 0
    for W, b in params:
        dW = theta[i:i + W.size].reshape(W.shape)
        i += W.size
        db = theta[i:i + b.size]
        i += b.size
        out.append((dW, db))
    return out
