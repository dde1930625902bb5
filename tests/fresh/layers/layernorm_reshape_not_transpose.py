"""layernorm_forward reuses batchnorm's axis-0 statistics on x.reshape(D, N) where x.T belongs."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from correct_graph import *  # noqa: E402,F403,F401


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get('eps', 1e-5)
    N, D = x.shape
    xt = x.reshape(D, N)
    mu = xt.mean(axis=0)
    var = xt.var(axis=0)
    xhat = ((xt - mu) / np.sqrt(var + eps)).reshape(N, D)
    out = gamma * xhat + beta
    return out, (x, xhat, gamma, mu, var, eps)


def layernorm_backward(dout, cache):
    x, xhat, gamma, mu, var, eps = cache
    N, D = x.shape
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxhat = (dout * gamma).reshape(D, N)
    xhat_t = xhat.reshape(D, N)
    dx = (1. / D) / np.sqrt(var + eps) * (D * dxhat - dxhat.sum(axis=0) - xhat_t * (dxhat * xhat_t).sum(axis=0))
    return dx.reshape(N, D), dgamma, dbeta
