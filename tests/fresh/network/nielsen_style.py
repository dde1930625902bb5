"""Nielsen network.py style (one sample ``x: (n, 1)``, ``w: (n_l, n_{l-1})``, ``b: (n_l, 1)``, lists
nabla_b / nabla_w, sigmoid everywhere, 1/2 squared error summed: ``--preset nielsen``). Each function
has one mistake; its docstring says what and the diagnosis."""

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


def _backprop(params, x, y, delta_out, prime):
    nabla_b = [np.zeros(b.shape) for _, b in params]
    nabla_w = [np.zeros(w.shape) for w, _ in params]
    activations, zs = _feedforward(params, x)
    delta = delta_out(activations[-1], y, zs[-1], prime)
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    for layer in range(2, len(params) + 1):
        z = zs[-layer]
        delta = np.dot(params[-layer + 1][0].transpose(), delta) * prime(z)
        nabla_b[-layer] = delta
        nabla_w[-layer] = np.dot(delta, activations[-layer - 1].transpose())
    return nabla_b, nabla_w


def _quadratic(a, y, z, prime):
    return (a - y) * prime(z)


def backprop(params, x, y):
    """Correct (the base for the variants below)."""
    nabla_b, nabla_w = _backprop(params, x, y, _quadratic, sigmoid_prime)
    return list(zip(nabla_w, nabla_b))


def cross_entropy_delta(params, x, y):
    """Expected: loss. The output delta is network2.py's CrossEntropyCost.delta, a - y, while the
    network is declared with the quadratic cost: exactly the gradient of --loss bce."""
    nabla_b, nabla_w = _backprop(params, x, y, lambda a, y, z, p: a - y, sigmoid_prime)
    return list(zip(nabla_w, nabla_b))


def prime_one_plus(params, x, y):
    """Expected: activation_derivative. sigmoid_prime written s * (1 + s)."""
    prime = lambda z: sigmoid(z) * (1 + sigmoid(z))  # noqa: E731
    nabla_b, nabla_w = _backprop(params, x, y, _quadratic, prime)
    return list(zip(nabla_w, nabla_b))


def prime_mixed(params, x, y):
    """Expected: activation_derivative. sigmoid_prime written sigmoid(z) * (1 - z): the second factor
    uses z where it needs sigmoid(z)."""
    prime = lambda z: sigmoid(z) * (1 - z)  # noqa: E731
    nabla_b, nabla_w = _backprop(params, x, y, _quadratic, prime)
    return list(zip(nabla_w, nabla_b))


def prime_sigmoid_of_minus(params, x, y):
    """Expected: activation_derivative. sigmoid_prime written sigmoid(z) * (1 - sigmoid(-z)), which is
    sigmoid(z)^2 (1 - sigmoid(-z) is sigmoid(z), not 1 - sigmoid(z))."""
    prime = lambda z: sigmoid(z) * (1 - sigmoid(-z))  # noqa: E731
    nabla_b, nabla_w = _backprop(params, x, y, _quadratic, prime)
    return list(zip(nabla_w, nabla_b))


def zipped_b_first(params, x, y):
    """Expected: swapped. Returns zip(nabla_b, nabla_w), the order of network.py's return value,
    where the declared container is (dW, db) pairs."""
    nabla_b, nabla_w = _backprop(params, x, y, _quadratic, sigmoid_prime)
    return list(zip(nabla_b, nabla_w))
