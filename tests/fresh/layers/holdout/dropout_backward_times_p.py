"""dropout_backward multiplies by p where the forward divided by it."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from correct_graph import *  # noqa: E402,F403,F401


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    if dropout_param['mode'] == 'train':
        p = dropout_param['p']
        return dout * (mask != 0) * p
    return dout
