"""spatial_batchnorm_backward reshapes dx back to (N, C, H, W) without moving the channel axis back."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from correct_graph import *  # noqa: E402,F403,F401


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dout_flat = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx_flat, dgamma, dbeta = batchnorm_backward(dout_flat, cache)  # noqa: F405
    dx = dx_flat.reshape(N, C, H, W)
    return dx, dgamma, dbeta
