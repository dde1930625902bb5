# ruff: noqa: E741, N803, N806, UP031 - the courses' names (l, X, W1) and "W%d" % l
"""Correct implementations written the way courses write them; each agrees with torch.autograd in
float64 (tests/fresh/verify.py). The flags each is declared with are in tests/fresh/__init__.py."""

import numpy as np


# ---- deeplearning.ai: columns / out_in / column / dict, relu, sigmoid, bce, mean -------------------
def _sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def dlai_L_model_backward(parameters, X, Y):
    """L_model_forward / L_model_backward with caches, the course's dAL."""
    L = len(parameters) // 2
    caches, A = [], X
    for l in range(1, L + 1):
        A_prev = A
        Z = parameters["W" + str(l)] @ A_prev + parameters["b" + str(l)]
        A = _sigmoid(Z) if l == L else np.maximum(0, Z)
        caches.append((A_prev, parameters["W" + str(l)], Z))
    AL, m, grads = A, X.shape[1], {}
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    for l in reversed(range(1, L + 1)):
        A_prev, W, Z = caches[l - 1]
        if l == L:
            s = _sigmoid(Z)
            dZ = dA * s * (1 - s)
        else:
            dZ = np.array(dA, copy=True)
            dZ[Z <= 0] = 0
        grads["dW" + str(l)] = 1. / m * np.dot(dZ, A_prev.T)
        grads["db" + str(l)] = 1. / m * np.sum(dZ, axis=1, keepdims=True)
        dA = np.dot(W.T, dZ)
    return grads


def dlai_two_layer_l2(parameters, X, Y, lambd=0.7):
    """backward_propagation_with_regularization for any depth: lambd / m * W added to dW."""
    grads = dlai_L_model_backward(parameters, X, Y)
    m = X.shape[1]
    for key in list(grads):
        if key.startswith("dW"):
            grads[key] = grads[key] + lambd / m * parameters[key[1:]]
    return grads


def dlai_softmax_onehot(parameters, X, Y):
    """Columns, relu hidden, softmax output, one-hot Y: dZL = AL - Y, averaged over m."""
    L = len(parameters) // 2
    As, Zs = [X], []
    for l in range(1, L + 1):
        Z = parameters["W%d" % l] @ As[-1] + parameters["b%d" % l]
        Zs.append(Z)
        if l < L:
            As.append(np.maximum(0, Z))
        else:
            e = np.exp(Z - Z.max(axis=0, keepdims=True))
            As.append(e / e.sum(axis=0, keepdims=True))
    m = X.shape[1]
    dZ = (As[-1] - Y) / m
    grads = {}
    for l in range(L, 0, -1):
        grads["dW%d" % l] = dZ @ As[l - 1].T
        grads["db%d" % l] = dZ.sum(axis=1, keepdims=True)
        if l > 1:
            dZ = (parameters["W%d" % l].T @ dZ) * (Zs[l - 2] > 0)
    return grads


# ---- CS231n: rows / in_out / vector / dict, relu, softmax_ce with labels, mean ---------------------
def cs231n_two_layer(params, X, y, reg=0.0):
    """TwoLayerNet.loss without the reg term (reg = 0)."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = X.shape[0]
    h = np.maximum(0, X.dot(W1) + b1)
    scores = h.dot(W2) + b2
    exp_scores = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    dscores = probs
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {"W2": h.T.dot(dscores) + reg * W2, "b2": np.sum(dscores, axis=0)}
    dh = dscores.dot(W2.T)
    dh[h <= 0] = 0
    grads["W1"] = X.T.dot(dh) + reg * W1
    grads["b1"] = np.sum(dh, axis=0)
    return grads


def cs231n_fc_net(params, X, y, reg=0.1):
    """FullyConnectedNet.loss with affine_relu_forward / affine_backward caches, 0.5 * reg * sum(W^2)."""
    num_layers = len([k for k in params if k.startswith("W")])
    caches, out = [], X
    for i in range(1, num_layers + 1):
        w, b = params["W%d" % i], params["b%d" % i]
        a = out.reshape(out.shape[0], -1).dot(w) + b
        caches.append((out, w, a))
        out = np.maximum(0, a) if i < num_layers else a
    shifted = out - np.max(out, axis=1, keepdims=True)
    probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
    N = X.shape[0]
    dout = probs.copy()
    dout[np.arange(N), y] -= 1
    dout /= N
    grads = {}
    for i in range(num_layers, 0, -1):
        x, w, a = caches[i - 1]
        if i < num_layers:
            dout = dout * (a > 0)
        grads["W%d" % i] = x.reshape(x.shape[0], -1).T.dot(dout) + reg * w
        grads["b%d" % i] = np.sum(dout, axis=0)
        dout = dout.dot(w.T).reshape(x.shape)
    return grads


# ---- Nielsen: single / out_in / column / pairs -----------------------------------------------------
def nielsen_backprop(params, x, y):
    """network.py's backprop (quadratic cost, sigmoid everywhere)."""
    activation, activations, zs = x, [x], []
    for w, b in params:
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = _sigmoid(z)
        activations.append(activation)
    sp = lambda z: _sigmoid(z) * (1 - _sigmoid(z))  # noqa: E731
    delta = (activations[-1] - y) * sp(zs[-1])
    nabla = [None] * len(params)
    nabla[-1] = (np.dot(delta, activations[-2].transpose()), delta)
    for layer in range(2, len(params) + 1):
        delta = np.dot(params[-layer + 1][0].transpose(), delta) * sp(zs[-layer])
        nabla[-layer] = (np.dot(delta, activations[-layer - 1].transpose()), delta)
    return nabla


def nielsen_cross_entropy(params, x, y):
    """network2.py's backprop with CrossEntropyCost: delta = a - y at the output."""
    activation, activations, zs = x, [x], []
    for w, b in params:
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = _sigmoid(z)
        activations.append(activation)
    delta = activations[-1] - y
    nabla_b, nabla_w = [delta], [np.dot(delta, activations[-2].T)]
    for layer in range(2, len(params) + 1):
        s = _sigmoid(zs[-layer])
        delta = np.dot(params[-layer + 1][0].T, delta) * s * (1 - s)
        nabla_b.insert(0, delta)
        nabla_w.insert(0, np.dot(delta, activations[-layer - 1].T))
    return list(zip(nabla_w, nabla_b))
