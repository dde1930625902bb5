"""relu_backward masks with dout > 0 instead of x > 0."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from correct_graph import *  # noqa: E402,F403,F401


def relu_backward(dout, cache):
    dx = dout.copy()
    dx[dout < 0] = 0
    return dx
