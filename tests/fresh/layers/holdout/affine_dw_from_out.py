"""affine_backward computes dw with x.reshape(-1, N) where x.reshape(N, -1).T belongs."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from correct_graph import *  # noqa: E402,F403,F401


def affine_backward(dout, cache):
    x, w, b = cache
    N = x.shape[0]
    dx = np.dot(dout, w.T).reshape(x.shape)
    dw = np.dot(x.reshape(-1, N), dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db
