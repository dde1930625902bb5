"""Backprop written the way courses and books write it: class labels, one-hot and 0/1 targets,
torch-style means over every element, each penalty scaling, and extra ``dA`` entries.

Written for this project from the formulas each source uses (no code copied); each function is
``fn(params, X, Y) -> gradients``. ``DECLARED`` holds the options that describe each one;
``tests/test_published_style.py`` checks every function against torch.autograd in float64 first,
then with ``crosscheck check`` under those options (pass) and under a wrong declaration (fail).
Penalty strengths are module constants, as a course's ``reg``/``lambd`` argument would be.
"""

import numpy as np

REG = 0.05  # CS231n's reg
LAMBD = 0.7  # deeplearning.ai's lambd
L2, L1 = 0.1, 0.05  # a book's lambda for each term

DECLARED = {
    # CS231n TwoLayerNet (fc_net.py): labels y (N,), softmax mean, 0.5 * reg * sum(W * W)
    "cs231n_two_layer": {"preset": "cs231n", "l2": REG},
    # CS231n neural_net.py of 2017-19: reg * sum(W * W), gradient 2 reg W
    "cs231n_two_layer_2017": {"preset": "cs231n", "l2": REG, "penalty_form": "full"},
    # CS231n FullyConnectedNet: any depth
    "cs231n_fully_connected": {"preset": "cs231n-fc", "l2": REG},
    # deeplearning.ai L_model_backward with L2: lambd / (2m) * sum(W^2), dA0 ... dA{L-1} returned
    "deeplearning_ai_l_model": {"preset": "deeplearning.ai", "l2": LAMBD},
    # one-hot rows, torch layout, softmax cross-entropy averaged over the batch
    "onehot_softmax": {"preset": "torch", "loss": "softmax_ce", "targets": "onehot", "reduction": "mean",
                       "hidden": "tanh", "output": "identity"},
    # torch's nn.MSELoss(): mean over every element of (y_hat - y)^2
    "mse_mean_all": {"preset": "torch", "loss": "sse", "reduction": "mean_all", "hidden": "tanh",
                     "output": "identity"},
    # torch's nn.BCELoss(): mean over every element, several sigmoid outputs, 0/1 targets
    "bce_mean_all": {"preset": "torch", "loss": "bce", "targets": "binary", "reduction": "mean_all",
                     "hidden": "tanh", "output": "sigmoid"},
    # a book's per-sample column code with lambda/2 on the weights only, for L2 and L1 alike
    "book_l2_l1_half": {"preset": "nielsen", "l2": L2, "l1": L1, "penalty_form": "half"},
}

# the same code declared differently: each must fail
MISDECLARED = {
    "cs231n_two_layer": {"preset": "cs231n", "l2": REG, "penalty_form": "full"},
    "cs231n_two_layer_2017": {"preset": "cs231n", "l2": REG},
    "deeplearning_ai_l_model": {"preset": "deeplearning.ai", "l2": LAMBD, "penalty_form": "half"},
    "onehot_softmax": {"preset": "torch", "loss": "softmax_ce", "targets": "onehot", "reduction": "sum",
                       "hidden": "tanh", "output": "identity"},
    "mse_mean_all": {"preset": "torch", "loss": "sse", "reduction": "mean", "hidden": "tanh", "output": "identity"},
    "bce_mean_all": {"preset": "torch", "loss": "bce", "targets": "binary", "reduction": "mean",
                     "hidden": "tanh", "output": "sigmoid"},
    "book_l2_l1_half": {"preset": "nielsen", "l2": L2, "l1": L1, "penalty_form": "half", "penalty_bias": True},
}


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---- CS231n: rows, W (D, H), b (H,), integer labels ---------------------------------------------

def _cs231n(params, X, y, reg, reg_grad):
    """affine - relu - ... - affine - softmax, labels y (N,); the penalty's gradient is reg_grad(W)."""
    k = sum(1 for key in params if key.startswith("W"))
    N = X.shape[0]
    hidden, caches = X, []
    for layer in range(1, k + 1):
        W, b = params[f"W{layer}"], params[f"b{layer}"]
        out = hidden.reshape(N, -1).dot(W) + b
        caches.append((hidden, out))
        hidden = np.maximum(0, out) if layer < k else out
    scores = hidden
    shifted = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {}
    dout = dscores
    for layer in range(k, 0, -1):
        x, out = caches[layer - 1]
        if layer < k:
            dout = dout * (out > 0)
        grads[f"W{layer}"] = x.T.dot(dout) + reg_grad(params[f"W{layer}"])
        grads[f"b{layer}"] = dout.sum(axis=0)
        dout = dout.dot(params[f"W{layer}"].T)
    return grads


def cs231n_two_layer(params, X, y):
    """loss += 0.5 * reg * (sum(W1*W1) + sum(W2*W2)); grads['W'] += reg * W."""
    return _cs231n(params, X, y, REG, lambda W: REG * W)


def cs231n_two_layer_2017(params, X, y):
    """loss += reg * (sum(W1*W1) + sum(W2*W2)); grads['W'] += 2 * reg * W."""
    return _cs231n(params, X, y, REG, lambda W: 2 * REG * W)


