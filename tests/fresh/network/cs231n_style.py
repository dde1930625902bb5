"""CS231n TwoLayerNet.loss style (rows are samples, ``W1: (D, H)``, ``b1: (H,)``, a dict of parameters,
relu hidden layer, softmax cross-entropy with integer labels ``y: (N,)`` averaged over N:
``--preset cs231n``). Each function has one mistake; its docstring says what and the diagnosis."""

import numpy as np


def _scores(params, X):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z1 = X.dot(W1) + b1
    h = np.maximum(0, z1)
    return z1, h, h.dot(W2) + b2


def _backward(params, X, z1, h, dscores):
    grads = {}
    grads["W2"] = h.T.dot(dscores)
    grads["b2"] = np.sum(dscores, axis=0)
    dh = dscores.dot(params["W2"].T)
    dh[z1 <= 0] = 0
    grads["W1"] = X.T.dot(dh)
    grads["b1"] = np.sum(dh, axis=0)
    return grads


def _probs(scores):
    exp_scores = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    return exp_scores / np.sum(exp_scores, axis=1, keepdims=True)


def loss(params, X, y):
    """Correct (the reference for the variants below)."""
    z1, h, scores = _scores(params, X)
    N = X.shape[0]
    dscores = _probs(scores)
    dscores[np.arange(N), y] -= 1
    return _backward(params, X, z1, h, dscores / N)


def probs_over_N(params, X, y):
    """Expected: output_gradient. dscores = probs / N: the one-hot subtraction is missing."""
    z1, h, scores = _scores(params, X)
    N = X.shape[0]
    dscores = _probs(scores) / N
    return _backward(params, X, z1, h, dscores)


def labels_broadcast(params, X, y):
    """Expected: output_gradient. dscores = probs - y[:, None]: the integer labels are broadcast against
    every class column instead of subtracting 1 at the label."""
    z1, h, scores = _scores(params, X)
    N = X.shape[0]
    dscores = (_probs(scores) - y.reshape(-1, 1)) / N
    return _backward(params, X, z1, h, dscores)


def softmax_over_samples(params, X, y):
    """Expected: output_gradient. The softmax normalises over axis 0 (the samples), not over the classes."""
    z1, h, scores = _scores(params, X)
    N = X.shape[0]
    exp_scores = np.exp(scores - np.max(scores, axis=0, keepdims=True))
    probs = exp_scores / np.sum(exp_scores, axis=0, keepdims=True)
    probs[np.arange(N), y] -= 1
    return _backward(params, X, z1, h, probs / N)


def max_wrong_axis(params, X, y):
    """Expected: output_gradient. The stabilising max is taken over axis 0 (per class, across samples),
    which changes each row's softmax."""
    z1, h, scores = _scores(params, X)
    N = X.shape[0]
    exp_scores = np.exp(scores - np.max(scores, axis=0, keepdims=True))
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    probs[np.arange(N), y] -= 1
    return _backward(params, X, z1, h, probs / N)


def log_probs_without_exp(params, X, y):
    """Expected: output_gradient. The gradient starts from the log-probabilities (log-softmax kept from
    the loss computation) instead of the probabilities."""
    z1, h, scores = _scores(params, X)
    N = X.shape[0]
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    dscores = log_probs.copy()
    dscores[np.arange(N), y] -= 1
    return _backward(params, X, z1, h, dscores / N)


def missing_arange(params, X, y):
    """Expected: output_gradient. dscores[y] -= 1 (without np.arange(N)): whole rows indexed by the labels
    get 1 subtracted, not the label entry of each row."""
    z1, h, scores = _scores(params, X)
    N = X.shape[0]
    dscores = _probs(scores)
    dscores[y] -= 1
    return _backward(params, X, z1, h, dscores / N)


def relu_on_scores(params, X, y):
    """Expected: activation. A relu is applied to the scores too (copied from the hidden layer), forward
    and backward: exactly the gradient of --output relu (declared identity)."""
    z1, h, z2 = _scores(params, X)
    scores = np.maximum(0, z2)
    N = X.shape[0]
    dscores = _probs(scores)
    dscores[np.arange(N), y] -= 1
    dscores /= N
    dscores[z2 <= 0] = 0
    return _backward(params, X, z1, h, dscores)


def dscores_masked(params, X, y):
    """Expected: activation_derivative. The relu mask of the scores (z2 <= 0) is applied to dscores
    though no relu is applied to the scores in the forward pass."""
    z1, h, scores = _scores(params, X)
    N = X.shape[0]
    dscores = _probs(scores)
    dscores[np.arange(N), y] -= 1
    dscores /= N
    dscores[scores <= 0] = 0
    return _backward(params, X, z1, h, dscores)


def softmax_jacobian_diagonal(params, X, y):
    """Expected: output_gradient. The loss and the softmax are backpropagated separately, with only the
    diagonal of the softmax Jacobian: dscores = dprobs * probs * (1 - probs)."""
    z1, h, scores = _scores(params, X)
    N = X.shape[0]
    probs = _probs(scores)
    dprobs = np.zeros_like(probs)
    dprobs[np.arange(N), y] = -1.0 / probs[np.arange(N), y]
    dscores = dprobs * probs * (1 - probs) / N
    return _backward(params, X, z1, h, dscores)
