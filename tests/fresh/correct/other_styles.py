"""Correct implementations in other conventions (nnfs objects, torch-layout rows, einsum, per-sample
loops, no bias, layer objects); each agrees with torch.autograd in float64 (tests/fresh/verify.py).
The flags each is declared with are in tests/fresh/__init__.py."""

import numpy as np


# ---- nnfs: rows / in_out / row (1, n) biases / pairs, relu, softmax + categorical CE, labels, mean --
class Layer_Dense:
    def __init__(self, weights, biases):
        self.weights, self.biases = weights, biases

    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases

    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        self.dinputs = np.dot(dvalues, self.weights.T)


class Activation_ReLU:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


class Activation_Softmax_Loss_CategoricalCrossentropy:
    def forward(self, inputs):
        exp_values = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exp_values / np.sum(exp_values, axis=1, keepdims=True)

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        if len(y_true.shape) == 2:
            y_true = np.argmax(y_true, axis=1)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        self.dinputs = self.dinputs / samples


def nnfs_network(params, X, y):
    """Dense -> ReLU -> ... -> Dense -> softmax/CCE, the nnfs book's objects."""
    layers = []
    for i, (W, b) in enumerate(params):
        layers.append(Layer_Dense(W, b))
        if i < len(params) - 1:
            layers.append(Activation_ReLU())
    out = X
    for layer in layers:
        layer.forward(out)
        out = layer.output
    head = Activation_Softmax_Loss_CategoricalCrossentropy()
    head.forward(out)
    head.backward(head.output, y)
    d = head.dinputs
    for layer in reversed(layers):
        layer.backward(d)
        d = layer.dinputs
    return [(layer.dweights, layer.dbiases) for layer in layers if isinstance(layer, Layer_Dense)]


# ---- torch layout rows: rows / out_in / vector / pairs ------------------------------------------
def torch_layout_tanh(params, X, Y):
    """tanh hidden, identity output, 1/2 squared error averaged over the batch."""
    As, Zs = [X], []
    for i, (W, b) in enumerate(params):
        Z = As[-1] @ W.T + b
        Zs.append(Z)
        As.append(Z if i == len(params) - 1 else np.tanh(Z))
    dZ = (As[-1] - Y) / X.shape[0]
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (dZ.T @ As[i], dZ.sum(0))
        if i:
            dZ = dZ @ params[i][0] * (1 - As[i] ** 2)
    return grads


def torch_mse_default(params, X, Y):
    """nn.MSELoss() (mean over every entry), sigmoid hidden, identity output."""
    As = [X]
    for i, (W, b) in enumerate(params):
        Z = As[-1] @ W.T + b
        As.append(Z if i == len(params) - 1 else 1 / (1 + np.exp(-Z)))
    dZ = 2 * (As[-1] - Y) / Y.size
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (dZ.T @ As[i], dZ.sum(0))
        if i:
            dZ = dZ @ params[i][0] * As[i] * (1 - As[i])
    return grads


def einsum_leaky_sse(params, X, Y):
    """einsum, leaky relu (0.01) hidden, identity output, squared error (no 1/2) summed."""
    As, Zs = [X], []
    for i, (W, b) in enumerate(params):
        Z = np.einsum("oi,mi->mo", W, As[-1]) + b
        Zs.append(Z)
        As.append(Z if i == len(params) - 1 else np.where(Z > 0, Z, 0.01 * Z))
    delta = 2 * (As[-1] - Y)
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        grads[i] = (np.einsum("mo,mi->oi", delta, As[i]), np.einsum("mo->o", delta))
        if i:
            delta = np.einsum("mo,oi->mi", delta, params[i][0]) * np.where(Zs[i - 1] > 0, 1.0, 0.01)
    return grads


# ---- columns, per-sample loop: columns / in_out / vector / pairs, elu, half_sse, sum -----------------
def loop_elu(params, X, Y):
    """One sample at a time, W stored (n_in, n_out), gradients accumulated over the batch."""
    grads = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    for j in range(X.shape[1]):
        a, As, Zs = X[:, j], [X[:, j]], []
        for k, (W, b) in enumerate(params):
            z = W.T @ a + b
            Zs.append(z)
            a = z if k == len(params) - 1 else np.where(z > 0, z, np.exp(z) - 1)
            As.append(a)
        delta = a - Y[:, j]
        for k in reversed(range(len(params))):
            gW, gb = grads[k]
            grads[k] = (gW + np.outer(As[k], delta), gb + delta)
            if k:
                z = Zs[k - 1]
                delta = (params[k][0] @ delta) * np.where(z > 0, 1.0, np.exp(z))
    return grads


# ---- no bias: rows / in_out / none / pairs (a list of weights), tanh, half_sse, mean --------------
def no_bias_rows(weights, X, Y):
    As = [X]
    for i, W in enumerate(weights):
        Z = As[-1] @ W
        As.append(Z if i == len(weights) - 1 else np.tanh(Z))
    dZ = (As[-1] - Y) / len(X)
    grads = [None] * len(weights)
    for i in reversed(range(len(weights))):
        grads[i] = As[i].T @ dZ
        if i:
            dZ = (dZ @ weights[i].T) * (1 - As[i] ** 2)
    return grads


# ---- softplus, columns / out_in / vector / pairs, half_sse, sum -----------------------------------
def softplus_columns(params, X, Y):
    As, Zs = [X], []
    for i, (W, b) in enumerate(params):
        Z = W @ As[-1] + b[:, None]
        Zs.append(Z)
        As.append(Z if i == len(params) - 1 else np.logaddexp(0, Z))
    delta = As[-1] - Y
    grads = []
    for i in reversed(range(len(params))):
        grads.insert(0, (delta @ As[i].T, delta.sum(axis=1)))
        if i:
            delta = (params[i][0].T @ delta) / (1 + np.exp(-Zs[i - 1]))
    return grads


# ---- layer objects: rows / in_out / vector / dict, sigmoid hidden, sigmoid output, bce binary, mean -
class Dense:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, g):
        self.dW, self.db = self.x.T @ g, g.sum(axis=0)
        return g @ self.W.T


class Sigmoid:
    def forward(self, z):
        self.out = 1 / (1 + np.exp(-z))
        return self.out

    def backward(self, g):
        return g * self.out * (1 - self.out)


def oo_sigmoid_bce(params, X, Y):
    """A Sequential of Dense and Sigmoid objects; BCE's gradient through the last sigmoid."""
    k = len(params) // 2
    dense = [Dense(params[f"W{i}"], params[f"b{i}"]) for i in range(1, k + 1)]
    acts = [Sigmoid() for _ in range(k)]
    h = X
    for d, a in zip(dense, acts):
        h = a.forward(d.forward(h))
    g = (h - Y) / (h * (1 - h)) / len(X)
    for d, a in zip(reversed(dense), reversed(acts)):
        g = d.backward(a.backward(g))
    out = {}
    for i, d in enumerate(dense, start=1):
        out[f"dW{i}"], out[f"db{i}"] = d.dW, d.db
    return out
