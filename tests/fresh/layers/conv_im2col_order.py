"""im2col conv: each column holds a patch in (HH, WW, C) order while the filters are flattened in (C, HH, WW) order."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from correct_graph import *  # noqa: E402,F403,F401


def _im2col(x_pad, HH, WW, stride, H_out, W_out):
    N = x_pad.shape[0]
    cols = []
    for i in range(H_out):
        for j in range(W_out):
            patch = x_pad[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            cols.append(patch.transpose(0, 2, 3, 1).reshape(N, -1))  # (N, HH*WW*C)
    return np.stack(cols, axis=2)  # (N, K, H_out*W_out)


def conv_forward_naive(x, w, b, conv_param):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param['stride'], conv_param['pad']
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')
    cols = _im2col(x_pad, HH, WW, stride, H_out, W_out)
    w_row = w.reshape(F, -1)
    out = np.einsum('fk,nkp->nfp', w_row, cols) + b[None, :, None]
    return out.reshape(N, F, H_out, W_out), (x, w, b, conv_param)
