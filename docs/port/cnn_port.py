"""The worked CNN port of docs/port.md: a torch CNN and its flax.linen port (NHWC inside)."""

import flax.linen as fnn
import jax.numpy as jnp
import torch
from torch import nn


class TorchCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.head = nn.Linear(8, 10)

    def forward(self, x):                      # x: (B, 3, H, W), NCHW
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.conv2(h))
        return self.head(h.mean((2, 3)))


class FlaxCNN(fnn.Module):
    padding2: object = ((1, 1), (1, 1))        # torch's padding=1, written as explicit pairs

    def setup(self):
        self.conv1 = fnn.Conv(8, (3, 3), padding=((1, 1), (1, 1)))
        self.bn1 = fnn.BatchNorm(use_running_average=True, momentum=0.9, epsilon=1e-5)
        self.conv2 = fnn.Conv(8, (3, 3), strides=(2, 2), padding=self.padding2)
        self.head = fnn.Dense(10)

    def __call__(self, x):                     # the same NCHW input as torch
        x = jnp.transpose(x, (0, 2, 3, 1))     # -> NHWC, flax's layout
        h = fnn.relu(self.bn1(self.conv1(x)))
        h = fnn.relu(self.conv2(h))
        return self.head(h.mean((1, 2)))


def make_torch():
    torch.manual_seed(0)
    return TorchCNN()


def make_jax():
    return FlaxCNN()


def make_jax_same():
    return FlaxCNN(padding2="SAME")
