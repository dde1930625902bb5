"""A row-layout binary classifier: Z = X W + b, tanh hidden layer, sigmoid output with binary
cross-entropy averaged over the samples.

rows/in_out/row/dict: X (m, n), W1 (n, h), b1 (1, h), W2 (h, k), b2 (1, k), Y (m, k) 0/1.
"""
import numpy as np


def _forward(params, X):
    Z1 = X @ params["W1"] + params["b1"]
    A1 = np.tanh(Z1)
    Z2 = A1 @ params["W2"] + params["b2"]
    A2 = 1 / (1 + np.exp(-Z2))
    return Z1, A1, A2


def backprop(params, X, Y):
    """Correct."""
    m = X.shape[0]
    Z1, A1, A2 = _forward(params, X)
    dZ2 = (A2 - Y) / m
    dW2 = A1.T @ dZ2
    db2 = np.sum(dZ2, axis=0, keepdims=True)
    dZ1 = (dZ2 @ params["W2"].T) * (1 - A1 ** 2)
    return {"W1": X.T @ dZ1, "b1": np.sum(dZ1, axis=0, keepdims=True), "W2": dW2, "b2": db2}


def tanh_derivative_sech(params, X, Y):
    m = X.shape[0]
    Z1, A1, A2 = _forward(params, X)
    dZ2 = (A2 - Y) / m
    dW2 = A1.T @ dZ2
    db2 = np.sum(dZ2, axis=0, keepdims=True)
    dZ1 = (dZ2 @ params["W2"].T) * (1 / np.cosh(Z1))
    return {"W1": X.T @ dZ1, "b1": np.sum(dZ1, axis=0, keepdims=True), "W2": dW2, "b2": db2}


def output_bias_missing_m(params, X, Y):
    m = X.shape[0]
    Z1, A1, A2 = _forward(params, X)
    dZ2 = A2 - Y
    dW2 = A1.T @ dZ2 / m
    db2 = np.sum(dZ2, axis=0, keepdims=True)
    dZ1 = (dZ2 @ params["W2"].T) * (1 - A1 ** 2) / m
    return {"W1": X.T @ dZ1, "b1": np.sum(dZ1, axis=0, keepdims=True), "W2": dW2, "b2": db2}
