"""Object-oriented students: Dense and activation layers that cache their inputs, rows are samples,
``W{l}: (n_in, n_out)``, ``b{l}: (1, n_out)``, a dict of parameters, tanh hidden layers, a sigmoid
output and binary cross-entropy averaged over the batch (``--preset seed003``)."""

import numpy as np


class Dense:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, grad):
        self.dW = self.x.T @ grad
        self.db = grad.sum(axis=0, keepdims=True)
        return grad @ self.W.T


class Tanh:
    def forward(self, z):
        self.z = z
        return np.tanh(z)

    def backward(self, grad):
        return grad * (1 - np.tanh(self.z) ** 2)


class Sigmoid:
    def forward(self, z):
        self.out = 1 / (1 + np.exp(-z))
        return self.out

    def backward(self, grad):
        return grad * self.out * (1 - self.out)


def _build(params, hidden=Tanh):
    k = len(params) // 2
    layers = []
    for i in range(1, k + 1):
        layers.append(Dense(params[f"W{i}"], params[f"b{i}"]))
        layers.append(hidden() if i < k else Sigmoid())
    return layers


def _run(layers, X, Y, output_grad):
    out = X
    for layer in layers:
        out = layer.forward(out)
    grad = output_grad(out, Y)
    for layer in reversed(layers):
        grad = layer.backward(grad)
    grads = {}
    for i, layer in enumerate(layers[::2], start=1):
        grads[f"dW{i}"], grads[f"db{i}"] = layer.dW, layer.db
    return grads


def backward(params, X, Y):
    """Correct: the output layer's gradient skips Sigmoid.backward (sigmoid and BCE together give y_hat - y)."""
    layers = _build(params)
    out = X
    for layer in layers:
        out = layer.forward(out)
    grad = (out - Y) / X.shape[0]
    for layer in reversed(layers[:-1]):
        grad = layer.backward(grad)
    return {f"dW{i}": d.dW for i, d in enumerate(layers[::2], start=1)} | \
        {f"db{i}": d.db for i, d in enumerate(layers[::2], start=1)}


def bce_through_sigmoid_twice(params, X, Y):
    """Feeds (y_hat - y)/m, the combined sigmoid + BCE gradient, through Sigmoid.backward as well."""
    return _run(_build(params), X, Y, lambda out, Y: (out - Y) / Y.shape[0])


class SigmoidDerivativeTanh(Tanh):
    def backward(self, grad):  # copied from Sigmoid: s (1 - s), with s = tanh(z)
        s = np.tanh(self.z)
        return grad * s * (1 - s)


def tanh_backward_copied_from_sigmoid(params, X, Y):
    """Tanh.backward copied from Sigmoid.backward: s (1 - s) with s = tanh(z)."""
    layers = _build(params, hidden=SigmoidDerivativeTanh)
    out = X
    for layer in layers:
        out = layer.forward(out)
    grad = (out - Y) / X.shape[0]
    for layer in reversed(layers[:-1]):
        grad = layer.backward(grad)
    return {f"dW{i}": d.dW for i, d in enumerate(layers[::2], start=1)} | \
        {f"db{i}": d.db for i, d in enumerate(layers[::2], start=1)}


def steps_inside_backward(params, X, Y, lr=0.1):
    """Returns the gradients, but also applies the SGD step to the caller's arrays in place."""
    grads = backward(params, X, Y)
    for i in range(1, len(params) // 2 + 1):
        params[f"W{i}"] -= lr * grads[f"dW{i}"]
        params[f"b{i}"] -= lr * grads[f"db{i}"]
    return grads


class MeanBiasDense(Dense):
    def backward(self, grad):
        self.dW = self.x.T @ grad
        self.db = grad.mean(axis=0, keepdims=True)  # "average over the batch"
        return grad @ self.W.T


def bias_averaged_again(params, X, Y):
    """db = grad.mean(axis=0) although grad already carries the 1/m."""
    k = len(params) // 2
    layers = []
    for i in range(1, k + 1):
        layers.append(MeanBiasDense(params[f"W{i}"], params[f"b{i}"]))
        layers.append(Tanh() if i < k else Sigmoid())
    out = X
    for layer in layers:
        out = layer.forward(out)
    grad = (out - Y) / X.shape[0]
    for layer in reversed(layers[:-1]):
        grad = layer.backward(grad)
    return {f"dW{i}": d.dW for i, d in enumerate(layers[::2], start=1)} | \
        {f"db{i}": d.db for i, d in enumerate(layers[::2], start=1)}
