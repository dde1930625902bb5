"""Planted mistakes for the layer check: each entry replaces one or two functions of the correct
``examples/layers/layers.py`` with the mistaken version a student writes, and names the layer and the
diagnosis id crosscheck must give first or second.

``planted_module(name, directory)`` writes a module that imports every correct function and overrides
the mistaken ones, so each mistake is checked alone.
"""

import os
import textwrap

import numpy as np

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples",
                        "layers")


# ---- affine ---------------------------------------------------------------------------------------------

def affine_backward__transposed_dw(dout, cache):
    x, w, b = cache
    return (dout @ w.T).reshape(x.shape), dout.T @ x.reshape(x.shape[0], -1), dout.sum(axis=0)


def affine_backward__dx_not_reshaped(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


def affine_backward__db_not_summed(dout, cache):
    x, w, b = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout


# ---- losses (missing 1/N) ----------------------------------------------------------------------------------

def softmax_loss__missing_1_over_n(x, y):
    N = x.shape[0]
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).mean()
    p[np.arange(N), y] -= 1
    return loss, p  # dx not divided by N


def svm_loss__missing_1_over_n(x, y):
    N = x.shape[0]
    margins = np.maximum(0, x - x[np.arange(N), y][:, None] + 1)
    margins[np.arange(N), y] = 0
    dx = (margins > 0).astype(float)
    dx[np.arange(N), y] -= dx.sum(axis=1)
    return margins.sum(), dx  # neither divided by N


# ---- batchnorm -----------------------------------------------------------------------------------------

def batchnorm_backward__mean_path_missing(dout, cache):
    xhat, gamma, std = cache
    dxhat = dout * gamma
    dx = (dxhat - xhat * (dxhat * xhat).mean(axis=0)) / std
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def batchnorm_forward__unbiased_variance(x, gamma, beta, bn_param):
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    mu, var = x.mean(axis=0), x.var(axis=0, ddof=1)
    std = np.sqrt(var + eps)
    xhat = (x - mu) / std
    bn_param["running_mean"] = momentum * bn_param["running_mean"] + (1 - momentum) * mu
    bn_param["running_var"] = momentum * bn_param["running_var"] + (1 - momentum) * var
    return gamma * xhat + beta, (xhat, gamma, std)


def batchnorm_backward__not_reduced_over_n(dout, cache):
    xhat, gamma, std = cache
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)) / std
    return dx, dout * xhat, dout


def batchnorm_forward__running_stats_swapped(x, gamma, beta, bn_param):
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    mu, var = x.mean(axis=0), x.var(axis=0)
    std = np.sqrt(var + eps)
    xhat = (x - mu) / std
    bn_param["running_mean"] = (1 - momentum) * bn_param["running_mean"] + momentum * mu
    bn_param["running_var"] = (1 - momentum) * bn_param["running_var"] + momentum * var
    return gamma * xhat + beta, (xhat, gamma, std)


# ---- layernorm: the wrong axis ---------------------------------------------------------------------------

def layernorm_forward__wrong_norm_axis(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu, std = x.mean(axis=0), np.sqrt(x.var(axis=0) + eps)
    xhat = (x - mu) / std
    return gamma * xhat + beta, (xhat, gamma, std)


def layernorm_backward__wrong_norm_axis(dout, cache):
    xhat, gamma, std = cache
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)) / std
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


# ---- dropout ------------------------------------------------------------------------------------------------

def dropout_forward__not_scaled(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode != "train":
        return x, (dropout_param, None)
    mask = np.random.rand(*x.shape) < p
    return x * mask, (dropout_param, mask)


def dropout_backward__fresh_mask(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] != "train":
        return dout
    p = dropout_param["p"]
    return dout * (np.random.rand(*dout.shape) < p) / p


# ---- pooling and convolution ---------------------------------------------------------------------------------

def max_pool_backward_naive__pool_grad_to_window(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += dout[:, :, i, j][:, :, None, None]
    return dx


def _conv_forward_with(x, w, b, conv_param, kernel):
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    patch = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(patch * kernel(w[f])) + b[f]
    return out, (x, w, b, conv_param)


def conv_forward_naive__conv_kernel_flipped(x, w, b, conv_param):
    return _conv_forward_with(x, w, b, conv_param, lambda k: k[:, ::-1, ::-1])


def conv_forward_naive__conv_kernel_transposed(x, w, b, conv_param):
    # the kernel's rows and columns swapped: only runs where HH == WW, elsewhere it raises (shape)
    return _conv_forward_with(x, w, b, conv_param, lambda k: k.transpose(0, 2, 1))


# ---- the table --------------------------------------------------------------------------------------------

# mistake id -> (layer, {api function: planted function name}, extra CLI options)
PLANTED = {
    "transposed_dw": ("affine", {"affine_backward": "affine_backward__transposed_dw"}, {}),
    "dx_not_reshaped": ("affine", {"affine_backward": "affine_backward__dx_not_reshaped"}, {}),
    "db_not_summed": ("affine", {"affine_backward": "affine_backward__db_not_summed"}, {}),
    "missing_1_over_n": ("softmax_loss", {"softmax_loss": "softmax_loss__missing_1_over_n"}, {}),
    "missing_1_over_n/svm": ("svm_loss", {"svm_loss": "svm_loss__missing_1_over_n"}, {}),
    "mean_path_missing": ("batchnorm", {"batchnorm_backward": "batchnorm_backward__mean_path_missing"}, {}),
    "unbiased_variance": ("batchnorm", {"batchnorm_forward": "batchnorm_forward__unbiased_variance"}, {}),
    "not_reduced_over_n": ("batchnorm", {"batchnorm_backward": "batchnorm_backward__not_reduced_over_n"}, {}),
    "running_stats": ("batchnorm", {"batchnorm_forward": "batchnorm_forward__running_stats_swapped"}, {}),
    "wrong_norm_axis": ("layernorm", {"layernorm_forward": "layernorm_forward__wrong_norm_axis",
                                      "layernorm_backward": "layernorm_backward__wrong_norm_axis"}, {}),
    "dropout_not_scaled": ("dropout", {"dropout_forward": "dropout_forward__not_scaled"}, {}),
    "dropout_fresh_mask": ("dropout", {"dropout_backward": "dropout_backward__fresh_mask"}, {}),
    "pool_grad_to_window": ("max_pool", {"max_pool_backward_naive": "max_pool_backward_naive__pool_grad_to_window"},
                            {}),
    "conv_kernel_flipped": ("conv", {"conv_forward_naive": "conv_forward_naive__conv_kernel_flipped"}, {}),
    "conv_kernel_transposed": ("conv", {"conv_forward_naive": "conv_forward_naive__conv_kernel_transposed"}, {}),
}


def planted_module(key: str, directory: str) -> str:
    """Write ``<directory>/planted_<id>.py``: the correct layers with mistake ``key`` planted; its path."""
    _, overrides, _ = PLANTED[key]
    here = os.path.dirname(os.path.abspath(__file__))
    lines = [f"import sys\nsys.path.insert(0, {EXAMPLES!r})\nsys.path.insert(0, {here!r})",
             "from layers import *  # noqa: F403", "import layers_mistakes"]
    lines += [f"{api} = layers_mistakes.{planted}" for api, planted in overrides.items()]
    path = os.path.join(directory, "planted_" + key.replace("/", "_") + ".py")
    with open(path, "w") as fh:
        fh.write(textwrap.dedent("\n".join(lines)) + "\n")
    return path
