"""Correct backprop, written the way each course or seed writes it (no crosscheck inside).

Each function is ``fn(params, X, Y) -> gradients`` in its own convention; the preset or
flags to check it with are in ``CONVENTIONS``.
"""

import numpy as np

CONVENTIONS = {
    "cs231n": {"preset": "cs231n"},  # rows / in_out / vector / dict; relu, softmax_ce, mean
    "deeplearning_ai": {"preset": "deeplearning.ai"},  # columns / out_in / column / dict; relu, sigmoid, bce
    "nielsen": {"preset": "nielsen"},  # single / out_in / column / pairs; sigmoid, half_sse, sum
    "seed000": {"preset": "seed000", "hidden": "tanh"},  # columns / out_in / augmented / pairs; output f
    "torch_style": {"preset": "torch"},  # rows / out_in / vector / pairs; tanh, identity, half_sse, mean
    "seed003": {"preset": "seed003"},  # rows / in_out / row / dict; tanh, sigmoid, bce, mean
}


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def cs231n(params, X, y):
    """Rows are samples; W{l}: (n_in, n_out); scores = relu(...) @ W + b; softmax loss of the integer
    labels y: (N,) averaged, as CS231n's TwoLayerNet / FullyConnectedNet write it."""
    k = sum(1 for key in params if key.startswith("W"))
    m = X.shape[0]
    A, Zs = [X], []
    for layer in range(1, k + 1):
        Z = A[-1] @ params[f"W{layer}"] + params[f"b{layer}"]
        Zs.append(Z)
        A.append(np.maximum(Z, 0) if layer < k else Z)
    scores = A[-1]
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    dZ = probs.copy()
    dZ[np.arange(m), y] -= 1
    dZ /= m
    grads = {}
    for layer in range(k, 0, -1):
        grads[f"W{layer}"] = A[layer - 1].T @ dZ
        grads[f"b{layer}"] = dZ.sum(axis=0)
        if layer > 1:
            dZ = (dZ @ params[f"W{layer}"].T) * (Zs[layer - 2] > 0)
    return grads


def deeplearning_ai(parameters, X, Y):
    """Columns are samples; W{l}: (n_l, n_{l-1}), b{l}: (n_l, 1); relu, sigmoid output, cross-entropy."""
    L = len(parameters) // 2
    m = X.shape[1]
    caches, A = [], X
    for layer in range(1, L + 1):
        W, b = parameters[f"W{layer}"], parameters[f"b{layer}"]
        Z = W @ A + b
        caches.append((A, W, Z))
        A = sigmoid(Z) if layer == L else np.maximum(0, Z)
    AL = A
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    grads = {}
    for layer in range(L, 0, -1):
        A_prev, W, Z = caches[layer - 1]
        if layer == L:
            s = sigmoid(Z)
            dZ = dA * s * (1 - s)
        else:
            dZ = np.array(dA, copy=True)
            dZ[Z <= 0] = 0
        grads[f"dW{layer}"] = dZ @ A_prev.T / m
        grads[f"db{layer}"] = np.sum(dZ, axis=1, keepdims=True) / m
        dA = W.T @ dZ
    return grads


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def nielsen(params, x, y):
    """Nielsen's network.py backprop: one sample x: (n, 1), sigmoid everywhere, C = 1/2 ||a - y||^2."""
    weights = [w for w, b in params]
    biases = [b for w, b in params]
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    activation = x
    activations = [x]
    zs = []
    for b, w in zip(biases, weights):
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    for l in range(2, len(weights) + 1):
        z = zs[-l]
        sp = sigmoid_prime(z)
        delta = np.dot(weights[-l + 1].transpose(), delta) * sp
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
    return list(zip(nabla_w, nabla_b))


def seed000(Ws, X, Y):
    """Seed 000's homogeneous network: X carries a constant-1 row, hidden W_l carry the fixed
    row [0 ... 0 1] and an identity formal neuron; the gradient of f = sum of the outputs."""
    k = len(Ws)
    A, Z = [X], []
    for layer, W in enumerate(Ws, start=1):
        z = W @ A[-1]
        Z.append(z)
        if layer < k:
            a = np.tanh(z)
            a[-1] = z[-1]  # the formal neuron is the identity: it stays 1
        else:
            a = z
        A.append(a)
    delta = np.ones_like(Z[-1])
    grads = [None] * k
    for layer in range(k, 0, -1):
        grads[layer - 1] = delta @ A[layer - 1].T
        if layer > 1:
            sp = 1 - np.tanh(Z[layer - 2]) ** 2
            sp[-1] = 1.0
            delta = (Ws[layer - 1].T @ delta) * sp
    return grads


def torch_style(params, X, Y):
    """torch.nn.Linear layout: X: (m, n_in), W: (n_out, n_in), y = x @ W.T + b; tanh hidden,
    identity output, 1/2 squared error averaged over the batch."""
    m = X.shape[0]
    A = [X]
    for i, (W, b) in enumerate(params):
        z = A[-1] @ W.T + b
        A.append(z if i == len(params) - 1 else np.tanh(z))
    delta = (A[-1] - Y) / m
    grads = []
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads.append((delta.T @ A[i], delta.sum(axis=0)))
        if i > 0:
            delta = (delta @ W) * (1 - A[i] ** 2)
    return grads[::-1]


def seed003(params, X, Y):
    """Seed 003: X: (m, n), Z = X W + b with b: (1, n); tanh hidden, sigmoid output, mean BCE."""
    k = sum(1 for key in params if key.startswith("W"))
    m = X.shape[0]
    A = [X]
    for layer in range(1, k + 1):
        Z = A[-1] @ params[f"W{layer}"] + params[f"b{layer}"]
        A.append(sigmoid(Z) if layer == k else np.tanh(Z))
    dZ = (A[-1] - Y) / m  # sigmoid + cross-entropy: dL/dZ = (y_hat - y) / m
    grads = {}
    for layer in range(k, 0, -1):
        grads[f"dW{layer}"] = A[layer - 1].T @ dZ
        grads[f"db{layer}"] = dZ.sum(axis=0, keepdims=True)
        if layer > 1:
            dZ = (dZ @ params[f"W{layer}"].T) * (1 - A[layer - 1] ** 2)
    return grads
