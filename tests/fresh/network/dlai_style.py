"""deeplearning.ai L_model_backward style (columns are samples, ``W{l}: (n_l, n_{l-1})``, ``b{l}: (n_l, 1)``,
a dict of parameters, relu hidden layers, sigmoid output, cross-entropy averaged over m:
``--preset deeplearning.ai``). Each function has one network-level mistake; its docstring says what
and the diagnosis a teacher would give."""

import numpy as np


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def relu(Z):
    return np.maximum(0, Z)


def L_model_forward(X, parameters):
    caches = []
    A = X
    L = len(parameters) // 2
    for l in range(1, L):  # noqa: E741
        A_prev = A
        Z = np.dot(parameters["W" + str(l)], A_prev) + parameters["b" + str(l)]
        A = relu(Z)
        caches.append((A_prev, parameters["W" + str(l)], parameters["b" + str(l)], Z))
    ZL = np.dot(parameters["W" + str(L)], A) + parameters["b" + str(L)]
    AL = sigmoid(ZL)
    caches.append((A, parameters["W" + str(L)], parameters["b" + str(L)], ZL))
    return AL, caches


def linear_backward(dZ, A_prev, W, m=None):
    m = A_prev.shape[1] if m is None else m
    dW = 1. / m * np.dot(dZ, A_prev.T)
    db = 1. / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


def half_sse_gradient(parameters, X, Y):
    """Expected: loss. The output delta multiplies (AL - Y) by sigmoid'(ZL) as the squared error does:
    exactly the gradient of --loss half_sse, while bce through a sigmoid gives dZL = AL - Y."""
    AL, caches = L_model_forward(X, parameters)
    grads = {}
    L = len(caches)
    A_prev, W, b, Z = caches[L - 1]
    dZ = (AL - Y) * AL * (1 - AL)
    dA, grads["dW" + str(L)], grads["db" + str(L)] = linear_backward(dZ, A_prev, W)
    for l in reversed(range(1, L)):  # noqa: E741
        A_prev, W, b, Z = caches[l - 1]
        dZ = dA * (Z > 0)
        dA, grads["dW" + str(l)], grads["db" + str(l)] = linear_backward(dZ, A_prev, W)
    return grads


def sigmoid_backward_in_hidden(parameters, X, Y):
    """Expected: activation_derivative. The hidden loop calls sigmoid_backward (copied from the output
    layer) though the hidden layers are relu in the forward pass."""
    AL, caches = L_model_forward(X, parameters)
    grads = {}
    L = len(caches)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    A_prev, W, b, Z = caches[L - 1]
    s = sigmoid(Z)
    dA, grads["dW" + str(L)], grads["db" + str(L)] = linear_backward(dAL * s * (1 - s), A_prev, W)
    for l in reversed(range(1, L)):  # noqa: E741
        A_prev, W, b, Z = caches[l - 1]
        s = sigmoid(Z)
        dA, grads["dW" + str(l)], grads["db" + str(l)] = linear_backward(dA * s * (1 - s), A_prev, W)
    return grads


def dAL_typo(parameters, X, Y):
    """Expected: output_gradient. dAL typed with (1 + AL) in the second denominator."""
    AL, caches = L_model_forward(X, parameters)
    grads = {}
    L = len(caches)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 + AL))
    A_prev, W, b, Z = caches[L - 1]
    s = sigmoid(Z)
    dA, grads["dW" + str(L)], grads["db" + str(L)] = linear_backward(dAL * s * (1 - s), A_prev, W)
    for l in reversed(range(1, L)):  # noqa: E741
        A_prev, W, b, Z = caches[l - 1]
        dA, grads["dW" + str(l)], grads["db" + str(l)] = linear_backward(dA * (Z > 0), A_prev, W)
    return grads


def dAL_plus_typo(parameters, X, Y):
    """Expected: output_gradient. dAL typed with + between the two terms: -(Y/AL + (1-Y)/(1-AL))."""
    AL, caches = L_model_forward(X, parameters)
    grads = {}
    L = len(caches)
    dAL = -(np.divide(Y, AL) + np.divide(1 - Y, 1 - AL))
    A_prev, W, b, Z = caches[L - 1]
    s = sigmoid(Z)
    dA, grads["dW" + str(L)], grads["db" + str(L)] = linear_backward(dAL * s * (1 - s), A_prev, W)
    for l in reversed(range(1, L)):  # noqa: E741
        A_prev, W, b, Z = caches[l - 1]
        dA, grads["dW" + str(l)], grads["db" + str(l)] = linear_backward(dA * (Z > 0), A_prev, W)
    return grads


