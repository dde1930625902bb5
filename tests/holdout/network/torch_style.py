"""A hand-written backward for a stack of ``nn.Linear`` layers, in torch's layout.

rows/out_in/vector/pairs: X (m, n_in), params [(weight (out, in), bias (out,)), ...],
forward ``x @ weight.T + bias``; returns [(dweight, dbias), ...].
"""
import numpy as np


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _forward_tanh(params, X):
    acts = [X]
    for i, (W, b) in enumerate(params):
        z = acts[-1] @ W.T + b
        acts.append(np.tanh(z) if i < len(params) - 1 else z)
    return acts


def backprop(params, X, y):
    """Correct: tanh hidden layers, cross-entropy on logits with integer labels, mean."""
    acts = _forward_tanh(params, X)
    m = X.shape[0]
    delta = _softmax(acts[-1])
    delta[np.arange(m), y] -= 1
    delta /= m
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        W, b = params[i]
        grads[i] = (delta.T @ acts[i], delta.sum(axis=0))
        if i > 0:
            delta = (delta @ W) * (1 - acts[i] ** 2)
    return grads


def weight_grad_transposed(params, X, y):
    acts = _forward_tanh(params, X)
    m = X.shape[0]
    delta = _softmax(acts[-1])
    delta[np.arange(m), y] -= 1
    delta /= m
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        W, b = params[i]
        grads[i] = (acts[i].T @ delta, delta.sum(axis=0))
        if i > 0:
            delta = (delta @ W) * (1 - acts[i] ** 2)
    return grads


def bias_grad_mean(params, X, y):
    acts = _forward_tanh(params, X)
    m = X.shape[0]
    delta = _softmax(acts[-1])
    delta[np.arange(m), y] -= 1
    delta /= m
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        W, b = params[i]
        grads[i] = (delta.T @ acts[i], delta.mean(axis=0))
        if i > 0:
            delta = (delta @ W) * (1 - acts[i] ** 2)
    return grads


def _forward_sigmoid(params, X):
    acts = [X]
    for i, (W, b) in enumerate(params):
        z = acts[-1] @ W.T + b
        acts.append(1 / (1 + np.exp(-z)) if i < len(params) - 1 else z)
    return acts


def mse_backprop(params, X, Y):
    """Correct: sigmoid hidden layers, 0.5 * nn.MSELoss() (mean over every element)."""
    acts = _forward_sigmoid(params, X)
    delta = (acts[-1] - Y) / Y.size
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        W, b = params[i]
        grads[i] = (delta.T @ acts[i], delta.sum(axis=0))
        if i > 0:
            delta = (delta @ W) * acts[i] * (1 - acts[i])
    return grads


def mse_divides_by_batch_only(params, X, Y):
    acts = _forward_sigmoid(params, X)
    m = X.shape[0]
    delta = (acts[-1] - Y) / m
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        W, b = params[i]
        grads[i] = (delta.T @ acts[i], delta.sum(axis=0))
        if i > 0:
            delta = (delta @ W) * acts[i] * (1 - acts[i])
    return grads
