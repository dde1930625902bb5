"""Karpathy's CS231n "neural network case study" two-layer classifier, with a tanh hidden layer.

rows/in_out/row/dict: W1 (D, h), b1 (1, h), W2 (h, K), b2 (1, K), y (N,) labels;
softmax cross-entropy averaged over the examples plus 0.5 * reg * sum(W*W).
"""
import numpy as np

reg = 1e-3


def backprop(params, X, y):
    """Correct."""
    W, b, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    num_examples = X.shape[0]
    hidden_layer = np.tanh(np.dot(X, W) + b)
    scores = np.dot(hidden_layer, W2) + b2
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    dscores = probs
    dscores[range(num_examples), y] -= 1
    dscores /= num_examples
    dW2 = np.dot(hidden_layer.T, dscores)
    db2 = np.sum(dscores, axis=0, keepdims=True)
    dhidden = np.dot(dscores, W2.T)
    dhidden *= 1 - hidden_layer ** 2
    dW = np.dot(X.T, dhidden)
    db = np.sum(dhidden, axis=0, keepdims=True)
    dW2 += reg * W2
    dW += reg * W
    return {"W1": dW, "b1": db, "W2": dW2, "b2": db2}


def tanh_applied_twice(params, X, y):
    W, b, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    num_examples = X.shape[0]
    hidden_layer = np.tanh(np.dot(X, W) + b)
    scores = np.dot(hidden_layer, W2) + b2
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    dscores = probs
    dscores[range(num_examples), y] -= 1
    dscores /= num_examples
    dW2 = np.dot(hidden_layer.T, dscores)
    db2 = np.sum(dscores, axis=0, keepdims=True)
    dhidden = np.dot(dscores, W2.T)
    dhidden *= 1 - np.tanh(hidden_layer) ** 2
    dW = np.dot(X.T, dhidden)
    db = np.sum(dhidden, axis=0, keepdims=True)
    dW2 += reg * W2
    dW += reg * W
    return {"W1": dW, "b1": db, "W2": dW2, "b2": db2}
