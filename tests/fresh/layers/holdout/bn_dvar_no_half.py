"""batchnorm_backward: dvar without the -1/2 of d(var^-1/2)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from correct_graph import *  # noqa: E402,F403,F401


def batchnorm_backward(dout, cache):
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N, D = dout.shape
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    dvar = np.sum(dxhat * xmu, axis=0) * -(var + eps) ** -1.5
    dmu = np.sum(-dxhat * ivar, axis=0) + dvar * np.mean(-2. * xmu, axis=0)
    dx = dxhat * ivar + dvar * 2 * xmu / N + dmu / N
    return dx, dgamma, dbeta
