"""CS231n assignment 2 ``FullyConnectedNet.loss(X, y)`` (fc_net.py, no dropout or batchnorm).

rows/in_out/vector/dict at any depth: W{i} (D_in, D_out), b{i} (D_out,), y (N,) labels.
{affine - relu} x (L - 1) - affine - softmax, with 0.5 * reg * sum(W*W) on every weight.
"""
import numpy as np

REG = 0.1


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    x = cache
    return dout * (x > 0)


def softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    Z = np.sum(np.exp(shifted), axis=1, keepdims=True)
    log_probs = shifted - np.log(Z)
    probs = np.exp(log_probs)
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


def loss_grads(params, X, y):
    """Correct."""
    num_layers = len(params) // 2
    caches = {}
    out = X
    for i in range(1, num_layers):
        a, fc_cache = affine_forward(out, params[f"W{i}"], params[f"b{i}"])
        out, relu_cache = relu_forward(a)
        caches[i] = (fc_cache, relu_cache)
    scores, caches[num_layers] = affine_forward(
        out, params[f"W{num_layers}"], params[f"b{num_layers}"])
    loss, dscores = softmax_loss(scores, y)
    grads = {}
    dout, dw, db = affine_backward(dscores, caches[num_layers])
    grads[f"W{num_layers}"] = dw + REG * params[f"W{num_layers}"]
    grads[f"b{num_layers}"] = db
    for i in range(num_layers - 1, 0, -1):
        fc_cache, relu_cache = caches[i]
        da = relu_backward(dout, relu_cache)
        dout, dw, db = affine_backward(da, fc_cache)
        grads[f"W{i}"] = dw + REG * params[f"W{i}"]
        grads[f"b{i}"] = db
    return grads


def reg_loop_short(params, X, y):
    num_layers = len(params) // 2
    caches = {}
    out = X
    for i in range(1, num_layers):
        a, fc_cache = affine_forward(out, params[f"W{i}"], params[f"b{i}"])
        out, relu_cache = relu_forward(a)
        caches[i] = (fc_cache, relu_cache)
    scores, caches[num_layers] = affine_forward(
        out, params[f"W{num_layers}"], params[f"b{num_layers}"])
    loss, dscores = softmax_loss(scores, y)
    grads = {}
    dout, grads[f"W{num_layers}"], grads[f"b{num_layers}"] = affine_backward(
        dscores, caches[num_layers])
    for i in range(num_layers - 1, 0, -1):
        fc_cache, relu_cache = caches[i]
        da = relu_backward(dout, relu_cache)
        dout, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(da, fc_cache)
    for i in range(1, num_layers):
        W = params[f"W{i}"]
        loss += 0.5 * REG * np.sum(W * W)
        grads[f"W{i}"] += REG * W
    return grads


def relu_on_scores(params, X, y):
    num_layers = len(params) // 2
    caches = {}
    out = X
    for i in range(1, num_layers + 1):
        a, fc_cache = affine_forward(out, params[f"W{i}"], params[f"b{i}"])
        out, relu_cache = relu_forward(a)
        caches[i] = (fc_cache, relu_cache)
    scores = out
    loss, dout = softmax_loss(scores, y)
    grads = {}
    for i in range(num_layers, 0, -1):
        fc_cache, relu_cache = caches[i]
        da = relu_backward(dout, relu_cache)
        dout, dw, db = affine_backward(da, fc_cache)
        grads[f"W{i}"] = dw + REG * params[f"W{i}"]
        grads[f"b{i}"] = db
    return grads
