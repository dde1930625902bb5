"""The correct layers with dropout in the older years' convention: ``dropout_param['p']`` is the
probability of *dropping* a unit (``crosscheck check ... --api cs231n --dropout-p drop``)."""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "examples", "layers"))
from layers import *  # noqa: E402, F403


def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode != "train":
        return x, (dropout_param, None)
    mask = (np.random.rand(*x.shape) >= p) / (1 - p)
    return x * mask, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout
