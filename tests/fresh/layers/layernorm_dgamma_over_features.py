"""layernorm_backward sums dgamma and dbeta over the features (axis 1) with keepdims, giving (N, 1)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from correct_graph import *  # noqa: E402,F403,F401


def layernorm_backward(dout, cache):
    x, xhat, gamma, mu, var, eps = cache
    D = x.shape[1]
    dgamma = np.sum(dout * xhat, axis=1, keepdims=True)
    dbeta = np.sum(dout, axis=1, keepdims=True)
    dxhat = (dout * gamma).T
    xhat_t = xhat.T
    dx = (1. / D) / np.sqrt(var + eps) * (D * dxhat - dxhat.sum(axis=0) - xhat_t * (dxhat * xhat_t).sum(axis=0))
    return dx.T, dgamma, dbeta
