"""Your nn.Module beside your NumPy backprop, in five lines (the lines under "the comparison").

Run: python examples/your_model/compare.py   (prints the comparison; exits 1 on a difference)
"""

import numpy as np
import torch
from numpy_mlp import backprop

import crosscheck

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
X = np.random.default_rng(0).normal(size=(16, 4))
y = np.random.default_rng(1).integers(0, 3, size=16)

# the comparison
conv = crosscheck.Convention(batch="rows", weights="in_out", bias="row", params="dict")
net = crosscheck.network_from_torch(model, loss="softmax_ce", reduction="mean", targets="labels")
params = crosscheck.torch_parameters(model, convention=conv)
expected = crosscheck.torch_gradients(model, X, y, loss=torch.nn.CrossEntropyLoss(), convention=conv)
comparison = crosscheck.assert_grads_close(expected, backprop(params, X, y), layout=conv, network=net)

print(f"{net.describe()}: {len(comparison.parameters)} gradients agree with torch.autograd "
      f"(largest relative error {max(p.rel_error for p in comparison.parameters):.1e})")
