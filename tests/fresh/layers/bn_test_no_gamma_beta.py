"""batchnorm_forward in test mode returns the normalised x without gamma and beta."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from correct_graph import *  # noqa: E402,F403,F401

_train_forward = batchnorm_forward  # noqa: F405


def batchnorm_forward(x, gamma, beta, bn_param):
    if bn_param['mode'] == 'test':
        eps = bn_param.get('eps', 1e-5)
        out = (x - bn_param['running_mean']) / np.sqrt(bn_param['running_var'] + eps)
        return out, None
    return _train_forward(x, gamma, beta, bn_param)
