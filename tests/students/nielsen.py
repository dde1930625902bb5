"""Students of Nielsen's network.py: one sample as an (n, 1) column, ``weights[l]: (n_l, n_{l-1})``,
``biases[l]: (n_l, 1)``, lists ``nabla_b``/``nabla_w``, sigmoid everywhere, 1/2 squared error
summed (``--preset nielsen``). ``params`` is a list of (w, b) pairs."""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def _feedforward(params, x):
    activation = x
    activations, zs = [x], []
    for w, b in params:
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    return activations, zs


def backprop(params, x, y):
    """Correct (network.py's backprop)."""
    nabla_b = [np.zeros(b.shape) for _, b in params]
    nabla_w = [np.zeros(w.shape) for w, _ in params]
    activations, zs = _feedforward(params, x)
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    for layer in range(2, len(params) + 1):
        z = zs[-layer]
        delta = np.dot(params[-layer + 1][0].transpose(), delta) * sigmoid_prime(z)
        nabla_b[-layer] = delta
        nabla_w[-layer] = np.dot(delta, activations[-layer - 1].transpose())
    return list(zip(nabla_w, nabla_b))


def outer_product_reversed(params, x, y):
    """nabla_w = a_prev delta^T: the outer product the wrong way round."""
    nabla = [None] * len(params)
    activations, zs = _feedforward(params, x)
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    nabla[-1] = (np.dot(activations[-2], delta.T), delta)
    for layer in range(2, len(params) + 1):
        delta = np.dot(params[-layer + 1][0].T, delta) * sigmoid_prime(zs[-layer])
        nabla[-layer] = (np.dot(activations[-layer - 1], delta.T), delta)
    return nabla


def cost_derivative_flipped(params, x, y):
    """cost_derivative returns (y - output_activations)."""
    nabla = [None] * len(params)
    activations, zs = _feedforward(params, x)
    delta = (y - activations[-1]) * sigmoid_prime(zs[-1])
    nabla[-1] = (np.dot(delta, activations[-2].T), delta)
    for layer in range(2, len(params) + 1):
        delta = np.dot(params[-layer + 1][0].T, delta) * sigmoid_prime(zs[-layer])
        nabla[-layer] = (np.dot(delta, activations[-layer - 1].T), delta)
    return nabla


def sigmoid_prime_is_sigmoid(params, x, y):
    """A sigmoid_prime that returns sigmoid(z)."""
    def my_sigmoid_prime(z):
        return sigmoid(z)
    nabla = [None] * len(params)
    activations, zs = _feedforward(params, x)
    delta = (activations[-1] - y) * my_sigmoid_prime(zs[-1])
    nabla[-1] = (np.dot(delta, activations[-2].T), delta)
    for layer in range(2, len(params) + 1):
        delta = np.dot(params[-layer + 1][0].T, delta) * my_sigmoid_prime(zs[-layer])
        nabla[-layer] = (np.dot(delta, activations[-layer - 1].T), delta)
    return nabla


def output_prime_forgotten(params, x, y):
    """The output delta is the cost derivative alone (the cross-entropy habit), though the cost is quadratic."""
    nabla = [None] * len(params)
    activations, zs = _feedforward(params, x)
    delta = activations[-1] - y
    nabla[-1] = (np.dot(delta, activations[-2].T), delta)
    for layer in range(2, len(params) + 1):
        delta = np.dot(params[-layer + 1][0].T, delta) * sigmoid_prime(zs[-layer])
        nabla[-layer] = (np.dot(delta, activations[-layer - 1].T), delta)
    return nabla


def collected_backwards(params, x, y):
    """Appends each layer's (nabla_w, nabla_b) while going backwards, and never reverses the list."""
    out = []
    activations, zs = _feedforward(params, x)
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    out.append((np.dot(delta, activations[-2].T), delta))
    for layer in range(2, len(params) + 1):
        delta = np.dot(params[-layer + 1][0].T, delta) * sigmoid_prime(zs[-layer])
        out.append((np.dot(delta, activations[-layer - 1].T), delta))
    return out


def single_precision(params, x, y):
    """Casts to float32 "to save memory"."""
    return [(w.astype(np.float32), b.astype(np.float32)) for w, b in backprop(params, x, y)]
