"""Network classes written the way CS231n writes them, for ``file.py:Class.method`` targets.

- ``TwoLayerNet`` (assignment 1, neural_net.py of 2017-19): ``__init__(input_size, hidden_size,
  output_size, std=1e-4)`` fills ``self.params`` W1 (D, H), b1, W2 (H, C), b2; ``loss(X, y=None,
  reg=0.0)`` returns ``(loss, grads)``, the L2 term ``reg * sum(W * W)`` (``--penalty-form full``).
- ``FcTwoLayerNet`` (assignment 2, fc_net.py): ``__init__(input_dim, hidden_dim, num_classes,
  weight_scale, reg)``, ``loss(X, y)`` with ``0.5 * self.reg * sum(W * W)`` (``--penalty-form half``).
- ``FullyConnectedNet`` (fc_net.py without dropout or normalisation): ``hidden_dims`` a list.

Each has a wrong twin (the L2 gradient without its factor 2; the hidden relu' forgotten). Verified
against torch.autograd in float64 in tests/test_objects.py.
"""

import numpy as np


def _softmax_grad(scores, y):
    N = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(N), y]).sum() / N
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    return loss, dscores / N


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {}
        self.params["W1"] = std * np.random.randn(input_size, hidden_size)
        self.params["b1"] = np.zeros(hidden_size)
        self.params["W2"] = std * np.random.randn(hidden_size, output_size)
        self.params["b2"] = np.zeros(output_size)

    def loss(self, X, y=None, reg=0.0):
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        hidden = np.maximum(0, X.dot(W1) + b1)
        scores = hidden.dot(W2) + b2
        if y is None:
            return scores
        loss, dscores = _softmax_grad(scores, y)
        loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        grads = {}
        grads["W2"] = hidden.T.dot(dscores) + self._reg_grad(reg, W2)
        grads["b2"] = np.sum(dscores, axis=0)
        dhidden = dscores.dot(W2.T)
        dhidden[hidden <= 0] = 0
        grads["W1"] = X.T.dot(dhidden) + self._reg_grad(reg, W1)
        grads["b1"] = np.sum(dhidden, axis=0)
        return loss, grads

    def _reg_grad(self, reg, W):
        return 2 * reg * W


class TwoLayerNetRegOnce(TwoLayerNet):
    """The published slip: loss has reg * sum(W*W) but its gradient is written reg * W (the 2 dropped)."""

    def _reg_grad(self, reg, W):
        return reg * W


class FcTwoLayerNet:
    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0):
        self.params = {"W1": weight_scale * np.random.randn(input_dim, hidden_dim), "b1": np.zeros(hidden_dim),
                       "W2": weight_scale * np.random.randn(hidden_dim, num_classes), "b2": np.zeros(num_classes)}
        self.reg = reg

    def loss(self, X, y=None):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        a1 = np.maximum(0, X.reshape(X.shape[0], -1).dot(W1) + b1)
        scores = a1.dot(W2) + b2
        if y is None:
            return scores
        loss, dscores = _softmax_grad(scores, y)
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        grads = {"W2": a1.T.dot(dscores) + self.reg * W2, "b2": dscores.sum(axis=0)}
        da1 = dscores.dot(W2.T) * (a1 > 0)
        grads["W1"] = X.reshape(X.shape[0], -1).T.dot(da1) + self.reg * W1
        grads["b1"] = da1.sum(axis=0)
        return loss, grads


class FullyConnectedNet:
    relu_backward = True

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1, normalization=None,
                 reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}
        dims = [input_dim] + list(hidden_dims) + [num_classes]
        for i in range(self.num_layers):
            self.params[f"W{i + 1}"] = weight_scale * np.random.randn(dims[i], dims[i + 1])
            self.params[f"b{i + 1}"] = np.zeros(dims[i + 1])

    def loss(self, X, y=None):
        caches, out = [], X.reshape(X.shape[0], -1)
        L = self.num_layers
        for i in range(1, L + 1):
            z = out.dot(self.params[f"W{i}"]) + self.params[f"b{i}"]
            caches.append((out, z))
            out = np.maximum(0, z) if i < L else z
        if y is None:
            return out
        loss, dout = _softmax_grad(out, y)
        grads = {}
        for i in range(L, 0, -1):
            W = self.params[f"W{i}"]
            loss += 0.5 * self.reg * np.sum(W * W)
            inp, z = caches[i - 1]
            if i < L and self.relu_backward:
                dout = dout * (z > 0)
            grads[f"W{i}"] = inp.T.dot(dout) + self.reg * W
            grads[f"b{i}"] = dout.sum(axis=0)
            dout = dout.dot(W.T)
        return loss, grads


class FullyConnectedNetNoRelu(FullyConnectedNet):
    """relu_backward forgotten in the hidden layers."""

    relu_backward = False


# ---- functions that also return the gradient with respect to the input, as dX -----------------------

def two_layer_with_dx(params, X, y):
    """CS231n's two-layer network as a function (rows, W (D, H), dict, integer labels), returning dX too."""
    net = TwoLayerNet(params["W1"].shape[0], params["W1"].shape[1], params["W2"].shape[1])
    net.params.update(params)
    _, grads = net.loss(X, y)
    W1, b1, W2 = params["W1"], params["b1"], params["W2"]
    hidden = np.maximum(0, X.dot(W1) + b1)
    _, dscores = _softmax_grad(hidden.dot(W2) + params["b2"], y)
    grads["dX"] = (dscores.dot(W2.T) * (hidden > 0)).dot(W1.T)
    return grads


def two_layer_with_dx_unmasked(params, X, y):
    """dX through the hidden layer without relu's mask (the parameters' gradients are right)."""
    grads = two_layer_with_dx(params, X, y)
    W1, b1, W2 = params["W1"], params["b1"], params["W2"]
    hidden = np.maximum(0, X.dot(W1) + b1)
    _, dscores = _softmax_grad(hidden.dot(W2) + params["b2"], y)
    grads["dX"] = dscores.dot(W2.T).dot(W1.T)
    return grads
