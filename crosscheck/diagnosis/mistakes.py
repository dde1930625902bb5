"""The mechanism half of the mistake catalogue: the reference computation with one thing done wrong.

Each mechanism is a modified delta recursion (``backprop``'s hooks) planted at every place it
can sit (one layer, every hidden layer, every layer), producing the canonical gradients a
program with that mistake would return: ``activation_derivative``,
``missing_activation_derivative``, ``no_transpose_in_backprop``, ``single_sample`` and
``kink_convention``. ``crosscheck.diagnosis.diagnose`` matches an implementation's output against them.

Canonical shapes throughout: ``W_l: (n_l, n_{l-1})``, ``Z_l, A_l, delta_l: (n_l, m)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..model.activations import ACTIVATIONS, get_activation
from ..model.case import Case
from ..model.kinks import kink_subgradients
from ..model.network import Network
from ..reference.forward import forward, output_gradient, with_penalty
from .implied import describe_implied, implied_sigma_prime, wrong_derivatives

__all__ = ["backprop", "Candidate", "candidates", "implied_candidates", "combine", "as_float64", "join_words",
           "SigmaPrime", "BackMatrix"]


def join_words(labels: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    labels = list(labels)
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


SigmaPrime = Callable[[int, np.ndarray, np.ndarray], np.ndarray]  # (layer, Z_l, A_l) -> Sigma'_l, (n_l, m)
BackMatrix = Callable[[int, np.ndarray], np.ndarray]  # (layer l, W_l: (n_l, n_{l-1})) -> stand-in for W_l^T


def backprop(network: Network, params: Any, X: np.ndarray, Y: Any, *, sigma_prime: SigmaPrime | None = None,
             back_matrix: BackMatrix | None = None) -> tuple[tuple, list]:
    """The delta recursion with hooks; without hooks it is ``crosscheck.reference.recursive``.

        delta_k = dL/dA_k o sigma_prime(k)          delta_l = back_matrix(W_{l+1}) delta_{l+1} o sigma_prime(l)
        dW_l = delta_l A_{l-1}^T                    db_l = delta_l 1

    Returns (canonical gradients, deltas) with ``deltas[l]: (n_l, m)`` (``deltas[0]`` unused)."""
    Z, A = forward(network, params, X)
    k = network.depth
    sp = sigma_prime or (lambda layer, z, a: network.sigma_prime(layer, z))
    bm = back_matrix or (lambda layer, W: W.T)
    grads: list = [None] * k
    deltas: list = [None] * (k + 1)
    delta = output_gradient(network, A[k], Y) * sp(k, Z[k], A[k])
    for layer in range(k, 0, -1):
        W, b = params[layer - 1]
        deltas[layer] = delta
        grads[layer - 1] = (delta @ A[layer - 1].T, delta.sum(axis=-1) if b is not None else None)
        if layer > 1:
            delta = (bm(layer, W) @ delta) * sp(layer - 1, Z[layer - 1], A[layer - 1])
    # the weight penalty's gradient is the declared one in every mechanism (it has no delta)
    return with_penalty(network, tuple(grads), params, X), deltas


@dataclass(eq=False)
class Candidate:
    """The output of a program with one mechanism mistake; ``layers`` where it was planted."""

    id: str
    detail: str
    grads: tuple
    deltas: list
    layers: tuple[int, ...] = ()
    prior: int = 1  # among equally simple explanations, the lower the likelier
    sigma_prime: SigmaPrime | None = None  # the hooks that made it, so two can be combined
    back_matrix: BackMatrix | None = None
    parts: tuple[Candidate, ...] = ()  # a combination of two mechanisms


def combine(case: Case, first: Candidate, second: Candidate) -> Candidate | None:
    """Two mechanisms in one program (e.g. a wrong sigma' in layer 1 and no transpose in layer 3),
    or None when their hooks collide (both replace sigma' in one layer)."""
    hooks = [c for c in (first, second) if c.sigma_prime is not None or c.back_matrix is not None]
    if len(hooks) != 2 or (first.sigma_prime is not None and second.sigma_prime is not None
                           and set(first.layers) & set(second.layers)):
        return None
    if first.back_matrix is not None and second.back_matrix is not None:
        return None
    sps = [c for c in (first, second) if c.sigma_prime is not None]
    bm = first.back_matrix or second.back_matrix
    net, (params, X, Y) = case.network, as_float64(case)

    def sp(layer, z, a):
        for c in sps:
            if layer in c.layers:
                return c.sigma_prime(layer, z, a)
        return net.sigma_prime(layer, z)
    grads, deltas = backprop(net, params, X, Y, sigma_prime=sp, back_matrix=bm)
    return Candidate(first.id, f"{first.detail}; and {second.detail}", grads, deltas,
                     tuple(sorted(set(first.layers) | set(second.layers))), max(first.prior, second.prior),
                     parts=(first, second))


def _layer_sets(k: int, first: int = 1) -> list[tuple[int, ...]]:
    """Where a mistake may sit: one layer, every hidden layer, or every layer."""
    sets = [(layer,) for layer in range(k, first - 1, -1)]
    hidden = tuple(range(max(first, 1), k))
    if len(hidden) >= 2:
        sets.append(hidden)
    if k - first + 1 >= 2:
        sets.append(tuple(range(first, k + 1)))
    return sets


def _layer_name(network: Network, layer: int) -> str:
    a = network.activations[layer - 1]
    return a if isinstance(a, str) else "[" + "|".join(a) + "]"


def _where(network: Network, layers: tuple[int, ...]) -> str:
    """"layer 2 (sigmoid)" or "layers 1 (tanh) and 2 (sigmoid)"."""
    parts = [f"{layer} ({_layer_name(network, layer)})" for layer in sorted(layers)]
    return ("layer " if len(parts) == 1 else "layers ") + join_words(parts)


def _sigma_prime_mistakes(network: Network) -> list[tuple[str, str, Callable[[int, Any, Any], Any], int]]:
    """(id, description, per-layer replacement of Sigma'_l or None where it does not apply, prior).

    ``prior`` orders equally simple explanations: a missing factor first, then the declared
    activation's derivative written wrong (``crosscheck.diagnosis.implied``), then another activation's."""
    out: list = [("missing_activation_derivative", "the factor sigma'(Z) is missing from delta",
                  lambda layer, z, a: np.ones_like(z), 0)]
    names = sorted({a for a in network.activations if isinstance(a, str)})
    for name in names:
        for w in wrong_derivatives(name):
            def wrong(layer, z, a, name=name, w=w):
                return w.fn(z, a) if network.activations[layer - 1] == name else None
            out.append(("activation_derivative", w.sentence, wrong, 1))

    def at_activation(layer, z, a):  # per-neuron layers too
        return None if isinstance(network.activations[layer - 1], str) else network.sigma_prime(layer, a)
    out.append(("activation_derivative", "sigma' is evaluated at the activation A = sigma(Z) instead of the "
                "pre-activation Z", at_activation, 1))
    for other in ACTIVATIONS:
        if other == "identity":  # its derivative, 1, is missing_activation_derivative
            continue
        act = get_activation(other)

        def other_prime(layer, z, a, other=other, act=act):
            own = network.activations[layer - 1]
            # the same function with another kink subgradient is kink_convention's business
            return None if isinstance(own, str) and own.partition(":")[0] == other else act.prime(z)
        out.append(("activation_derivative", f"the derivative of {other} is used", other_prime, 2))
    return out


def candidates(case: Case) -> list[Candidate]:
    """Every mechanism mistake, planted at every place it can sit, on this case (float64)."""
    net, (params, X, Y) = case.network, as_float64(case)
    k, m = net.depth, case.batch_size
    out: list[Candidate] = []
    Z, A = forward(net, params, X)
    for mid, what, repl, prior in _sigma_prime_mistakes(net):
        for layers in _layer_sets(k):
            if all(repl(layer, Z[layer], A[layer]) is None for layer in layers):
                continue  # does not apply in these layers
            def sp(layer, z, a, layers=layers, repl=repl):
                v = repl(layer, z, a) if layer in layers else None
                return net.sigma_prime(layer, z) if v is None else v
            grads, deltas = backprop(net, params, X, Y, sigma_prime=sp)
            out.append(Candidate(mid, f"{what}, in {_where(net, layers)}", grads, deltas, layers, prior,
                                 sigma_prime=sp))
    for order in ("C", "F"):
        for layers in _layer_sets(k, first=2):
            def bm(layer, W, layers=layers, order=order):
                return W.reshape(W.shape[::-1], order=order) if layer in layers else W.T
            grads, deltas = backprop(net, params, X, Y, back_matrix=bm)
            ws = join_words([f"W{layer}" for layer in sorted(layers)])
            square = all(net.widths[layer] == net.widths[layer - 1] for layer in layers)
            if square and order == "F":
                continue  # a square W reshaped is W itself, in either order
            if square:  # the code ran only because the shapes happened to fit
                detail = (f"the backward pass multiplies the delta by {ws} where the transpose belongs (square, so "
                          "the shapes fit; elsewhere this raises a shape error): delta_(l-1) = (W_l^T delta_l) o "
                          "sigma'(Z_(l-1))")
            else:
                how = "reshaped" + (" in Fortran order" if order == "F" else "")
                detail = (f"the backward pass multiplies the delta by {ws} {how} to the transposed shape instead "
                          "of transposed: delta_(l-1) = (W_l^T delta_l) o sigma'(Z_(l-1))")
            out.append(Candidate("no_transpose_in_backprop", detail, grads, deltas, tuple(layers), back_matrix=bm))
    if m >= 2:
        for j in sorted({0, m - 1}):
            grads, deltas = backprop(net, params, X[:, j:j + 1], None if Y is None else Y[:, j:j + 1])
            which = "first" if j == 0 else "last"
            variants = [(1.0, "")]
            if net.reduction == "mean":
                variants.append((1.0 / m, ", divided by m"))
            for scale, note in variants:
                g = tuple((dW * scale, None if db is None else db * scale) for dW, db in grads)
                d = [None] + [None] * k  # per-sample deltas have another width: not a bias source
                out.append(Candidate("single_sample", f"the gradient is that of the {which} sample alone{note} "
                                     f"(of m = {m}): the other samples are dropped, e.g. a loop over samples "
                                     "that overwrites instead of accumulating", g, d, tuple(range(1, k + 1))))
    out.extend(_kink_candidates(net, params, X, Y))
    return out


def implied_candidates(case: Case, got: tuple) -> list[Candidate]:
    """The sigma' the program used, solved per unit from its canonical gradients ``got`` in the
    layer nearest the output that is wrong (assuming the layers above it right), as a candidate
    when ``crosscheck.diagnosis.implied`` can name it for every unit; verified like any other candidate."""
    net, (params, X, Y) = case.network, as_float64(case)
    k = net.depth
    Z, A = forward(net, params, X)
    ref, deltas = backprop(net, params, X, Y)

    def close(a, b):
        return b is None or (np.shape(a) == np.shape(b) and
                             float(np.linalg.norm(a - b)) <= 1e-6 * max(float(np.linalg.norm(b)), 1e-300))
    for layer in range(k, 0, -1):
        (dW, db), (rW, rb) = got[layer - 1], ref[layer - 1]
        if close(dW, rW) and close(db, rb):
            continue
        name = net.activations[layer - 1]
        if not isinstance(name, str):
            return []
        upstream = output_gradient(net, A[k], Y) if layer == k else params[layer][0].T @ deltas[layer + 1]
        s = implied_sigma_prime(upstream, A[layer - 1], np.asarray(dW, float),
                                None if db is None else np.asarray(db, float))
        if s is None:
            return []
        said = [describe_implied(name, Z[layer][i], s[i]) for i in range(s.shape[0])]
        if any(x is None for x in said) or not any(said):
            return []
        groups: dict[str, list[int]] = {}
        for i, x in enumerate(said):
            if x:
                groups.setdefault(x, []).append(i + 1)
        if len(groups) == 1 and sum(map(len, groups.values())) == s.shape[0]:
            detail = f"{next(iter(groups))}, in {_where(net, (layer,))}"
        else:
            detail = f"in {_where(net, (layer,))}, " + "; ".join(
                f"unit{'s' if len(u) > 1 else ''} {join_words([str(i) for i in u])}: {x}" for x, u in groups.items())
        used = np.where(np.isfinite(s), s, net.sigma_prime(layer, Z[layer]))

        def sp(lay, z, a, layer=layer, used=used):
            return used if lay == layer else net.sigma_prime(lay, z)
        grads, ds = backprop(net, params, X, Y, sigma_prime=sp)
        # prior 3: a function the library or the table names beats a per-unit description of the same values
        return [Candidate("activation_derivative", detail, grads, ds, (layer,), 3, sigma_prime=sp)]
    return []


def _kink_candidates(net: Network, params: Any, X: np.ndarray, Y: Any) -> list[Candidate]:
    out = []
    names = sorted({n for a in net.activations for n in ((a,) if isinstance(a, str) else a)
                    if get_activation(n).kinks})
    for name in names:
        act = get_activation(name)
        base = name.partition(":")[0]
        current = act.at_kink[0]
        # hand-written conventions (z > 0, z >= 0, a tie), the libraries' (crosscheck.model.kinks), ours
        alternatives = [0.0, 0.5, 1.0, *kink_subgradients(base), get_activation(base).at_kink[0]]
        for g in dict.fromkeys(alternatives):
            if g == current:
                continue
            new = f"{base}:{g:g}"

            def swap(a, new=new, name=name):
                return new if a == name else a
            acts = tuple(swap(a) if isinstance(a, str) else tuple(swap(n) for n in a) for a in net.activations)
            net2 = replace(net, activations=acts)
            grads, deltas = backprop(net2, params, X, Y)
            intended = new if g != get_activation(base).at_kink[0] else base
            hint = f"; if that is intended, declare --hidden/--output {intended}"
            out.append(Candidate("kink_convention", f"at a pre-activation exactly on the kink, "
                                 f"{base}'({act.kinks[0]:g}) is taken as {g:g}, but the declared {name!r} uses "
                                 f"{current:g}{hint}", grads, deltas, tuple(range(1, net.depth + 1))))
    return out


def as_float64(case: Case) -> tuple:
    """(params, X, Y) of the case in float64: candidates are computed exactly from the values it holds."""
    f = lambda a: None if a is None else np.asarray(a, dtype=np.float64)  # noqa: E731
    return tuple((f(W), f(b)) for W, b in case.params), f(case.X), f(case.Y)
