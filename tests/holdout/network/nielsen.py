"""Nielsen's ``network.py`` ``Network.backprop(x, y)`` (chapter 1-2) as ``fn(params, x, y)``.

single/out_in/column/pairs: x (n_0, 1), y (n_L, 1), params [(w, b), ...] with w (n_l, n_{l-1}),
b (n_l, 1); sigmoid everywhere, quadratic cost 0.5 * ||a - y||^2 for the one sample.
Returns [(nabla_w, nabla_b), ...].
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def cost_derivative(output_activations, y):
    return output_activations - y


def _feedforward(weights, biases, x):
    activation = x
    activations = [x]
    zs = []
    for b, w in zip(biases, weights):
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    return activations, zs


def backprop(params, x, y):
    """Correct."""
    weights = [w for w, _ in params]
    biases = [b for _, b in params]
    num_layers = len(weights) + 1
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    activations, zs = _feedforward(weights, biases, x)
    delta = cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    for l in range(2, num_layers):
        z = zs[-l]
        sp = sigmoid_prime(z)
        delta = np.dot(weights[-l + 1].transpose(), delta) * sp
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
    return list(zip(nabla_w, nabla_b))


def sigmoid_prime_of_activation(params, x, y):
    weights = [w for w, _ in params]
    biases = [b for _, b in params]
    num_layers = len(weights) + 1
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    activations, zs = _feedforward(weights, biases, x)
    delta = cost_derivative(activations[-1], y) * sigmoid_prime(activations[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    for l in range(2, num_layers):
        z = zs[-l]
        sp = sigmoid_prime(z)
        delta = np.dot(weights[-l + 1].transpose(), delta) * sp
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
    return list(zip(nabla_w, nabla_b))


def own_activation_in_loop(params, x, y):
    weights = [w for w, _ in params]
    biases = [b for _, b in params]
    num_layers = len(weights) + 1
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    activations, zs = _feedforward(weights, biases, x)
    delta = cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    for l in range(2, num_layers):
        z = zs[-l]
        sp = sigmoid_prime(z)
        delta = np.dot(weights[-l + 1].transpose(), delta) * sp
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l].transpose())
    return list(zip(nabla_w, nabla_b))


def loop_stops_early(params, x, y):
    weights = [w for w, _ in params]
    biases = [b for _, b in params]
    num_layers = len(weights) + 1
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    activations, zs = _feedforward(weights, biases, x)
    delta = cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    for l in range(2, num_layers - 1):
        z = zs[-l]
        sp = sigmoid_prime(z)
        delta = np.dot(weights[-l + 1].transpose(), delta) * sp
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
    return list(zip(nabla_w, nabla_b))


def cross_entropy_delta_with_quadratic_cost(params, x, y):
    weights = [w for w, _ in params]
    biases = [b for _, b in params]
    num_layers = len(weights) + 1
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    activations, zs = _feedforward(weights, biases, x)
    delta = cost_derivative(activations[-1], y)  # network2.py's CrossEntropyCost.delta
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    for l in range(2, num_layers):
        z = zs[-l]
        sp = sigmoid_prime(z)
        delta = np.dot(weights[-l + 1].transpose(), delta) * sp
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
    return list(zip(nabla_w, nabla_b))
