"""deeplearning.ai course 1 week 4, ``L_model_forward`` / ``L_model_backward``.

columns/out_in/column/dict: X (n_x, m), W{l} (n_l, n_{l-1}), b{l} (n_l, 1), Y (1 or n_L, m) 0/1.
[LINEAR -> RELU] x (L-1) -> LINEAR -> SIGMOID, binary cross-entropy averaged over m.
Returns dW{l}, db{l} and dA{l} (dA{l} without the 1/m, as the course computes it).
"""
import numpy as np


def sigmoid(Z):
    A = 1 / (1 + np.exp(-Z))
    return A, Z


def relu(Z):
    A = np.maximum(0, Z)
    return A, Z


def relu_backward(dA, cache):
    Z = cache
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def sigmoid_backward(dA, cache):
    Z = cache
    s = 1 / (1 + np.exp(-Z))
    return dA * s * (1 - s)


def linear_forward(A, W, b):
    Z = np.dot(W, A) + b
    return Z, (A, W, b)


def linear_activation_forward(A_prev, W, b, activation):
    Z, linear_cache = linear_forward(A_prev, W, b)
    if activation == "sigmoid":
        A, activation_cache = sigmoid(Z)
    else:
        A, activation_cache = relu(Z)
    return A, (linear_cache, activation_cache)


def L_model_forward(X, parameters):
    caches = []
    A = X
    L = len(parameters) // 2
    for l in range(1, L):
        A_prev = A
        A, cache = linear_activation_forward(
            A_prev, parameters["W" + str(l)], parameters["b" + str(l)], "relu")
        caches.append(cache)
    AL, cache = linear_activation_forward(
        A, parameters["W" + str(L)], parameters["b" + str(L)], "sigmoid")
    caches.append(cache)
    return AL, caches


def linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


def linear_backward_db_axis0(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = 1 / m * np.sum(dZ, axis=0, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


def linear_activation_backward(dA, cache, activation, linear_backward=linear_backward):
    linear_cache, activation_cache = cache
    if activation == "relu":
        dZ = relu_backward(dA, activation_cache)
    else:
        dZ = sigmoid_backward(dA, activation_cache)
    return linear_backward(dZ, linear_cache)


def L_model_backward(AL, Y, caches, hidden="relu", linear_backward=linear_backward, sign=-1):
    grads = {}
    L = len(caches)
    Y = Y.reshape(AL.shape)
    if sign == -1:
        dAL = - (np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    else:
        dAL = - (np.divide(Y, AL) + np.divide(1 - Y, 1 - AL))
    current_cache = caches[L - 1]
    dA_prev_temp, dW_temp, db_temp = linear_activation_backward(
        dAL, current_cache, "sigmoid", linear_backward)
    grads["dA" + str(L - 1)] = dA_prev_temp
    grads["dW" + str(L)] = dW_temp
    grads["db" + str(L)] = db_temp
    for l in reversed(range(L - 1)):
        current_cache = caches[l]
        dA_prev_temp, dW_temp, db_temp = linear_activation_backward(
            grads["dA" + str(l + 1)], current_cache, hidden, linear_backward)
        grads["dA" + str(l)] = dA_prev_temp
        grads["dW" + str(l + 1)] = dW_temp
        grads["db" + str(l + 1)] = db_temp
    return grads


def backprop(params, X, Y):
    """Correct."""
    AL, caches = L_model_forward(X, params)
    return L_model_backward(AL, Y, caches)


def dAL_sign_slip(params, X, Y):
    AL, caches = L_model_forward(X, params)
    return L_model_backward(AL, Y, caches, sign=+1)


def db_summed_over_units(params, X, Y):
    AL, caches = L_model_forward(X, params)
    return L_model_backward(AL, Y, caches, linear_backward=linear_backward_db_axis0)


def sigmoid_backward_in_hidden_layers(params, X, Y):
    AL, caches = L_model_forward(X, params)
    return L_model_backward(AL, Y, caches, hidden="sigmoid")
