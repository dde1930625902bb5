"""Single-output backprop written the way courses write it: every one of these assumes ONE output unit
(Y is (1, m) or (m, 1), the cost is a scalar per sample) and refuses or mis-scales a network with two.

- ``l_model_backward``: deeplearning.ai course 1 week 4, L_model_forward / L_model_backward, relu
  hidden layers and a sigmoid output unit, the cost averaged over the m columns; it asserts
  ``AL.shape == Y.shape == (1, m)`` as the notebook's ``compute_cost`` does.
- ``planar_backward``: the planar-data network (course 1 week 3): one tanh hidden layer,
  ``dZ2 = A2 - Y`` with ``Y`` reshaped to ``(1, m)``.
- ``nnfs_bce_backward``: nnfs-style rows (``inputs @ weights + biases``, biases ``(1, n)``),
  ``Activation_Sigmoid`` output and ``Loss_BinaryCrossentropy`` whose per-sample loss is a mean over
  the outputs and whose backward divides by ``outputs = len(dvalues[0])`` and by the samples. With one
  output that is the mean over samples; with two it would be a mean over every entry.

Each has a wrong twin with one mistake. Verified against torch.autograd in float64 in
tests/test_constraints.py.
"""

import numpy as np


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


# ---- deeplearning.ai L_model_backward: columns, W (n_l, n_{l-1}), b (n_l, 1), dict ------------------

def _l_model(parameters, X, Y, *, wrong=False):
    L = len(parameters) // 2
    m = X.shape[1]
    A, caches = X, []
    for l in range(1, L + 1):  # noqa: E741 - the course's name
        W, b = parameters["W" + str(l)], parameters["b" + str(l)]
        Z = np.dot(W, A) + b
        caches.append(((A, W, b), Z))
        A = sigmoid(Z) if l == L else np.maximum(0, Z)
    AL = A
    Y = Y.reshape(1, m)
    assert AL.shape == (1, m), f"got a network with {AL.shape[0]} outputs"  # compute_cost's squeeze
    grads = {}
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    current = caches[L - 1]
    (A_prev, W, b), Z = current
    s = sigmoid(Z)
    dZ = dAL * s * (1 - s)
    grads["dW" + str(L)] = 1.0 / m * np.dot(dZ, A_prev.T)
    grads["db" + str(L)] = 1.0 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    for l in reversed(range(L - 1)):  # noqa: E741
        (A_prev, W, b), Z = caches[l]
        dZ = np.array(dA_prev, copy=True)
        if not wrong:
            dZ[Z <= 0] = 0
        grads["dW" + str(l + 1)] = 1.0 / m * np.dot(dZ, A_prev.T)
        grads["db" + str(l + 1)] = 1.0 / m * np.sum(dZ, axis=1, keepdims=True)
        dA_prev = np.dot(W.T, dZ)
    return grads


def l_model_backward(parameters, X, Y):
    return _l_model(parameters, X, Y)


def l_model_backward_no_relu_derivative(parameters, X, Y):
    """relu_backward forgotten: dZ = dA in the hidden layers."""
    return _l_model(parameters, X, Y, wrong=True)


# ---- the planar-data network: columns, tanh hidden, sigmoid output, dict W1 b1 W2 b2 ---------------

def _planar(parameters, X, Y, *, wrong=False):
    W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
    m = X.shape[1]
    Z1 = np.dot(W1, X) + b1
    A1 = np.tanh(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = sigmoid(Z2)
    assert A2.shape == (1, X.shape[1])  # as compute_cost asserts
    Y = Y.reshape(1, m)
    dZ2 = A2 - Y
    dW2 = (1 / m) * np.dot(dZ2, A1.T)
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.dot(W2.T, dZ2) * ((1 - A1) if wrong else (1 - np.power(A1, 2)))
    dW1 = (1 / m) * np.dot(dZ1, X.T)
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def planar_backward(parameters, X, Y):
    return _planar(parameters, X, Y)


def planar_backward_tanh_derivative(parameters, X, Y):
    """tanh' written as 1 - A1 instead of 1 - A1**2."""
    return _planar(parameters, X, Y, wrong=True)


# ---- nnfs: rows, inputs @ weights + biases, biases (1, n), list of (weights, biases) ---------------

def _nnfs(params, X, y, *, wrong=False):
    outputs = [X]
    for i, (weights, biases) in enumerate(params):
        z = np.dot(outputs[-1], weights) + biases
        outputs.append(sigmoid(z) if i == len(params) - 1 else np.maximum(0, z))
    y_pred = outputs[-1]
    y_true = y.reshape(-1, 1)  # nnfs: y = y.reshape(-1, 1) before the binary logistic regression loss
    if y_pred.shape != y_true.shape:
        raise ValueError(f"got a network with {y_pred.shape[1]} outputs")
    samples, n_out = len(y_pred), len(y_pred[0])
    clipped = np.clip(y_pred, 1e-7, 1 - 1e-7)
    dinputs = -(y_true / clipped - (1 - y_true) / (1 - clipped)) / n_out
    if not wrong:
        dinputs = dinputs / samples
    grads = []
    for i in reversed(range(len(params))):
        weights, _ = params[i]
        if i == len(params) - 1:
            dz = dinputs * (1 - y_pred) * y_pred  # Activation_Sigmoid.backward
        else:
            dz = dinputs.copy()
            dz[outputs[i + 1] <= 0] = 0  # Activation_ReLU.backward
        grads.append((np.dot(outputs[i].T, dz), np.sum(dz, axis=0, keepdims=True)))
        dinputs = np.dot(dz, weights.T)
    return grads[::-1]


def nnfs_bce_backward(params, X, y):
    return _nnfs(params, X, y)


def nnfs_bce_backward_not_averaged(params, X, y):
    """the division by the number of samples forgotten."""
    return _nnfs(params, X, y, wrong=True)


# ---- a spec-aware engine that is wrong by a factor 2 everywhere (the constraint tests' failing target) ---

def engine_doubled(params, X, Y, spec=None):
    """tests/implementations/engine.py's engine with every gradient doubled: it fails on every case,
    so a check runs every phase up to the diagnosis's re-drawn cases."""
    from implementations.engine import engine

    return [(2 * dW, 2 * db) for dW, db in engine(params, X, Y, spec=spec)]
