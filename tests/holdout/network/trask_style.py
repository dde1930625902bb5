"""iamtrask's "A Neural Network in 11 lines of Python" (part 1, 3-layer), as a gradient function.

rows/in_out/none/dict: syn0 -> W1 (n_in, h), syn1 -> W2 (h, n_out), no biases, sigmoid both
layers, loss 0.5 * sum((y - l2)**2). The original adds l1.T.dot(l2_delta) to syn1 (the negative
gradient); the gradient is its negative.
"""
import numpy as np


def nonlin(x, deriv=False):
    if deriv:
        return x * (1 - x)
    return 1 / (1 + np.exp(-x))


def backprop(params, X, y):
    """Correct."""
    syn0, syn1 = params["W1"], params["W2"]
    l0 = X
    l1 = nonlin(np.dot(l0, syn0))
    l2 = nonlin(np.dot(l1, syn1))
    l2_error = y - l2
    l2_delta = l2_error * nonlin(l2, deriv=True)
    l1_error = l2_delta.dot(syn1.T)
    l1_delta = l1_error * nonlin(l1, deriv=True)
    return {"W1": -l0.T.dot(l1_delta), "W2": -l1.T.dot(l2_delta)}


def deriv_of_preactivation(params, X, y):
    syn0, syn1 = params["W1"], params["W2"]
    l0 = X
    z1 = np.dot(l0, syn0)
    l1 = nonlin(z1)
    l2 = nonlin(np.dot(l1, syn1))
    l2_error = y - l2
    l2_delta = l2_error * nonlin(l2, deriv=True)
    l1_error = l2_delta.dot(syn1.T)
    l1_delta = l1_error * nonlin(z1, deriv=True)
    return {"W1": -l0.T.dot(l1_delta), "W2": -l1.T.dot(l2_delta)}


def returns_the_update(params, X, y):
    syn0, syn1 = params["W1"], params["W2"]
    l0 = X
    l1 = nonlin(np.dot(l0, syn0))
    l2 = nonlin(np.dot(l1, syn1))
    l2_error = y - l2
    l2_delta = l2_error * nonlin(l2, deriv=True)
    l1_error = l2_delta.dot(syn1.T)
    l1_delta = l1_error * nonlin(l1, deriv=True)
    return {"W1": l0.T.dot(l1_delta), "W2": l1.T.dot(l2_delta)}
