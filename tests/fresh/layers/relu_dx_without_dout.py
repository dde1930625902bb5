"""relu_backward returns the mask (x > 0) without multiplying by dout."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from correct_graph import *  # noqa: E402,F403,F401


def relu_backward(dout, cache):
    x = cache
    dx = (x > 0).astype(dout.dtype)
    return dx
