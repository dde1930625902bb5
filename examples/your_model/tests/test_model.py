"""A user's suite: their NumPy backprop against their own torch model, and against crosscheck."""

import numpy as np
import pytest
import torch
from numpy_mlp import backprop

import crosscheck

LAYOUT = {"batch": "rows", "weights": "in_out", "bias": "row", "params": "dict"}


@pytest.fixture
def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()


def test_numpy_backprop_matches_my_torch_model(model):
    X = np.random.default_rng(0).normal(size=(16, 4))
    y = np.random.default_rng(1).integers(0, 3, size=16)
    conv = crosscheck.Convention(**LAYOUT)
    net = crosscheck.network_from_torch(model, loss="softmax_ce", reduction="mean", targets="labels")
    params = crosscheck.torch_parameters(model, convention=conv)
    expected = crosscheck.torch_gradients(model, X, y, loss=torch.nn.CrossEntropyLoss(), convention=conv)
    crosscheck.assert_grads_close(expected, backprop(params, X, y), layout=conv, network=net)


def test_numpy_backprop_matches_the_reference():
    # a path target: found from this file's folder, then rootdir, wherever pytest is started
    crosscheck.check_implementation("numpy_mlp.py:backprop", **LAYOUT, hidden="tanh", output="identity",
                                    loss="softmax_ce", reduction="mean", targets="labels", depth=2, examples=10)


@pytest.mark.slow
def test_our_own_slow_test():
    pass


@pytest.mark.gpu
def test_our_own_gpu_test():
    pass
