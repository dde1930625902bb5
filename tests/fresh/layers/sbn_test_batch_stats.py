"""spatial_batchnorm_forward in test mode normalises with the batch's statistics over N, H, W."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from correct_graph import *  # noqa: E402,F403,F401

_spatial_train = spatial_batchnorm_forward  # noqa: F405


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    if bn_param['mode'] == 'test':
        eps = bn_param.get('eps', 1e-5)
        mu = x.mean(axis=(0, 2, 3), keepdims=True)
        var = x.var(axis=(0, 2, 3), keepdims=True)
        out = gamma[None, :, None, None] * (x - mu) / np.sqrt(var + eps) + beta[None, :, None, None]
        return out, None
    return _spatial_train(x, gamma, beta, bn_param)
