"""A small autodiff-free engine that reads the network description from ``spec``: checked
on every activation, loss and reduction at once (columns / out_in / vector / pairs)."""

import math

import numpy as np

_erf = np.vectorize(math.erf)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


_ACT = {  # name -> (value, derivative away from kinks)
    "identity": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "leaky_relu": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z: np.where(z > 0, 1.0, 0.01)),
    "elu": (lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
            lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)))),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1 - _sigmoid(z))),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "softplus": (lambda z: np.logaddexp(0, z), _sigmoid),
    "gelu": (lambda z: 0.5 * z * (1 + _erf(z / math.sqrt(2))),
             lambda z: 0.5 * (1 + _erf(z / math.sqrt(2))) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)),
    "gelu_tanh": (lambda z: 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3))), None),
    "sin": (np.sin, np.cos),
}
_AT_KINK = {"relu": 0.0, "leaky_relu": 0.01, "elu": 1.0}


def _gelu_tanh_prime(z):
    c = math.sqrt(2 / math.pi)
    t = np.tanh(c * (z + 0.044715 * z ** 3))
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z)


def _prime(name, z):
    base, _, sub = name.partition(":")
    d = _gelu_tanh_prime(z) if base == "gelu_tanh" else _ACT[base][1](z)
    if base in _AT_KINK:
        d = np.where(z == 0, float(sub) if sub else _AT_KINK[base], d)
    return d


def _layer(names, z, which):
    if isinstance(names, str):
        names = [names] * z.shape[0]
    out = np.empty_like(z)
    for i, name in enumerate(names):
        out[i] = _ACT[name.partition(":")[0]][0](z[i]) if which == "value" else _prime(name, z[i])
    return out


def _loss_grad(loss, a, y, alpha):
    """d loss_j / d a_j for every sample j (columns)."""
    if loss == "output":
        return np.ones_like(a)
    if loss == "readout":
        return np.repeat(np.asarray(alpha)[:, None], a.shape[1], axis=1)
    if loss == "half_sse":
        return a - y
    if loss == "sse":
        return 2 * (a - y)
    if loss == "bce":
        return (a - y) / (a * (1 - a))
    if loss == "softmax_ce":
        e = np.exp(a - a.max(axis=0))
        return e / e.sum(axis=0) * y.sum(axis=0) - y
    raise ValueError(f"engine: unknown loss {loss}")


def engine(params, X, Y, spec=None):
    net = spec["network"]
    acts = net["activations"]
    A, Z = [X], []
    for (W, b), names in zip(params, acts):
        z = W @ A[-1] + b[:, None]
        Z.append(z)
        A.append(_layer(names, z, "value"))
    m = X.shape[1]
    if net.get("targets") == "labels":  # a 1-D array of class indices: its one-hot columns
        onehot = np.zeros((A[-1].shape[0], m))
        onehot[Y, np.arange(m)] = 1.0
        Y = onehot
    g = _loss_grad(net["loss"], A[-1], Y, net["alpha"])
    if net["reduction"] == "mean":
        g = g / m
    elif net["reduction"] == "mean_all":
        g = g / (m * A[-1].shape[0])
    k = len(params)
    delta = g * _layer(acts[-1], Z[-1], "prime")
    grads = [None] * k
    for layer in range(k, 0, -1):
        W, _ = params[layer - 1]
        grads[layer - 1] = (delta @ A[layer - 1].T, delta.sum(axis=1))
        if layer > 1:
            delta = (W.T @ delta) * _layer(acts[layer - 2], Z[layer - 2], "prime")
    c = {"half": 0.5, "full": 1.0, "half_over_m": 0.5 / m, "over_m": 1.0 / m}[net.get("penalty_form", "half")]
    l2, l1 = net.get("l2", 0.0), net.get("l1", 0.0)
    for layer, (W, b) in enumerate(params):
        dW, db = grads[layer]
        dW = dW + c * (2 * l2 * W + l1 * np.sign(W))
        if net.get("penalty_bias"):
            db = db + c * (2 * l2 * b + l1 * np.sign(b))
        grads[layer] = (dW, db)
    return grads
