"""layernorm_backward drops the mean term of dx (sum of dxhat)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from correct_graph import *  # noqa: E402,F403,F401


def layernorm_backward(dout, cache):
    x, xhat, gamma, mu, var, eps = cache
    D = x.shape[1]
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxhat = (dout * gamma).T
    xhat_t = xhat.T
    dx = (1. / D) / np.sqrt(var + eps) * (D * dxhat - xhat_t * (dxhat * xhat_t).sum(axis=0))
    return dx.T, dgamma, dbeta
