"""crosscheck.frameworks: a user's torch or JAX model read into a declared convention, checked
against the NumPy reference's gradients of the same network (float64)."""

from __future__ import annotations

import numpy as np
import pytest

import crosscheck
from crosscheck import Convention, UsageError
from crosscheck.reference.recursive import gradients as reference_gradients

torch = pytest.importorskip("torch")

CONVENTIONS = [Convention("rows", "out_in", "vector", "pairs"), Convention("rows", "in_out", "row", "dict"),
               Convention("columns", "out_in", "column", "pairs"), Convention("columns", "in_out", "augmented", "dict")]


def _model(*layers):
    torch.manual_seed(0)
    return torch.nn.Sequential(*layers).double()


def _data(n_in=4, m=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n_in)), rng.integers(0, 3, size=m)


def _expected(net, model, conv, X_rows, Y_rows):
    """The reference's gradients for the model's parameters, in ``conv``'s layout."""
    params = crosscheck.torch_parameters(model)  # torch's own layout: canonical (W: (out, in), b: (out,))
    Xc = X_rows.T
    Yc = net.loss != "output" and conv.y_from_user(Y_rows if Y_rows.ndim == 1 or conv.batch == "rows" else Y_rows.T,
                                                   net)
    canonical = reference_gradients(net, tuple((W, b) for W, b in params), Xc, None if Yc is False else Yc)
    return conv.params_to_user(canonical, net, gradient=True)


def _in_batch(conv, X_rows, Y_rows):
    if conv.batch == "rows":
        return X_rows, Y_rows
    return X_rows.T, Y_rows if Y_rows.ndim == 1 else Y_rows.T


@pytest.mark.parametrize("conv", CONVENTIONS, ids=Convention.describe)
def test_softmax_ce_on_labels_matches_the_reference_in_every_layout(conv):
    model = _model(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    net = crosscheck.network_from_torch(model, loss="softmax_ce", reduction="mean", targets="labels")
    assert net.describe() == "4-5-3 tanh,identity softmax_ce[labels]/mean"
    X, y = _data()
    got = crosscheck.torch_gradients(model, *_in_batch(conv, X, y), loss="softmax_ce", convention=conv)
    crosscheck.assert_grads_close(_expected(net, model, conv, X, y), got, layout=conv, network=net)
    # torch's own loss object gives the same gradients
    same = crosscheck.torch_gradients(model, *_in_batch(conv, X, y), loss=torch.nn.CrossEntropyLoss(),
                                      convention=conv)
    crosscheck.assert_grads_close(got, same, layout=conv, network=net)


@pytest.mark.parametrize("reduction", ["sum", "mean", "mean_all"])
def test_half_sse_with_relu_and_sigmoid_matches_the_reference(reduction):
    model = _model(torch.nn.Linear(3, 6), torch.nn.ReLU(), torch.nn.Linear(6, 4), torch.nn.Sigmoid(),
                   torch.nn.Linear(4, 2))
    net = crosscheck.network_from_torch(model, loss="half_sse", reduction=reduction)
    assert net.activations == ("relu", "sigmoid", "identity")
    X = np.random.default_rng(1).normal(size=(5, 3))
    Y = np.random.default_rng(2).normal(size=(5, 2))
    conv = Convention("rows", "in_out", "vector", "pairs")
    got = crosscheck.torch_gradients(model, X, Y, loss="half_sse", reduction=reduction, convention=conv)
    crosscheck.assert_grads_close(_expected(net, model, conv, X, Y), got, layout=conv, network=net)


def test_a_wrong_numpy_backprop_is_caught_by_the_comparison():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "your_model"))
    try:
        import numpy_mlp
    finally:
        sys.path.pop(0)
    model = _model(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    conv = Convention("rows", "in_out", "row", "dict")
    net = crosscheck.network_from_torch(model, loss="softmax_ce", reduction="mean", targets="labels")
    params = crosscheck.torch_parameters(model, convention=conv)
    X, y = _data(m=16)
    expected = crosscheck.torch_gradients(model, X, y, loss="softmax_ce", convention=conv)
    crosscheck.assert_grads_close(expected, numpy_mlp.backprop(params, X, y), layout=conv, network=net)
    with pytest.raises(AssertionError, match="dW1"):
        crosscheck.assert_grads_close(expected, numpy_mlp.backprop_forgot_tanh_derivative(params, X, y),
                                      layout=conv, network=net)


def test_the_modules_grad_fields_are_left_alone():
    model = _model(torch.nn.Linear(2, 2))
    crosscheck.torch_gradients(model, np.ones((3, 2)), np.zeros((3, 2)))
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("module, words", [
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Softmax(dim=1)), "leave the softmax to the loss"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Dropout()), "Dropout"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.LeakyReLU(0.2)), "negative_slope=0.2"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(4, 1)), "takes 4 inputs"),
    (lambda: torch.nn.Conv1d(1, 1, 1), "nn.Sequential"),
])
def test_what_is_not_a_plain_mlp_is_refused_naming_the_module(module, words):
    with pytest.raises(UsageError, match=words):
        crosscheck.network_from_torch(module())


def test_a_module_wrapping_one_sequential_is_read():
    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GELU(), torch.nn.Linear(4, 1))

        def forward(self, x):
            return self.net(x)

    assert crosscheck.network_from_torch(MLP()).describe() == "3-4-1 gelu,identity half_sse/sum"


def test_jax_gradients_of_flax_style_and_pair_parameters_match_the_reference():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    rng = np.random.default_rng(3)
    # Flax's Dense layout: kernel (n_in, n_out); layers Dense_0 ... Dense_10 in numeric order
    flax_params = {"params": {f"Dense_{i}": {"kernel": jnp.asarray(rng.normal(size=(4, 4))),
                                             "bias": jnp.asarray(rng.normal(size=4))} for i in range(11)}}

    def apply_flax(p, x):
        for i in range(11):
            layer = p["params"][f"Dense_{i}"]
            x = x @ layer["kernel"] + layer["bias"]
            x = jnp.tanh(x) if i < 10 else x
        return x

    net = crosscheck.Network((4,) * 12, ("tanh",) * 10 + ("identity",), loss="half_sse", reduction="mean")
    X = rng.normal(size=(6, 4))
    Y = rng.normal(size=(6, 4))
    conv = Convention("rows", "in_out", "vector", "dict")
    got = crosscheck.jax_gradients(apply_flax, flax_params, X, Y, loss="half_sse", reduction="mean", convention=conv)
    params = crosscheck.jax_parameters(flax_params)  # torch's layout by default: (W: (out, in), b)
    canonical = reference_gradients(net, tuple(params), X.T, Y.T)
    crosscheck.assert_grads_close(conv.params_to_user(canonical, net, gradient=True), got, layout=conv, network=net)

    # the JAX tutorial's layout: a list of (W: (n_out, n_in), b) pairs applied as W @ x
    pairs = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]

    def apply_pairs(p, x):
        for i, (W, b) in enumerate(p):
            x = x @ W.T + b
            x = jnp.tanh(x) if i < len(p) - 1 else x
        return x

    got_pairs = crosscheck.jax_gradients(apply_pairs, pairs, X, Y, loss="half_sse", reduction="mean",
                                         convention=conv)
    crosscheck.assert_grads_close(got, got_pairs, layout=conv, network=net)
