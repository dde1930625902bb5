"""A correct CS231n layers.py in a vectorised style: im2col convolution, strided-window pooling,
compact normalisation backward passes, caches as dicts, and dropout's p as the probability of
*dropping* a unit (older years of the course: check with --dropout-p drop)."""
import numpy as np
from numpy.lib.stride_tricks import as_strided


def affine_forward(x, w, b):
    out = x.reshape(len(x), -1).dot(w) + b
    return out, {"x": x, "w": w}


def affine_backward(dout, cache):
    x, w = cache["x"], cache["w"]
    return dout.dot(w.T).reshape(x.shape), x.reshape(len(x), -1).T.dot(dout), dout.sum(0)


def relu_forward(x):
    return x * (x > 0), {"x": x}


def relu_backward(dout, cache):
    return np.where(cache["x"] > 0, dout, 0.0)


def softmax_loss(x, y):
    N = len(y)
    logits = x - x.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    onehot = np.eye(x.shape[1])[y]
    loss = -(onehot * log_p).sum() / N
    return loss, (np.exp(log_p) - onehot) / N


def svm_loss(x, y):
    N = len(y)
    onehot = np.eye(x.shape[1], dtype=bool)[y]
    margins = np.where(onehot, 0.0, np.maximum(0.0, x - x[onehot][:, None] + 1))
    active = (margins > 0).astype(x.dtype)
    dx = active - onehot * active.sum(axis=1, keepdims=True)
    return margins.sum() / N, dx / N


def batchnorm_forward(x, gamma, beta, bn_param):
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    rm = bn_param.get("running_mean", np.zeros(x.shape[1]))
    rv = bn_param.get("running_var", np.zeros(x.shape[1]))
    if bn_param["mode"] == "train":
        mean, var = x.mean(0), x.var(0)
        inv = 1.0 / np.sqrt(var + eps)
        xn = (x - mean) * inv
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
        return xn * gamma + beta, {"xn": xn, "gamma": gamma, "inv": inv}
    bn_param["running_mean"], bn_param["running_var"] = rm, rv
    return (x - rm) / np.sqrt(rv + eps) * gamma + beta, None


def batchnorm_backward(dout, cache):
    xn, gamma, inv = cache["xn"], cache["gamma"], cache["inv"]
    dgamma, dbeta = (dout * xn).sum(0), dout.sum(0)
    dxn = dout * gamma
    dx = inv * (dxn - dxn.mean(0) - xn * (dxn * xn).mean(0))
    return dx, dgamma, dbeta


batchnorm_backward_alt = batchnorm_backward


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xn = (x - mean) * inv
    return xn * gamma + beta, {"xn": xn, "gamma": gamma, "inv": inv}


def layernorm_backward(dout, cache):
    xn, gamma, inv = cache["xn"], cache["gamma"], cache["inv"]
    dxn = dout * gamma
    dx = inv * (dxn - dxn.mean(1, keepdims=True) - xn * (dxn * xn).mean(1, keepdims=True))
    return dx, (dout * xn).sum(0), dout.sum(0)


def dropout_forward(x, dropout_param):
    """p: the probability of dropping a unit."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    rng = np.random.RandomState(dropout_param.get("seed"))
    if mode == "train":
        mask = (rng.rand(*x.shape) >= p) / (1 - p)
        return x * mask, {"mask": mask, "mode": mode}
    return x, {"mask": None, "mode": mode}


def dropout_backward(dout, cache):
    return dout * cache["mask"] if cache["mode"] == "train" else dout


def _windows(x, hh, ww, s):
    """(N, C, Ho, Wo, hh, ww) view of every window of x (N, C, H, W)."""
    N, C, H, W = x.shape
    Ho, Wo = (H - hh) // s + 1, (W - ww) // s + 1
    sN, sC, sH, sW = x.strides
    return as_strided(x, (N, C, Ho, Wo, hh, ww), (sN, sC, sH * s, sW * s, sH, sW), writeable=False)


def conv_forward_naive(x, w, b, conv_param):
    s, pad = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = _windows(xp, w.shape[2], w.shape[3], s)  # (N, C, Ho, Wo, HH, WW)
    out = np.einsum("nchwkl,fckl->nfhw", win, w) + b[None, :, None, None]
    return out, {"x": x, "w": w, "s": s, "pad": pad}


def conv_backward_naive(dout, cache):
    x, w, s, pad = cache["x"], cache["w"], cache["s"], cache["pad"]
    H, W = x.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = _windows(xp, w.shape[2], w.shape[3], s)
    dw = np.einsum("nchwkl,nfhw->fckl", win, dout)
    db = dout.sum(axis=(0, 2, 3))
    dxp = np.zeros_like(xp)
    dwin = np.einsum("nfhw,fckl->nchwkl", dout, w)
    Ho, Wo = dout.shape[2:]
    for k in range(w.shape[2]):
        for l in range(w.shape[3]):
            dxp[:, :, k:k + s * Ho:s, l:l + s * Wo:s] += dwin[:, :, :, :, k, l]
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, db


def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    win = _windows(x, ph, pw, s)
    return win.max(axis=(4, 5)), {"x": x, "p": (ph, pw, s)}


def max_pool_backward_naive(dout, cache):
    x, (ph, pw, s) = cache["x"], cache["p"]
    win = _windows(x, ph, pw, s)
    N, C, Ho, Wo = dout.shape
    flat = win.reshape(N, C, Ho, Wo, -1).argmax(-1)
    r, c = np.divmod(flat, pw)
    n, ch, i, j = np.indices((N, C, Ho, Wo))
    dx = np.zeros_like(x)
    np.add.at(dx, (n, ch, i * s + r, j * s + c), dout)
    return dx


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(np.moveaxis(x, 1, -1).reshape(-1, C), gamma, beta, bn_param)
    return np.moveaxis(out.reshape(N, H, W, C), -1, 1), cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dx, dgamma, dbeta = batchnorm_backward(np.moveaxis(dout, 1, -1).reshape(-1, C), cache)
    return np.moveaxis(dx.reshape(N, H, W, C), -1, 1), dgamma, dbeta
