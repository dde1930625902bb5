"""CS231n assignment 1 ``TwoLayerNet.loss(X, y, reg)`` ported to ``fn(params, X, y)``.

rows/in_out/vector/dict: X (N, D), W1 (D, H), b1 (H,), W2 (H, C), b2 (C,), y (N,) integer labels.
relu hidden, softmax cross-entropy averaged over N, ``0.5 * reg * sum(W*W)`` on both weights.
"""
import numpy as np

REG = 0.05


def _forward(params, X):
    W1, b1 = params["W1"], params["b1"]
    W2, b2 = params["W2"], params["b2"]
    hidden = np.maximum(0, X.dot(W1) + b1)
    scores = hidden.dot(W2) + b2
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(shifted)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    return hidden, probs


def loss_grads(params, X, y):
    """Correct."""
    W1, W2 = params["W1"], params["W2"]
    N = X.shape[0]
    hidden, probs = _forward(params, X)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {}
    grads["W2"] = hidden.T.dot(dscores) + REG * W2
    grads["b2"] = np.sum(dscores, axis=0)
    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0
    grads["W1"] = X.T.dot(dhidden) + REG * W1
    grads["b1"] = np.sum(dhidden, axis=0)
    return grads


def reg_twice(params, X, y):
    W1, W2 = params["W1"], params["W2"]
    N = X.shape[0]
    hidden, probs = _forward(params, X)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {}
    # d/dW of 0.5*reg*W^2 ... written as d/dW of reg*W^2
    grads["W2"] = hidden.T.dot(dscores) + 2 * REG * W2
    grads["b2"] = np.sum(dscores, axis=0)
    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0
    grads["W1"] = X.T.dot(dhidden) + 2 * REG * W1
    grads["b1"] = np.sum(dhidden, axis=0)
    return grads


def reg_on_bias(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = X.shape[0]
    hidden, probs = _forward(params, X)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {}
    grads["W2"] = hidden.T.dot(dscores) + REG * W2
    grads["b2"] = np.sum(dscores, axis=0) + REG * b2
    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0
    grads["W1"] = X.T.dot(dhidden) + REG * W1
    grads["b1"] = np.sum(dhidden, axis=0) + REG * b1
    return grads


def dW2_before_divide(params, X, y):
    W1, W2 = params["W1"], params["W2"]
    N = X.shape[0]
    hidden, probs = _forward(params, X)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    grads = {}
    grads["W2"] = hidden.T.dot(dscores) + REG * W2
    grads["b2"] = np.sum(dscores, axis=0)
    dscores /= N
    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0
    grads["W1"] = X.T.dot(dhidden) + REG * W1
    grads["b1"] = np.sum(dhidden, axis=0)
    return grads


def divides_dW2_twice(params, X, y):
    W1, W2 = params["W1"], params["W2"]
    N = X.shape[0]
    hidden, probs = _forward(params, X)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {}
    grads["W2"] = hidden.T.dot(dscores) / N + REG * W2
    grads["b2"] = np.sum(dscores, axis=0)
    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0
    grads["W1"] = X.T.dot(dhidden) + REG * W1
    grads["b1"] = np.sum(dhidden, axis=0)
    return grads


def centers_X_in_place(params, X, y):
    W1, W2 = params["W1"], params["W2"]
    N = X.shape[0]
    X -= np.mean(X, axis=0)  # zero-centre the data, as the assignment's preprocessing does
    hidden, probs = _forward(params, X)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {}
    grads["W2"] = hidden.T.dot(dscores) + REG * W2
    grads["b2"] = np.sum(dscores, axis=0)
    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0
    grads["W1"] = X.T.dot(dhidden) + REG * W1
    grads["b1"] = np.sum(dhidden, axis=0)
    return grads


def reg_full_form_half_grad(params, X, y):
    """The 2017-19 neural_net.py writes loss += reg * np.sum(W1 * W1) (no 0.5)."""
    W1, W2 = params["W1"], params["W2"]
    N = X.shape[0]
    hidden, probs = _forward(params, X)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {}
    grads["W2"] = hidden.T.dot(dscores) + REG * W2
    grads["b2"] = np.sum(dscores, axis=0)
    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0
    grads["W1"] = X.T.dot(dhidden) + REG * W1
    grads["b1"] = np.sum(dhidden, axis=0)
    return grads
