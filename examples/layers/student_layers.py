"""A student's layers.py with two classic mistakes, for the README's red report:

- affine_backward returns dw transposed (dout.T @ x instead of x.T @ dout);
- batchnorm_backward forgets that the batch mean depends on x (no term through mu).

Everything else is the correct ``layers.py`` beside it.

    crosscheck check examples/layers/student_layers.py --api cs231n --layers affine,relu,batchnorm
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layers import *  # noqa: E402, F403


def affine_backward(dout, cache):
    x, w, b = cache
    x_rows = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), dout.T @ x_rows, dout.sum(axis=0)


def batchnorm_backward(dout, cache):
    xhat, gamma, std = cache
    dxhat = dout * gamma
    dx = (dxhat - xhat * (dxhat * xhat).mean(axis=0)) / std
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)
