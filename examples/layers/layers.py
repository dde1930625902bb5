"""A correct layers.py in the CS231n assignment's API, written for crosscheck's own tests and README.

Every function follows the course's signature: ``*_forward(...) -> (out, cache)`` and
``*_backward(dout, cache) -> gradients``; the losses return ``(loss, dx)``. dropout's ``p`` is the
keep probability (the recent years' convention; ``--dropout-p keep``).

    crosscheck check examples/layers/layers.py --api cs231n
"""

import numpy as np


def affine_forward(x, w, b):
    """x: (N, d_1, ..., d_k), w: (D, M), b: (M,) -> out: (N, M)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(x, y):
    N = x.shape[0]
    z = x - x.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).mean()
    dx = p.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx / N


def svm_loss(x, y):
    N = x.shape[0]
    correct = x[np.arange(N), y][:, None]
    margins = np.maximum(0, x - correct + 1.0)
    margins[np.arange(N), y] = 0
    loss = margins.sum() / N
    positive = (margins > 0).astype(x.dtype)
    dx = positive
    dx[np.arange(N), y] -= positive.sum(axis=1)
    return loss, dx / N


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    if mode == "train":
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        std = np.sqrt(var + eps)
        xhat = (x - mu) / std
        out = gamma * xhat + beta
        cache = (xhat, gamma, std)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        cache = None
    else:
        raise ValueError(f"invalid batchnorm mode {mode!r}")
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    """Staged through the computation graph: xhat, the variance, the mean."""
    xhat, gamma, std = cache
    N = dout.shape[0]
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat = dout * gamma
    xc = xhat * std  # x - mu
    dvar = (dxhat * xc).sum(axis=0) * -0.5 * std ** -3
    dmu = -dxhat.sum(axis=0) / std + dvar * -2 * xc.mean(axis=0)
    dx = dxhat / std + dvar * 2 * xc / N + dmu / N
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """The simplified formula: dx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / std."""
    xhat, gamma, std = cache
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)) / std
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - mu) / std
    return gamma * xhat + beta, (xhat, gamma, std)


def layernorm_backward(dout, cache):
    xhat, gamma, std = cache
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=1, keepdims=True)) / std
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def dropout_forward(x, dropout_param):
    """p is the probability of keeping each unit (inverted dropout)."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask
    else:
        out = x
    return out.astype(x.dtype, copy=False), (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        return dout * mask
    return dout


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho = 1 + (H + 2 * pad - HH) // stride
    Wo = 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo), dtype=np.result_type(x, w))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]  # (N, C, HH, WW)
            out[:, :, i, j] = patch.reshape(N, -1) @ w.reshape(F, -1).T + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = dout.shape[2], dout.shape[3]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(Ho):
        for j in range(Wo):
            rows = slice(i * stride, i * stride + HH)
            cols = slice(j * stride, j * stride + WW)
            d = dout[:, :, i, j]  # (N, F)
            dw += (d.T @ xp[:, :, rows, cols].reshape(N, -1)).reshape(w.shape)
            dxp[:, :, rows, cols] += (d @ w.reshape(F, -1)).reshape(N, C, HH, WW)
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    Ho, Wo = 1 + (H - ph) // s, 1 + (W - pw) // s
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, Ho, Wo = dout.shape
    dx = np.zeros_like(x)
    for i in range(Ho):
        for j in range(Wo):
            window = x[:, :, i * s:i * s + ph, j * s:j * s + pw].reshape(N, C, -1)
            k = window.argmax(axis=2)
            n, c = np.indices((N, C))
            dx[n, c, i * s + k // pw, j * s + k % pw] += dout[:, :, i, j]
    return dx


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    flat = x.transpose(0, 2, 3, 1).reshape(-1, C)  # channels last, then one row per position
    out, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dx, dgamma, dbeta = batchnorm_backward_alt(dout.transpose(0, 2, 3, 1).reshape(-1, C), cache)
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """gamma, beta: (1, C, 1, 1); G groups of C // G contiguous channels."""
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, -1)
    mu = xg.mean(axis=2, keepdims=True)
    std = np.sqrt(xg.var(axis=2, keepdims=True) + eps)
    xhat = ((xg - mu) / std).reshape(x.shape)
    return gamma * xhat + beta, (xhat, gamma, std, G)


def spatial_groupnorm_backward(dout, cache):
    xhat, gamma, std, G = cache
    N = dout.shape[0]
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dxhat = (dout * gamma).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    dx = (dxhat - dxhat.mean(axis=2, keepdims=True) - xh * (dxhat * xh).mean(axis=2, keepdims=True)) / std
    return dx.reshape(dout.shape), dgamma, dbeta