def keys_from_zero(parameters, X, Y):
    """Expected: key_offset. The loop index l runs from 0, so the keys are dW0, db0, ... dW{L-1}:
    right values under names off by one."""
    AL, caches = L_model_forward(X, parameters)
    grads = {}
    L = len(caches)
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    for l in reversed(range(L)):  # noqa: E741
        A_prev, W, b, Z = caches[l]
        dZ = dA * sigmoid(Z) * (1 - sigmoid(Z)) if l == L - 1 else dA * (Z > 0)
        dA, grads["dW" + str(l)], grads["db" + str(l)] = linear_backward(dZ, A_prev, W)
    return grads


def hardcoded_batch_size(parameters, X, Y):
    """Expected: batch_size. m = 64, the course's mini-batch size, written as a constant in
    linear_backward instead of A_prev.shape[1]."""
    AL, caches = L_model_forward(X, parameters)
    grads = {}
    L = len(caches)
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    for l in reversed(range(1, L + 1)):  # noqa: E741
        A_prev, W, b, Z = caches[l - 1]
        dZ = dA * sigmoid(Z) * (1 - sigmoid(Z)) if l == L else dA * (Z > 0)
        dA, grads["dW" + str(l)], grads["db" + str(l)] = linear_backward(dZ, A_prev, W, m=64)
    return grads


def relu_mask_from_dA(parameters, X, Y):
    """Expected: activation_derivative. relu_backward zeroes dZ where dA <= 0 (the incoming gradient)
    instead of where Z <= 0."""
    AL, caches = L_model_forward(X, parameters)
    grads = {}
    L = len(caches)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    A_prev, W, b, Z = caches[L - 1]
    dA, grads["dW" + str(L)], grads["db" + str(L)] = linear_backward(dAL * sigmoid(Z) * (1 - sigmoid(Z)),
                                                                     A_prev, W)
    for l in reversed(range(1, L)):  # noqa: E741
        A_prev, W, b, Z = caches[l - 1]
        dZ = np.array(dA, copy=True)
        dZ[dA <= 0] = 0
        dA, grads["dW" + str(l)], grads["db" + str(l)] = linear_backward(dZ, A_prev, W)
    return grads


def relu_after_the_matmul(parameters, X, Y):
    """Expected: missing_activation_derivative (or activation_derivative). In the hidden layers dW and
    db are computed from dA, and relu' is applied only on the way down (dA_prev = W^T (dA * relu'(Z))):
    sigma' on the wrong side of the matmul for the layer's own gradients."""
    AL, caches = L_model_forward(X, parameters)
    grads = {}
    L = len(caches)
    m = X.shape[1]
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    A_prev, W, b, Z = caches[L - 1]
    dA, grads["dW" + str(L)], grads["db" + str(L)] = linear_backward(dAL * sigmoid(Z) * (1 - sigmoid(Z)),
                                                                     A_prev, W)
    for l in reversed(range(1, L)):  # noqa: E741
        A_prev, W, b, Z = caches[l - 1]
        grads["dW" + str(l)] = np.dot(dA, A_prev.T) / m
        grads["db" + str(l)] = np.sum(dA, axis=1, keepdims=True) / m
        dA = np.dot(W.T, dA * (Z > 0))
    return grads


def pairs_in_dict_out(params, X, Y):
    """Expected: convention. Reads the parameters as a list of (W, b) pairs but returns the course's
    grads dict (dW1, db1, ...): declared --params pairs, it returns a dict."""
    parameters = {}
    for l, (W, b) in enumerate(params, start=1):  # noqa: E741
        parameters["W" + str(l)], parameters["b" + str(l)] = W, b
    AL, caches = L_model_forward(X, parameters)
    grads = {}
    L = len(caches)
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    for l in reversed(range(1, L + 1)):  # noqa: E741
        A_prev, W, b, Z = caches[l - 1]
        dZ = dA * sigmoid(Z) * (1 - sigmoid(Z)) if l == L else dA * (Z > 0)
        dA, grads["dW" + str(l)], grads["db" + str(l)] = linear_backward(dZ, A_prev, W)
    return grads
