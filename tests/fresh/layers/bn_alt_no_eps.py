"""batchnorm_backward_alt with eps dropped: 1/sqrt(var) instead of 1/sqrt(var + eps)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from correct_graph import *  # noqa: E402,F403,F401


def batchnorm_backward_alt(dout, cache):
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dx = (1. / N) * gamma / np.sqrt(var) * (N * dout - np.sum(dout, axis=0) - xhat * np.sum(dout * xhat, axis=0))
    return dx, dgamma, dbeta
