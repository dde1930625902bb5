"""Students with weight penalties and target forms, each written the way its course writes it.

CS231n fc_net.py (rows, ``W{l}: (n_in, n_out)``, dict, relu, softmax cross-entropy averaged):
``loss += 0.5 * reg * sum(W * W)`` and ``dW += reg * W`` (``--l2 0.1 --penalty-form half``).
deeplearning.ai (columns, ``b{l}: (n_l, 1)``, relu, sigmoid, cross-entropy averaged):
``lambd / (2 m) * sum(W^2)`` and ``dW += lambd / m * W`` (``--l2 0.7 --penalty-form half_over_m``).
A book's L1: ``l1 / 2 * sum |w|`` (``--l1 0.05 --penalty-form half``). The declared flags are in
``tests/students/__init__.py``.
"""

import numpy as np


def _softmax(scores):
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _fc(params, X, Y, *, reg, weight_term, bias_term=None, targets=None):
    """fc_net.py's loss(): forward, softmax, backward, then the penalty's gradient via the callbacks."""
    k = len([key for key in params if key.startswith("W")])
    hs, zs = [X], []
    for i in range(1, k + 1):
        z = hs[-1] @ params[f"W{i}"] + params[f"b{i}"]
        zs.append(z)
        hs.append(np.maximum(0, z) if i < k else z)
    N = X.shape[0]
    dscores = _softmax(hs[-1]) - (Y if targets is None else targets(Y))
    dscores /= N
    grads = {}
    for i in range(k, 0, -1):
        grads[f"W{i}"] = hs[i - 1].T @ dscores + weight_term(reg, params[f"W{i}"])
        grads[f"b{i}"] = dscores.sum(axis=0) + (0 if bias_term is None else bias_term(reg, params[f"b{i}"]))
        if i > 1:
            dscores = (dscores @ params[f"W{i}"].T) * (zs[i - 2] > 0)
    return grads


def fc_net_reg(params, X, Y, reg=0.1):
    """Correct: d/dW of 0.5 reg sum W^2 is reg W."""
    return _fc(params, X, Y, reg=reg, weight_term=lambda reg, W: reg * W)


def fc_net_reg_forgotten(params, X, Y, reg=0.1):
    """The penalty is in the loss, its gradient is not."""
    return _fc(params, X, Y, reg=reg, weight_term=lambda reg, W: 0.0)


def fc_net_reg_doubled(params, X, Y, reg=0.1):
    """dW += 2 reg W: the gradient of reg sum W^2, while the loss says 0.5 reg sum W^2."""
    return _fc(params, X, Y, reg=reg, weight_term=lambda reg, W: 2 * reg * W)


def fc_net_reg_biases_too(params, X, Y, reg=0.1):
    """Penalises the biases as well (the loss does not)."""
    return _fc(params, X, Y, reg=reg, weight_term=lambda reg, W: reg * W, bias_term=lambda reg, b: reg * b)


def fc_net_undeclared_reg(params, X, Y, reg=0.05):
    """Adds a penalty's gradient to a network declared without one."""
    return _fc(params, X, Y, reg=reg, weight_term=lambda reg, W: reg * W)


def fc_net_l1_book(params, X, Y, l1=0.05):
    """The book's L1 term is l1/2 sum |w|; its gradient here is l1 sign(w), twice that."""
    return _fc(params, X, Y, reg=l1, weight_term=lambda l1, W: l1 * np.sign(W))


def fc_net_argmax_targets(params, X, Y, reg=0.0):
    """Written for integer labels: takes y = argmax of the (soft) targets and subtracts 1 there."""
    def one_hot_of_argmax(Y):
        y = np.argmax(Y, axis=1)
        out = np.zeros_like(Y)
        out[np.arange(Y.shape[0]), y] = 1
        return out
    return _fc(params, X, Y, reg=reg, weight_term=lambda reg, W: 0.0, targets=one_hot_of_argmax)


def _sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def _dlai(parameters, X, Y, lambd, scale):
    L = len(parameters) // 2
    m = X.shape[1]
    caches, A = [], X
    for l in range(1, L + 1):  # noqa: E741
        W, b = parameters["W" + str(l)], parameters["b" + str(l)]
        Z = W @ A + b
        caches.append((A, W, Z))
        A = _sigmoid(Z) if l == L else np.maximum(0, Z)
    dZ = A - Y
    grads = {}
    for l in range(L, 0, -1):  # noqa: E741
        A_prev, W, Z = caches[l - 1]
        grads["dW" + str(l)] = 1. / m * dZ @ A_prev.T + scale(lambd, m) * W
        grads["db" + str(l)] = 1. / m * np.sum(dZ, axis=1, keepdims=True)
        if l > 1:
            dZ = (W.T @ dZ) * (caches[l - 2][2] > 0)
    return grads


def backward_propagation_with_regularization(parameters, X, Y, lambd=0.7):
    """Correct (deeplearning.ai): dW += lambd / m * W."""
    return _dlai(parameters, X, Y, lambd, lambda lambd, m: lambd / m)


def backward_regularization_without_m(parameters, X, Y, lambd=0.7):
    """dW += lambd * W: the 1/m of lambd / (2 m) forgotten in the gradient."""
    return _dlai(parameters, X, Y, lambd, lambda lambd, m: lambd)
