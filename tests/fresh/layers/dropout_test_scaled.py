"""dropout_forward in test mode multiplies by p (the non-inverted convention) although training already divided by p."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from correct_graph import *  # noqa: E402,F403,F401

_train_dropout = dropout_forward  # noqa: F405


def dropout_forward(x, dropout_param):
    if dropout_param['mode'] == 'test':
        return x * dropout_param['p'], (dropout_param, None)
    return _train_dropout(x, dropout_param)
