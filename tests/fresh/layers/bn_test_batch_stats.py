"""batchnorm_forward in test mode normalises with the batch's own mean and variance."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from correct_graph import *  # noqa: E402,F403,F401

_train_forward = batchnorm_forward  # noqa: F405


def batchnorm_forward(x, gamma, beta, bn_param):
    if bn_param['mode'] == 'test':
        eps = bn_param.get('eps', 1e-5)
        xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
        return gamma * xhat + beta, None
    return _train_forward(x, gamma, beta, bn_param)
