"""What a weight gradient is made of, where no mechanism of the catalogue explains it.

``dW_l = delta_l A_{l-1}^T`` (plus the penalty's gradient). Code that departs there often has every
ingredient right and one of them wrong:

- one term scaled alone: the data part divided by m twice while the penalty's part is right, or the
  penalty's ``lambda/(2m) W`` where the declared form gives ``lambda/m W`` (a two-term least-squares fit);
- another cached quantity in place of ``A_{l-1}``: the layer's own output, a pre-activation, the input, or
  ``sigma'(Z)`` that an in-place derivative helper left in the cache.

Each is tried on the reference's own ``delta_l`` and said only when it fits exactly. Canonical shapes:
``W_l: (n_l, n_{l-1})``, ``A_l, Z_l: (n_l, m)``.
"""

from __future__ import annotations

import numpy as np

from ..model.case import Case
from ..model.penalties import penalty_gradient
from ..reference.forward import forward
from .mistakes import as_float64, backprop

__all__ = ["weight_gradient_terms", "cached_operand"]

_RTOL = 1e-7


def _exact(got: np.ndarray, want: np.ndarray) -> bool:
    scale = max(float(np.abs(want).max()), 1e-300)
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=_RTOL, atol=_RTOL * scale))


def _factor(c: float, m: int) -> str:
    """A factor in words: 1/m and m are named, the rest printed."""
    for value, words in ((1.0 / m, f"1/m (= 1/{m})"), (float(m), f"m (= {m})"), (0.5, "1/2"), (2.0, "2"),
                         (-1.0, "-1")):
        if np.isclose(c, value, rtol=1e-9):
            return words
    return f"{c:.6g}"


def weight_gradient_terms(case: Case, got: tuple, labels: list[str]) -> tuple[str, str, int, str] | None:
    """(id, parameter, layer, sentence) when a penalised dW_l is ``a`` times its data part plus ``b`` times
    the penalty's gradient, exactly, with (a, b) other than (1, 1) and neither term missing (a missing term is
    the catalogue's); None otherwise. ``got``: canonical gradients; ``labels``: the departing parameters."""
    net = case.network
    if not net.has_penalty:
        return None
    params, X, Y = as_float64(case)
    m = X.shape[1]
    _Z, A = forward(net, params, X)
    _, deltas = backprop(net, params, X, Y)
    penalties = penalty_gradient(net, params, m)
    for label in labels:
        if not label.startswith("dW") or not label[2:].isdigit():
            continue
        layer = int(label[2:])
        gW = np.asarray(got[layer - 1][0], dtype=np.float64)
        data, pen = deltas[layer] @ A[layer - 1].T, penalties[layer - 1][0]
        if gW.shape != data.shape:
            continue
        basis = np.stack([data.ravel(), pen.ravel()], axis=1)
        if np.linalg.matrix_rank(basis) < 2:
            continue
        (a, b), *_ = np.linalg.lstsq(basis, gW.ravel(), rcond=None)
        if not _exact(gW, a * data + b * pen) or np.isclose(a, 0) or np.isclose(b, 0):
            continue
        if np.isclose(a, 1, rtol=1e-9) and np.isclose(b, 1, rtol=1e-9):
            continue
        if np.isclose(a, 1, rtol=1e-9):
            return ("regularization", label, layer,
                    f"{label}'s data part (delta{layer} A{layer - 1}^T) is right; its penalty part is "
                    f"{_factor(b, m)} times the declared penalty's gradient ({net.penalty_form} form, "
                    f"l2 {net.l2:g}, l1 {net.l1:g}): the penalty's derivative carries a wrong factor")
        if np.isclose(b, 1, rtol=1e-9):
            return ("scale", label, layer,
                    f"{label}'s penalty part is right, but its data part (delta{layer} A{layer - 1}^T) is "
                    f"{_factor(a, m)} times the reference's: a factor applied to the data term alone (divided "
                    "by m once more, or before the penalty was added?)")
        return ("scale", label, layer,
                f"{label} is {_factor(a, m)} times its data part (delta{layer} A{layer - 1}^T) plus "
                f"{_factor(b, m)} times the declared penalty's gradient: each term carries a wrong factor")
    return None


def _cached(net, params, X) -> list[tuple[str, np.ndarray]]:
    """Every forward quantity a program may keep in its cache, named: X, A_j, Z_j and sigma'_j(Z_j)."""
    Z, A = forward(net, params, X)
    out = [("X (the network's input)" if j == 0 else f"A{j}", A[j]) for j in range(len(A))]
    out += [(f"Z{j}", Z[j]) for j in range(1, len(Z))]
    for j in range(1, len(Z)):
        names = net.activations[j - 1]
        name = names if isinstance(names, str) else "sigma"
        out.append((f"{name.partition(':')[0]}'(Z{j})", net.sigma_prime(j, Z[j])))
    return out


def cached_operand(case: Case, got: dict, labels: list[str], *, user_layout: bool) -> tuple | None:
    """(id, parameter, layer, sentence) when a departing ``dW_l`` is exactly ``delta_l Q^T`` (the penalty's
    gradient added where declared) for a cached forward quantity Q other than ``A_{l-1}``; None otherwise.

    ``got``: gradients by label (``{"dW2": ...}``); ``user_layout``: they are in the case's layout (a shape
    that does not fit the convention cannot be converted: both orientations are tried)."""
    net = case.network
    params, X, Y = as_float64(case)
    m = X.shape[1]
    _, deltas = backprop(net, params, X, Y)
    penalties = penalty_gradient(net, params, m) if net.has_penalty else None
    cached = _cached(net, params, X)
    for label in labels:
        if not label.startswith("dW") or not label[2:].isdigit() or label not in got:
            continue
        layer = int(label[2:])
        g = np.asarray(got[label], dtype=np.float64)
        if g.ndim != 2:
            continue
        shapes = (g, g.T) if user_layout else (g,)
        right = f"A{layer - 1}" if layer > 1 else "X (the network's input)"
        for name, Q in cached:
            if name == right or Q.shape[-1] != m:
                continue
            want = deltas[layer] @ Q.T
            pen = penalties[layer - 1][0] if penalties is not None else None
            if pen is not None and pen.shape == want.shape:
                want = want + pen
            if any(_exact(h, want) for h in shapes):
                own = {f"A{layer}": "the layer's own output", f"Z{layer}": "the layer's own pre-activation"}
                what = own.get(name, name)
                hint = (" (an in-place derivative overwrote the cached activation?)" if "'(" in name else
                        " (the wrong entry of the cache?)")
                return ("cached_activation", label, layer,
                        f"{label} is delta{layer} {name.split(' ')[0]}^T: {what} where the layer's input {right} "
                        f"belongs{hint}, with the reference's delta{layer}")
    return None
