"""Layer classes for ``--api module`` tests: wrong nnfs layers (one mistake each, as students write
them) and a framework whose gradient attributes have other names (``--grads``)."""

import numpy as np


class Layer_Dense:
    """dbiases = dvalues: not summed over the samples."""

    def __init__(self, n_inputs, n_neurons):
        self.weights = 0.01 * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases

    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = dvalues
        self.dinputs = np.dot(dvalues, self.weights.T)


class Activation_ReLU:
    """dinputs = dvalues: the mask forgotten."""

    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()


class Activation_Sigmoid:
    """sigmoid' computed with the input in place of the output."""

    def forward(self, inputs):
        self.inputs = inputs
        self.output = 1 / (1 + np.exp(-inputs))

    def backward(self, dvalues):
        self.dinputs = dvalues * (1 - self.inputs) * self.inputs


class Linear:
    """torch's layout: weight (out, in); gradients in wgrad and bgrad (names crosscheck does not guess)."""

    def __init__(self, in_features, out_features):
        self.weight = np.random.randn(out_features, in_features)
        self.bias = np.zeros(out_features)

    def forward(self, x):
        self.x = x
        return x @ self.weight.T + self.bias

    def backward(self, dout):
        self.wgrad = dout.T @ self.x
        self.bgrad = dout.sum(axis=0)
        return dout @ self.weight
