"""Your model beside your code: a torch or JAX model's parameters and gradients, read into the
layout your NumPy backprop uses, so the two can be compared in a few lines::

    conv = crosscheck.Convention("rows", "in_out", "row", "dict")     # how my NumPy code lays out W, b
    net = crosscheck.network_from_torch(model, loss="softmax_ce", reduction="mean", targets="labels")
    params = crosscheck.torch_parameters(model, convention=conv)      # {"W1": (n_0, n_1), "b1": (1, n_1), ...}
    expected = crosscheck.torch_gradients(model, X, y, loss="softmax_ce", convention=conv)
    crosscheck.assert_grads_close(expected, my_backprop(params, X, y), layout=conv, network=net)

The model's affine layers are read in order: for torch the ``nn.Linear`` modules in registration
order (``module.modules()``: the order an ``nn.Sequential`` runs them), for JAX the Flax-style
``{"kernel": (n_in, n_out), "bias": (n_out,)}`` dicts of a parameter tree (``Dense_0``,
``Dense_1``, ... in numeric order) or a list of ``(W, b)`` pairs with ``W: (n_out, n_in)``.
Each layer's input width must be the previous layer's output width.

``loss`` is a crosscheck loss name (``crosscheck check --help`` lists them: ``half_sse``, ``sse``,
``bce``, ``softmax_ce``, ``output``, ``readout``), reduced by ``reduction`` (``sum``, ``mean`` over
samples, ``mean_all`` over samples and output units), computed with the framework's own
primitives; or a callable ``loss(output, Y) -> scalar`` such as ``torch.nn.CrossEntropyLoss()``.
X and Y are in the convention's batch layout (``rows``: one sample per row, as torch takes them);
class labels are a 1-D integer array.

torch and JAX are imported only when these functions are called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import UsageError
from .model.conventions import Convention
from .model.network import Network

__all__ = ["as_convention", "network_from_torch", "torch_parameters", "torch_gradients", "jax_parameters",
           "jax_gradients"]

# torch module class name -> (crosscheck activation, the attributes that must keep their default)
_TORCH_ACTIVATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Identity": ("identity", {}),
    "ReLU": ("relu", {}),
    "LeakyReLU": ("leaky_relu", {"negative_slope": 0.01}),
    "ELU": ("elu", {"alpha": 1.0}),
    "Sigmoid": ("sigmoid", {}),
    "Tanh": ("tanh", {}),
    "Softplus": ("softplus", {"beta": 1.0}),
    "GELU": ("gelu", {"approximate": "none"}),
}


def as_convention(layout: Any) -> Convention:
    """A :class:`Convention`, a dict of its fields, or ``"batch/weights/bias/params"``."""
    if isinstance(layout, Convention):
        return layout
    try:
        if isinstance(layout, Mapping):
            return Convention.from_dict(layout)
        if isinstance(layout, str) and layout.count("/") == 3:
            return Convention(*layout.split("/"))
    except (TypeError, ValueError) as e:
        raise UsageError(f"layout {layout!r}: {e}") from None
    raise UsageError(f"layout must be a crosscheck.Convention, a dict of its fields or 'batch/weights/bias/params'"
                     f", got {layout!r}")


# ---- torch ----------------------------------------------------------------------------------------------
def _torch_linears(module: Any) -> list[Any]:
    import torch

    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"expected a torch.nn.Module, got {type(module).__name__}")
    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise UsageError(f"{type(module).__name__} holds no nn.Linear layer")
    for i in range(1, len(linears)):
        if linears[i].in_features != linears[i - 1].out_features:
            raise UsageError(f"nn.Linear layers {i} and {i + 1} do not chain ({linears[i - 1].out_features} outputs, "
                             f"{linears[i].in_features} inputs): crosscheck reads a plain feed-forward stack")
    if len({m.bias is None for m in linears}) > 1:
        raise UsageError("some nn.Linear layers have a bias and some do not: crosscheck's networks have all or none")
    return linears


def network_from_torch(module: Any, *, loss: str = "half_sse", reduction: str = "sum", targets: str = "soft",
                       alpha: Sequence[float] | None = None) -> Network:
    """The :class:`Network` of a plain MLP: an ``nn.Sequential`` of ``nn.Linear`` layers, each
    followed by at most one activation (``Tanh``, ``ReLU``, ``Sigmoid``, ``LeakyReLU()``, ``ELU()``,
    ``Softplus()``, ``GELU()``, ``Identity``), or a module whose only child is such a Sequential.
    A softmax belongs to the loss (``softmax_ce``), not to the network. Raises ``UsageError``
    naming the first module that does not fit."""
    import torch

    seq = module
    children = list(module.children()) if isinstance(module, torch.nn.Module) else []
    if not isinstance(seq, torch.nn.Sequential) and len(children) == 1 and isinstance(children[0],
                                                                                      torch.nn.Sequential):
        seq = children[0]
    if not isinstance(seq, torch.nn.Sequential):
        raise UsageError(f"network_from_torch reads an nn.Sequential of Linear layers and activations, got "
                         f"{type(module).__name__}; for another module use torch_gradients with your own Network")
    widths: list[int] = []
    acts: list[str] = []
    pending: str | None = None
    for i, m in enumerate(seq):
        name = type(m).__name__
        if isinstance(m, torch.nn.Linear):
            if widths:
                acts.append(pending or "identity")
            elif i:
                raise UsageError(f"module {i} ({name}): the first layer must be nn.Linear")
            if widths and widths[-1] != m.in_features:
                raise UsageError(f"module {i} ({name}) takes {m.in_features} inputs, the layer before gives "
                                 f"{widths[-1]}")
            widths += [m.in_features] if not widths else []
            widths.append(m.out_features)
            pending = None
        elif name in _TORCH_ACTIVATIONS and widths:
            if pending is not None:
                raise UsageError(f"module {i} ({name}): two activations in a row after one Linear layer")
            act, defaults = _TORCH_ACTIVATIONS[name]
            for attr, value in defaults.items():
                if getattr(m, attr, value) != value:
                    raise UsageError(f"module {i} ({name}): {attr}={getattr(m, attr)!r}; crosscheck's {act} uses "
                                     f"{attr}={value!r}")
            pending = act
        elif name in ("Softmax", "LogSoftmax"):
            raise UsageError(f"module {i} ({name}): leave the softmax to the loss (loss='softmax_ce' on the logits)")
        else:
            raise UsageError(f"module {i} ({name}) is not an nn.Linear layer or a supported activation "
                             f"({', '.join(_TORCH_ACTIVATIONS)})")
    if not widths:
        raise UsageError("the Sequential holds no nn.Linear layer")
    acts.append(pending or "identity")
    linears = _torch_linears(seq)
    try:
        return Network(tuple(widths), tuple(acts), loss=loss, reduction=reduction, bias=linears[0].bias is not None,
                       targets=targets, alpha=None if alpha is None else tuple(alpha))
    except ValueError as e:
        raise UsageError(f"network_from_torch: {e}") from None


def _shape_network(widths: Sequence[int], bias: bool) -> Network:
    """A network with the right widths and bias, for laying out arrays (activations do not matter)."""
    return Network(tuple(widths), "identity", loss="half_sse", bias=bias)


def _to_user(canonical: list[tuple[np.ndarray, np.ndarray | None]], convention: Any, *, gradient: bool) -> Any:
    conv = as_convention(convention) if convention is not None else Convention("rows", "out_in", "vector", "pairs")
    widths = [canonical[0][0].shape[1]] + [W.shape[0] for W, _ in canonical]
    net = _shape_network(widths, canonical[0][1] is not None)
    try:
        conv.check_network(net)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return conv.params_to_user(tuple(canonical), net, gradient=gradient)


def torch_parameters(module: Any, *, convention: Any = None) -> Any:
    """The module's nn.Linear weights and biases as float64 NumPy arrays in ``convention``'s layout
    (default: torch's own, ``rows/out_in/vector/pairs``: ``[(W1: (n_1, n_0), b1: (n_1,)), ...]``)."""
    canonical = [(m.weight.detach().cpu().double().numpy().copy(),
                  None if m.bias is None else m.bias.detach().cpu().double().numpy().copy())
                 for m in _torch_linears(module)]
    return _to_user(canonical, convention, gradient=False)


def _named_loss(name: str, reduction: str, targets: str | None, n_out: int, library: str) -> Callable:
    """``f(A: (m, n_k) rows, Y) -> scalar`` from crosscheck's loss table, in ``library``'s primitives."""
    from .model.losses import get_loss
    from .model.network import REDUCTIONS

    try:
        spec = get_loss(name)
    except (KeyError, ValueError) as e:
        raise UsageError(f"loss: {e}") from None
    if reduction not in REDUCTIONS:
        raise UsageError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")
    if library == "torch":
        import torch as lib

        per_soft, per_labels = spec.torch(lib), spec.torch_labels and spec.torch_labels(lib)
    else:
        import jax as lib

        per_soft, per_labels = spec.jax(lib), spec.jax_labels and spec.jax_labels(lib)

    def f(A: Any, Y: Any, alpha: Any) -> Any:
        m = A.shape[0]
        if Y is not None and Y.ndim == 1:  # class labels
            if per_labels is None:
                raise UsageError(f"loss {name!r} takes no class labels; pass Y with one row per sample")
            per = per_labels(A.T, Y, alpha)
        else:
            per = per_soft(A.T, None if Y is None else Y.T, alpha)
        scale = {"sum": 1.0, "mean": 1.0 / m, "mean_all": 1.0 / (m * n_out)}[reduction]
        return per.sum() * scale

    return f


def _batch_rows(X: Any, Y: Any, conv: Convention | None) -> tuple[np.ndarray, Any]:
    """X and Y in rows (the model's layout), from the convention's batch layout."""
    X = np.asarray(X)
    Y = None if Y is None else np.asarray(Y)
    if conv is not None and conv.batch != "rows":
        X = X.T
        Y = Y if Y is None or Y.ndim == 1 else Y.T
    return X, Y


def torch_gradients(module: Any, X: Any, Y: Any = None, *, loss: str | Callable = "half_sse", reduction: str = "mean",
                    convention: Any = None, alpha: Sequence[float] | None = None) -> Any:
    """The gradient of ``loss(module(X), Y)`` with respect to each nn.Linear weight and bias, as
    float64 NumPy arrays in ``convention``'s layout (keys ``dW1, db1, ...`` for ``params="dict"``;
    default torch's own layout, ``[(dW1: (n_1, n_0), db1: (n_1,)), ...]``).

    X: ``(m, n_0)`` for batch ``rows`` (the default), ``(n_0, m)`` for ``columns``. The module runs
    in its own dtype (cast it with ``module.double()`` for a float64 comparison); X and Y are cast
    to it. The module's ``.grad`` fields are left untouched (``torch.autograd.grad``)."""
    import torch

    conv = None if convention is None else as_convention(convention)
    linears = _torch_linears(module)
    Xr, Yr = _batch_rows(X, Y, conv)
    dtype = linears[0].weight.dtype
    device = linears[0].weight.device
    tX = torch.as_tensor(Xr, dtype=dtype, device=device)
    tY = None if Yr is None else torch.as_tensor(Yr, dtype=torch.long if Yr.dtype.kind in "iu" else dtype,
                                                 device=device)
    out = module(tX)
    if callable(loss):
        value = loss(out, tY)
    else:
        n_out = linears[-1].out_features
        a = torch.as_tensor(alpha if alpha is not None else _default_alpha(n_out), dtype=dtype, device=device)
        value = _named_loss(loss, reduction, None, n_out, "torch")(out, tY, a)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise UsageError("the loss must be a scalar tensor")
    leaves = [p for m in linears for p in ((m.weight,) if m.bias is None else (m.weight, m.bias))]
    grads = torch.autograd.grad(value.reshape(()), leaves, allow_unused=True)
    host = [np.zeros(tuple(p.shape)) if g is None else g.detach().cpu().double().numpy() for p, g in zip(leaves, grads)]
    canonical, it = [], iter(host)
    for m in linears:
        dW = next(it)
        canonical.append((dW, None if m.bias is None else next(it)))
    return _to_user(canonical, conv, gradient=True)


def _default_alpha(n: int) -> tuple[float, ...]:
    return Network((1, n), "identity", loss="readout").alpha


# ---- JAX ------------------------------------------------------------------------------------------------
def _dense_layers(tree: Any) -> list[tuple[Any, Any]]:
    """``[(W: (n_out, n_in), b or None), ...]`` from a Flax-style tree or a list of (W, b) pairs."""
    if isinstance(tree, Mapping):
        if "kernel" in tree:
            return [(np.asarray(tree["kernel"]).T, None if tree.get("bias") is None else np.asarray(tree["bias"]))]

        def order(key: Any) -> tuple:
            text = str(key)
            digits = "".join(ch for ch in text if ch.isdigit())
            return (text.rstrip("0123456789_"), int(digits) if digits else -1, text)

        layers: list[tuple[Any, Any]] = []
        for key in sorted(tree, key=order):
            layers += _dense_layers(tree[key])
        return layers
    if isinstance(tree, (list, tuple)):
        if len(tree) == 2 and hasattr(tree[0], "shape") and np.ndim(tree[0]) == 2 and (
                tree[1] is None or (hasattr(tree[1], "shape") and np.ndim(tree[1]) == 1)):
            return [(np.asarray(tree[0]), None if tree[1] is None else np.asarray(tree[1]))]
        layers = []
        for item in tree:
            layers += _dense_layers(item)
        return layers
    if hasattr(tree, "shape") and np.ndim(tree) == 2:  # a weight without a bias
        return [(np.asarray(tree), None)]
    raise UsageError(f"cannot read a dense layer from {type(tree).__name__}: expected Flax-style "
                     "{'kernel', 'bias'} dicts or a list of (W, b) pairs")


def _canonical_from_jax(tree: Any) -> list[tuple[np.ndarray, np.ndarray | None]]:
    layers = [(np.asarray(W, dtype=np.float64), None if b is None else np.asarray(b, dtype=np.float64))
              for W, b in _dense_layers(tree)]
    if not layers:
        raise UsageError("the parameter tree holds no dense layer")
    for i in range(1, len(layers)):
        if layers[i][0].shape[1] != layers[i - 1][0].shape[0]:
            raise UsageError(f"dense layers {i} and {i + 1} do not chain ({layers[i - 1][0].shape[0]} outputs, "
                             f"{layers[i][0].shape[1]} inputs)")
    return layers


def jax_parameters(params: Any, *, convention: Any = None) -> Any:
    """A JAX model's dense-layer parameters as float64 NumPy arrays in ``convention``'s layout."""
    return _to_user(_canonical_from_jax(params), convention, gradient=False)


def jax_gradients(apply_fn: Callable, params: Any, X: Any, Y: Any = None, *, loss: str | Callable = "half_sse",
                  reduction: str = "mean", convention: Any = None, alpha: Sequence[float] | None = None) -> Any:
    """``jax.grad`` of ``loss(apply_fn(params, X), Y)`` with respect to ``params``, its dense layers
    read into ``convention``'s layout (see the module docstring). ``apply_fn(params, X)`` is the
    model's forward pass on rows, e.g. a Flax module's ``model.apply``."""
    import jax
    import jax.numpy as jnp

    conv = None if convention is None else as_convention(convention)
    Xr, Yr = _batch_rows(X, Y, conv)
    dtype = np.asarray(_dense_layers(params)[0][0]).dtype
    jX = jnp.asarray(Xr, dtype=dtype)
    jY = None if Yr is None else jnp.asarray(Yr, dtype=None if Yr.dtype.kind in "iu" else dtype)
    if callable(loss):
        def objective(p: Any) -> Any:
            return loss(apply_fn(p, jX), jY)
    else:
        n_out = _canonical_from_jax(params)[-1][0].shape[0]
        a = jnp.asarray(alpha if alpha is not None else _default_alpha(n_out), dtype=dtype)
        f = _named_loss(loss, reduction, None, n_out, "jax")

        def objective(p: Any) -> Any:
            return f(apply_fn(p, jX), jY, a)

    grads = jax.grad(objective)(params)
    return _to_user(_canonical_from_jax(grads), conv, gradient=True)
