"""svm_loss subtracts the count of positive margins of the whole batch at each correct class."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from correct_graph import *  # noqa: E402,F403,F401


def svm_loss(x, y):
    N = x.shape[0]
    correct = x[np.arange(N), y]
    margins = np.maximum(0, x - correct[:, None] + 1.0)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    dx = (margins > 0).astype(float)
    dx[np.arange(N), y] = -np.sum(margins > 0)
    dx /= N
    return loss, dx
