"""Neural Networks from Scratch (nnfs) classes: Layer_Dense, Activation_ReLU and the combined
softmax / categorical cross-entropy, wired as ``fn(params, X, y)`` for two dense layers.

rows/in_out/row/pairs: weights (n_inputs, n_neurons), biases (1, n_neurons), y (samples,) labels.
"""
import numpy as np


class Layer_Dense:
    def __init__(self, weights, biases):
        self.weights = weights
        self.biases = biases

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
    def __init__(self, divide_by_samples=True):
        self.divide_by_samples = divide_by_samples

    def forward(self, inputs, y_true):
        exp_values = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exp_values / np.sum(exp_values, axis=1, keepdims=True)
        samples = len(self.output)
        clipped = np.clip(self.output, 1e-7, 1 - 1e-7)
        return np.mean(-np.log(clipped[range(samples), y_true]))

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        if len(y_true.shape) == 2:
            y_true = np.argmax(y_true, axis=1)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        if self.divide_by_samples:
            self.dinputs = self.dinputs / samples


def backprop(params, X, y):
    """Correct."""
    (W1, b1), (W2, b2) = params
    dense1, activation1 = Layer_Dense(W1, b1), Activation_ReLU()
    dense2 = Layer_Dense(W2, b2)
    loss_activation = Activation_Softmax_Loss_CategoricalCrossentropy()
    dense1.forward(X)
    activation1.forward(dense1.output)
    dense2.forward(activation1.output)
    loss_activation.forward(dense2.output, y)
    loss_activation.backward(loss_activation.output, y)
    dense2.backward(loss_activation.dinputs)
    activation1.backward(dense2.dinputs)
    dense1.backward(activation1.dinputs)
    return [(dense1.dweights, dense1.dbiases), (dense2.dweights, dense2.dbiases)]


def no_divide_by_samples(params, X, y):
    (W1, b1), (W2, b2) = params
    dense1, activation1 = Layer_Dense(W1, b1), Activation_ReLU()
    dense2 = Layer_Dense(W2, b2)
    loss_activation = Activation_Softmax_Loss_CategoricalCrossentropy(divide_by_samples=False)
    dense1.forward(X)
    activation1.forward(dense1.output)
    dense2.forward(activation1.output)
    loss_activation.forward(dense2.output, y)
    loss_activation.backward(loss_activation.output, y)
    dense2.backward(loss_activation.dinputs)
    activation1.backward(dense2.dinputs)
    dense1.backward(activation1.dinputs)
    return [(dense1.dweights, dense1.dbiases), (dense2.dweights, dense2.dbiases)]


def dense1_gets_dense2_dinputs(params, X, y):
    (W1, b1), (W2, b2) = params
    dense1, activation1 = Layer_Dense(W1, b1), Activation_ReLU()
    dense2 = Layer_Dense(W2, b2)
    loss_activation = Activation_Softmax_Loss_CategoricalCrossentropy()
    dense1.forward(X)
    activation1.forward(dense1.output)
    dense2.forward(activation1.output)
    loss_activation.forward(dense2.output, y)
    loss_activation.backward(loss_activation.output, y)
    dense2.backward(loss_activation.dinputs)
    activation1.backward(dense2.dinputs)
    dense1.backward(dense2.dinputs)
    return [(dense1.dweights, dense1.dbiases), (dense2.dweights, dense2.dbiases)]