def cs231n_fully_connected(params, X, y):
    return _cs231n(params, X, y, REG, lambda W: REG * W)


# ---- deeplearning.ai: columns, W (n_l, n_{l-1}), b (n_l, 1), 0/1 labels Y (1, m) ----------------

def deeplearning_ai_l_model(parameters, X, Y):
    """L_model_forward / L_model_backward with backward_propagation_with_regularization's
    lambd / m * W; grads holds dA{l} (with respect to A^l, A^0 = X), dW{l}, db{l}."""
    L = len(parameters) // 2
    m = X.shape[1]
    caches, A = [], X
    for layer in range(1, L + 1):
        W, b = parameters["W" + str(layer)], parameters["b" + str(layer)]
        Z = np.dot(W, A) + b
        caches.append(((A, W, b), Z))
        A = sigmoid(Z) if layer == L else np.maximum(0, Z)
    AL = A
    grads = {}
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    dA = dAL
    for layer in reversed(range(1, L + 1)):
        (A_prev, W, b), Z = caches[layer - 1]
        if layer == L:
            s = sigmoid(Z)
            dZ = dA * s * (1 - s)
        else:
            dZ = np.array(dA, copy=True)
            dZ[Z <= 0] = 0
        grads["dW" + str(layer)] = 1.0 / m * np.dot(dZ, A_prev.T) + LAMBD / m * W
        grads["db" + str(layer)] = 1.0 / m * np.sum(dZ, axis=1, keepdims=True)
        dA = np.dot(W.T, dZ)
        grads["dA" + str(layer - 1)] = dA
    return grads


def deeplearning_ai_dA_off_by_one(parameters, X, Y):
    """Right dW, db; dA_prev of layer l stored under dA{l} + 1 (the gradient of A^{l-1} named A^l)."""
    grads = deeplearning_ai_l_model(parameters, X, Y)
    L = len(parameters) // 2
    moved = {f"dA{l + 1}": grads.pop(f"dA{l}") for l in range(L - 1, -1, -1)}
    grads.update(moved)
    return grads


def deeplearning_ai_with_cost(parameters, X, Y):
    """Right gradients plus an entry that is no gradient at all (ignored with a note)."""
    grads = deeplearning_ai_l_model(parameters, X, Y)
    grads["cost"] = np.array(0.25)
    return grads


# ---- torch layout: rows, W (n_out, n_in) used as X @ W.T + b ------------------------------------

def _torch_forward(params, X, output):
    A, cache = X, []
    for i, (W, b) in enumerate(params):
        Z = A @ W.T + b
        cache.append((A, Z))
        A = np.tanh(Z) if i < len(params) - 1 else output(Z)
    return A, cache


def _torch_backward(params, cache, dZ):
    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        A_prev, Z = cache[i]
        if i < len(params) - 1:
            dZ = dZ * (1 - np.tanh(Z) ** 2)
        grads[i] = (dZ.T @ A_prev, dZ.sum(axis=0))
        dZ = dZ @ params[i][0]
    return grads


def onehot_softmax(params, X, Y):
    """F.cross_entropy(scores, Y.argmax(1)) averaged: (softmax - Y) / m, Y one-hot rows (m, C)."""
    scores, cache = _torch_forward(params, X, lambda Z: Z)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    return _torch_backward(params, cache, (probs - Y) / X.shape[0])


def mse_mean_all(params, X, Y):
    """nn.MSELoss(): mean((y_hat - y)^2) over all m * n_out entries; gradient 2 (y_hat - y) / (m n_out)."""
    out, cache = _torch_forward(params, X, lambda Z: Z)
    return _torch_backward(params, cache, 2 * (out - Y) / Y.size)


def bce_mean_all(params, X, Y):
    """nn.BCELoss() on sigmoid outputs: the mean over all entries; dL/dZ = (a - y) / (m n_out)."""
    out, cache = _torch_forward(params, X, sigmoid)
    return _torch_backward(params, cache, (out - Y) / Y.size)


# ---- a book's per-sample code: one (n, 1) column, sigmoid, 1/2 squared error ---------------------

def _book(params, x, y, l1_factor):
    activations, zs = [x], []
    for W, b in params:
        zs.append(W @ activations[-1] + b)
        activations.append(sigmoid(zs[-1]))
    delta = (activations[-1] - y) * sigmoid(zs[-1]) * (1 - sigmoid(zs[-1]))
    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        W, b = params[i]
        # C = C0 + lambda_2 / 2 sum w^2 + lambda_1 / 2 sum |w| over the weights; biases not regularised
        grads[i] = (delta @ activations[i].T + L2 * W + l1_factor * L1 * np.sign(W), delta)
        if i > 0:
            s = sigmoid(zs[i - 1])
            delta = (W.T @ delta) * s * (1 - s)
    return grads


def book_l2_l1_half(params, x, y):
    return _book(params, x, y, 0.5)


def book_l1_twice(params, x, y):
    """The L1 term's gradient written as lambda_1 sign(w): twice the declared lambda_1 / 2 sum |w|."""
    return _book(params, x, y, 1.0)
