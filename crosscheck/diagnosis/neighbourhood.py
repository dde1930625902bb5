"""What does the code compute? The declarable neighbourhood of a declaration, searched for an exact match.

A program can be exactly right for a network other than the declared one: an extra relu on the
output, sigmoid hidden layers where tanh is declared, one layer's activation changed, the quadratic
cost's gradient where BCE is declared. Each neighbour is the reference run on a modified ``Network``
(``dataclasses.replace``): every activation of the table in one layer, in every hidden layer, on the
output; every loss with each target form it accepts and every reduction. A neighbour whose gradients
equal what the program returned (to ``rtol``) is the diagnosis; neighbours are ranked by how few
options they change, and the match is re-computed before it is named (``verify``).

The search is vectorised over the failing case only (one reference backprop per neighbour; a
3-layer network has ~60 neighbours, a few milliseconds: ``docs/measurements.md``).
Canonical shapes: ``dW_l: (n_l, n_{l-1})``, ``db_l: (n_l,)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..model.activations import ACTIVATIONS
from ..model.case import Case
from ..model.losses import LOSSES
from ..model.network import REDUCTIONS, Network
from .mistakes import as_float64, backprop

__all__ = ["Neighbour", "neighbours", "exact_neighbours", "same_gradients"]

# activations a program plausibly computes instead of the declared one (the table, less oddities)
_PLAUSIBLE = tuple(a for a in ACTIVATIONS if a not in ("sin",))


@dataclass(frozen=True)
class Neighbour:
    """Another declaration: the network, the options it changes (``{"output": ("identity", "relu")}``),
    the diagnosis id it is named by and the sentence's flags."""

    network: Network
    changes: tuple[tuple[str, str, str], ...]  # (option, declared, other)
    id: str

    @property
    def cost(self) -> int:
        return len(self.changes)

    def flags(self) -> str:
        return " ".join(f"--{k.replace('_', '-')} {new}" if not k.startswith("layer") else f"layer {k[5:]} {new}"
                        for k, _old, new in self.changes)

    def sentence(self) -> str:
        said = ", ".join(f"{old}" for _k, old, _new in self.changes)
        what = "; ".join(_phrase(k, old, new) for k, old, new in self.changes)
        return (f"your code computes exactly the gradient of {what} (checked as {said}): if that is the network "
                "you mean, declare it; otherwise the forward or backward pass computes it by mistake")


def _phrase(key: str, old: str, new: str) -> str:
    if key.startswith("layer"):
        return f"a network whose layer {key[5:]} activation is {new}"
    return f"--{key.replace('_', '-')} {new}"


def _variant(net: Network, **changes: Any) -> Network | None:
    try:
        return replace(net, **changes)
    except (ValueError, TypeError):
        return None


def neighbours(net: Network) -> list[Neighbour]:
    """Declarations one or two options away from ``net`` (activations, loss with targets, reduction)."""
    out: list[Neighbour] = []
    acts = list(net.activations)
    k = net.depth
    if not all(isinstance(a, str) for a in acts):
        return out  # per-neuron activations (seed 000): no table neighbourhood
    for name in _PLAUSIBLE:
        if name != acts[-1]:
            v = _variant(net, activations=tuple(acts[:-1]) + (name,))
            if v is not None:
                out.append(Neighbour(v, (("output", acts[-1], name),), "activation"))
        if k > 1 and len(set(acts[:-1])) == 1 and name != acts[0]:
            v = _variant(net, activations=(name,) * (k - 1) + (acts[-1],))
            if v is not None:
                out.append(Neighbour(v, (("hidden", acts[0], name),), "activation"))
        if k > 2:
            for layer in range(1, k):
                if name != acts[layer - 1]:
                    changed = acts[:layer - 1] + [name] + acts[layer:]
                    v = _variant(net, activations=tuple(changed))
                    if v is not None:
                        out.append(Neighbour(v, ((f"layer{layer}", acts[layer - 1], name),), "activation"))
    for loss_name, loss in LOSSES.items():
        for targets in loss.targets:
            for reduction in REDUCTIONS:
                changes = []
                if loss_name != net.loss:
                    changes.append(("loss", net.loss, loss_name))
                if reduction != net.reduction:
                    changes.append(("reduction", net.reduction, reduction))
                if not changes or (loss_name == net.loss and targets != net.targets):
                    continue  # reductions alone are the matcher's (scale); another target reading of the same Y is
                v = _variant(net, loss=loss_name, targets=targets, reduction=reduction)
                if v is not None and not (loss.needs_target is False and LOSSES[net.loss].needs_target):
                    out.append(Neighbour(v, tuple(changes), "loss"))
    out.sort(key=lambda n: n.cost)
    return out


def same_gradients(got: tuple, want: tuple, rtol: float = 1e-6) -> bool:
    """Canonical gradient tuples equal to ``rtol`` of the whole (entries near zero judged absolutely)."""
    flat = lambda g: np.concatenate([np.ravel(a) for pair in g for a in pair if a is not None])  # noqa: E731
    try:
        a, b = flat(got), flat(want)
    except ValueError:
        return False
    if a.shape != b.shape:
        return False
    scale = max(float(np.max(np.abs(b))), 1e-300)
    return bool(np.all(np.abs(a - b) <= rtol * scale + rtol * np.abs(b)))


def exact_neighbours(case: Case, got: tuple, rtol: float = 1e-6) -> list[Neighbour]:
    """Neighbours of the case's network whose reference gradients are ``got`` (canonical), fewest changes first;
    each match computed twice (the second from a fresh copy of the inputs) before it is returned."""
    params, X, Y = as_float64(case)
    if Y is not None and case.network.targets == "labels":
        Y = np.asarray(Y, dtype=np.float64)
    found = []
    for n in neighbours(case.network):
        try:
            grads, _ = backprop(n.network, params, X, Y)
        except (ValueError, FloatingPointError, IndexError):
            continue
        if same_gradients(got, grads, rtol):
            again, _ = backprop(n.network, *as_float64(case))
            if same_gradients(got, again, rtol):
                found.append(n)
        if found and n.cost > found[0].cost:
            break
    return found
