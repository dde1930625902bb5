"""deeplearning.ai-style students: columns are samples, ``W{l}: (n_l, n_{l-1})``, ``b{l}: (n_l, 1)``,
a ``caches`` list filled by the forward pass, relu hidden layers, a sigmoid output and the
cross-entropy averaged over the batch (``--preset deeplearning.ai``). One correct, the rest
with one mistake each, written as students write them."""

import numpy as np


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def relu(Z):
    return np.maximum(0, Z)


def _forward(parameters, X):
    L = len(parameters) // 2
    caches = []
    A = X
    for l in range(1, L):  # noqa: E741 - the course's name
        A_prev = A
        Z = parameters["W" + str(l)] @ A_prev + parameters["b" + str(l)]
        A = relu(Z)
        caches.append(((A_prev, parameters["W" + str(l)], parameters["b" + str(l)]), Z))
    Z = parameters["W" + str(L)] @ A + parameters["b" + str(L)]
    AL = sigmoid(Z)
    caches.append(((A, parameters["W" + str(L)], parameters["b" + str(L)]), Z))
    return AL, caches


def _linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


def L_model_backward(parameters, X, Y):
    """Correct, with the course's dA entries (dA0 ... dA{L-1}) next to dW and db."""
    AL, caches = _forward(parameters, X)
    grads = {}
    L = len(caches)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    linear_cache, Z = caches[L - 1]
    dZ = dAL * sigmoid(Z) * (1 - sigmoid(Z))
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = _linear_backward(dZ, linear_cache)
    for l in reversed(range(L - 1)):  # noqa: E741
        linear_cache, Z = caches[l]
        dZ = np.array(grads["dA" + str(l + 1)], copy=True)
        dZ[Z <= 0] = 0
        dA_prev, dW, db = _linear_backward(dZ, linear_cache)
        grads["dA" + str(l)], grads["dW" + str(l + 1)], grads["db" + str(l + 1)] = dA_prev, dW, db
    return grads


def backward_correct(parameters, X, Y):
    """Correct: the same, returning only the parameter gradients."""
    grads = L_model_backward(parameters, X, Y)
    return {k: v for k, v in grads.items() if not k.startswith("dA")}


def backward_sigmoid_of_cache_A(parameters, X, Y):
    """sigmoid_backward reads the cached activation and applies sigmoid to it again."""
    AL, caches = _forward(parameters, X)
    grads = {}
    L = len(caches)
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    (A_prev, W, b), Z = caches[L - 1]
    s = sigmoid(AL)  # should be sigmoid(Z)
    dZ = dA * s * (1 - s)
    dA, grads["dW" + str(L)], grads["db" + str(L)] = _linear_backward(dZ, (A_prev, W, b))
    for l in reversed(range(1, L)):  # noqa: E741
        (A_prev, W, b), Z = caches[l - 1]
        dZ = dA * (Z > 0)
        dA, grads["dW" + str(l)], grads["db" + str(l)] = _linear_backward(dZ, (A_prev, W, b))
    return grads


def backward_db_not_summed(parameters, X, Y):
    """db keeps one column per example: the sum over axis 1 was forgotten."""
    AL, caches = _forward(parameters, X)
    grads = {}
    L = len(caches)
    m = X.shape[1]
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    for l in reversed(range(1, L + 1)):  # noqa: E741
        (A_prev, W, b), Z = caches[l - 1]
        dZ = dA * sigmoid(Z) * (1 - sigmoid(Z)) if l == L else dA * (Z > 0)
        grads["dW" + str(l)] = dZ @ A_prev.T / m
        grads["db" + str(l)] = dZ / m
        dA = W.T @ dZ
    return grads


def backward_off_by_one(parameters, X, Y):
    """Gradients pre-allocated as zeros; the loop over hidden layers stops before layer 1."""
    AL, caches = _forward(parameters, X)
    L = len(caches)
    grads = {}
    for l in range(1, L + 1):  # noqa: E741
        grads["dW" + str(l)] = np.zeros_like(parameters["W" + str(l)])
        grads["db" + str(l)] = np.zeros_like(parameters["b" + str(l)])
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    linear_cache, Z = caches[L - 1]
    dA, grads["dW" + str(L)], grads["db" + str(L)] = _linear_backward(dAL * sigmoid(Z) * (1 - sigmoid(Z)),
                                                                      linear_cache)
    for l in range(L - 1, 1, -1):  # noqa: E741 - should run down to 1
        linear_cache, Z = caches[l - 1]
        dA, grads["dW" + str(l)], grads["db" + str(l)] = _linear_backward(dA * (Z > 0), linear_cache)
    return grads


def backward_no_mean(parameters, X, Y):
    """dW = dZ A_prev^T without the 1/m."""
    AL, caches = _forward(parameters, X)
    grads = {}
    L = len(caches)
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    for l in reversed(range(1, L + 1)):  # noqa: E741
        (A_prev, W, b), Z = caches[l - 1]
        dZ = dA * sigmoid(Z) * (1 - sigmoid(Z)) if l == L else dA * (Z > 0)
        grads["dW" + str(l)] = np.dot(dZ, A_prev.T)
        grads["db" + str(l)] = np.sum(dZ, axis=1, keepdims=True)
        dA = np.dot(W.T, dZ)
    return grads


def backward_mean_twice(parameters, X, Y):
    """The cost's 1/m is put into dAL, and _linear_backward divides by m again."""
    AL, caches = _forward(parameters, X)
    grads = {}
    L = len(caches)
    m = AL.shape[1]
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL)) / m
    linear_cache, Z = caches[L - 1]
    dA, grads["dW" + str(L)], grads["db" + str(L)] = _linear_backward(dAL * sigmoid(Z) * (1 - sigmoid(Z)),
                                                                      linear_cache)
    for l in reversed(range(1, L)):  # noqa: E741
        linear_cache, Z = caches[l - 1]
        dA, grads["dW" + str(l)], grads["db" + str(l)] = _linear_backward(dA * (Z > 0), linear_cache)
    return grads


def backward_returns_updated(parameters, X, Y, learning_rate=0.0075):
    """Backward and update_parameters in one, returning the updated parameters."""
    grads = backward_correct(parameters, X, Y)
    L = len(parameters) // 2
    new = {}
    for l in range(1, L + 1):  # noqa: E741
        new["W" + str(l)] = parameters["W" + str(l)] - learning_rate * grads["dW" + str(l)]
        new["b" + str(l)] = parameters["b" + str(l)] - learning_rate * grads["db" + str(l)]
    return new


def backward_W_not_transposed(parameters, X, Y):
    """dA_prev = W dZ instead of W^T dZ (crashes unless W is square)."""
    AL, caches = _forward(parameters, X)
    grads = {}
    L = len(caches)
    m = X.shape[1]
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    for l in reversed(range(1, L + 1)):  # noqa: E741
        (A_prev, W, b), Z = caches[l - 1]
        dZ = dA * sigmoid(Z) * (1 - sigmoid(Z)) if l == L else dA * (Z > 0)
        grads["dW" + str(l)] = np.dot(dZ, A_prev.T) / m
        grads["db" + str(l)] = np.sum(dZ, axis=1, keepdims=True) / m
        if l > 1:
            dA = np.dot(W, dZ)
    return grads
