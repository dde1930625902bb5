"""A d2l-style from-scratch MLP (relu, softmax cross-entropy, weight decay) with a NumPy backward.

rows/in_out/vector/pairs at any depth: params [(W (n_in, n_out), b (n_out,)), ...], y labels;
loss = mean cross-entropy + lambd * l2_penalty(W) for every W, l2_penalty(w) = sum(w**2) / 2.
"""
import numpy as np

lambd = 0.01


def relu(X):
    return np.maximum(X, 0)


def softmax(X):
    X_exp = np.exp(X - X.max(axis=1, keepdims=True))
    partition = X_exp.sum(axis=1, keepdims=True)
    return X_exp / partition


def net(params, X):
    H = X
    hs = [X]
    for i, (W, b) in enumerate(params):
        O = H @ W + b
        H = relu(O) if i < len(params) - 1 else O
        hs.append(H)
    return hs


def backprop(params, X, y):
    """Correct."""
    hs = net(params, X)
    m = X.shape[0]
    dO = softmax(hs[-1])
    dO[np.arange(m), y] -= 1
    dO /= m
    grads = []
    for i in reversed(range(len(params))):
        W, b = params[i]
        grads.insert(0, (hs[i].T @ dO + lambd * W, dO.sum(axis=0)))
        dO = (dO @ W.T) * (hs[i] > 0)
    return grads


def weight_decay_over_batch(params, X, y):
    hs = net(params, X)
    m = X.shape[0]
    dO = softmax(hs[-1])
    dO[np.arange(m), y] -= 1
    dO /= m
    grads = []
    for i in reversed(range(len(params))):
        W, b = params[i]
        grads.insert(0, (hs[i].T @ dO + lambd * W / m, dO.sum(axis=0)))
        dO = (dO @ W.T) * (hs[i] > 0)
    return grads
