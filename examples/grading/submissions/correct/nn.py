"""A student's submission (correct): backprop for two assignments of a course.

loss_grads: CS231n-style fully connected net, any depth.
    X: (N, D), rows are samples; W{l}: (n_{l-1}, n_l) used as X @ W + b; b{l}: (n_l,);
    ReLU hidden layers, softmax cross-entropy averaged over the N samples.
backprop: a net whose hidden activation is read from the network description.
    X: (N, D); params = [(W, b), ...] with W: (n_l, n_{l-1}) used as X @ W.T + b;
    identity output, loss 1/2 ||y_hat - y||^2 averaged over the N samples.
"""

import numpy as np


def loss_grads(params, X, y):
    k = sum(1 for key in params if key.startswith("W"))
    N = X.shape[0]
    A, Z = [X], []
    for layer in range(1, k + 1):
        z = A[-1] @ params[f"W{layer}"] + params[f"b{layer}"]
        Z.append(z)
        A.append(np.maximum(z, 0) if layer < k else z)
    scores = A[-1]
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    delta = probs.copy()
    delta[np.arange(N), y] -= 1  # y: (N,) integer class labels
    delta /= N  # dL/dscores
    grads = {}
    for layer in range(k, 0, -1):
        grads[f"W{layer}"] = A[layer - 1].T @ delta
        grads[f"b{layer}"] = delta.sum(axis=0)
        if layer > 1:
            delta = (delta @ params[f"W{layer}"].T) * (Z[layer - 2] > 0)  # through the ReLU
    return grads


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# name -> (value, derivative as a function of the pre-activation z)
ACTIVATIONS = {
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
}


def backprop(params, X, Y, spec):
    hidden = spec["network"]["activations"][0]  # the same activation on every hidden layer
    f, f_prime = ACTIVATIONS[hidden]
    N = X.shape[0]
    A, Z = [X], []
    for i, (W, b) in enumerate(params):
        z = A[-1] @ W.T + b
        Z.append(z)
        A.append(z if i == len(params) - 1 else f(z))
    delta = (A[-1] - Y) / N
    grads = []
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads.append((delta.T @ A[i], delta.sum(axis=0)))
        if i > 0:
            delta = (delta @ W) * f_prime(Z[i - 1])
    return grads[::-1]
