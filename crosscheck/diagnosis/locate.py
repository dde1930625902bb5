"""Locate what no alternative explains: the first quantity, going backwards from the loss, that departs.

From what a program returned, its intermediate quantities are reconstructed and compared with the
reference, output first:

- ``delta_l`` (dL/dZ_l, ``(n_l, m)``) from ``dW_l = delta_l A_{l-1}^T`` and ``db_l = delta_l 1`` by least
  squares, exact where ``[A_{l-1}; 1]`` has rank m (the re-drawn diagnosis case has m = 4 below every
  width, ``crosscheck.diagnosis.evidence``);
- at the output, dL/dZ_k is compared with the reference's, and described: a factor, a sign, the target
  term missing (``delta - delta_ref`` proportional to Y), another per-sample normalisation, or the
  values themselves;
- in a hidden layer, the sigma' the program used per unit (``delta_l / (W_{l+1}^T delta_{l+1})``),
  named by ``crosscheck.diagnosis.implied`` where a form of the table fits, else shown at sample
  points beside the true sigma'.

Where delta_l cannot be reconstructed (rank), the layer's dW_l itself is compared. Every result names
a layer and a quantity. Canonical shapes: ``W_l: (n_l, n_{l-1})``, ``A_l: (n_l, m)``.
"""

from __future__ import annotations

import numpy as np

from ..model.case import Case
from ..reference.forward import forward, output_gradient
from .implied import describe_implied
from .mistakes import as_float64, backprop

__all__ = ["locate", "reconstruct_delta"]


def reconstruct_delta(A_prev: np.ndarray, dW: np.ndarray, db: np.ndarray | None,
                      rtol: float = 1e-8) -> np.ndarray | None:
    """delta ``(n_l, m)`` with ``delta A_prev^T = dW`` (and ``delta 1 = db``), or None where not identifiable."""
    M = A_prev if db is None else np.vstack([A_prev, np.ones((1, A_prev.shape[1]))])
    if np.linalg.matrix_rank(M) < M.shape[1]:
        return None
    rhs = dW if db is None else np.hstack([dW, np.reshape(db, (-1, 1))])
    sol, *_ = np.linalg.lstsq(M, rhs.T, rcond=None)  # (m, n_l): M delta^T = [dW db]^T
    delta = sol.T
    if np.linalg.norm(delta @ M.T - rhs) > rtol * 1e3 * max(np.linalg.norm(rhs), 1e-300):
        return None
    return delta


def _near(got: np.ndarray, want: np.ndarray, tol: float) -> bool:
    return np.shape(got) == np.shape(want) and bool(np.allclose(got, want, rtol=tol,
                                                                atol=tol * max(float(np.abs(want).max()), 1e-300)))


def _fmt(a: np.ndarray, n: int = 4) -> str:
    flat = np.ravel(a)[:n]
    return "[" + ", ".join(f"{v:.4g}" for v in flat) + (", ...]" if np.size(a) > n else "]")


def _how(got: np.ndarray, want: np.ndarray, Y: np.ndarray | None, m: int, tol: float) -> str:
    """How ``got`` departs from ``want`` (same shape)."""
    scale = max(float(np.abs(want).max()), 1e-300)
    if float(np.abs(got).max()) <= tol * scale:
        return "it is zero"
    denom = float(np.vdot(want, want))
    if denom > 0:
        c = float(np.vdot(got, want)) / denom
        if np.allclose(got, c * want, rtol=tol, atol=tol * scale):
            return ("it is -1 times the reference (a sign)" if np.isclose(c, -1) else
                    f"it is {c:.6g} times the reference")
    if got.T.shape == want.shape and np.allclose(got.T, want, rtol=tol, atol=tol * scale):
        return "it is the transpose of the reference"
    if Y is not None and Y.shape == want.shape:
        diff = got - want
        yy = float(np.vdot(Y, Y))
        c = float(np.vdot(diff, Y)) / yy if yy else 0.0
        if c and np.allclose(diff, c * Y, rtol=tol, atol=tol * scale):
            return (f"it differs by {c:.6g} x Y: the target term (the one-hot subtraction, - Y/m) is missing or "
                    "wrong, the rest is right")
    if Y is not None and Y.shape == want.shape and np.all(np.isin(Y, (0.0, 1.0))) and np.any(Y == 0) \
            and np.any(Y == 1):  # 0/1 targets: which target value's entries depart
        close = np.isclose(got, want, rtol=tol, atol=tol * scale)
        for v, other in ((0.0, 1.0), (1.0, 0.0)):
            if close[Y == other].all() and not close[Y == v].all():
                g, w = got[Y == v], want[Y == v]
                c = float(np.vdot(g, w) / np.vdot(w, w)) if np.vdot(w, w) else 0.0
                there = (f"there they are {c:.4g} times the reference" if c and np.allclose(g, c * w, rtol=tol)
                         else f"there got {_fmt(g)}, expected {_fmt(w)}")
                return (f"the entries where Y = {v:g} depart, those where Y = {other:g} are right: the part of the "
                        f"loss's gradient that acts where Y = {v:g} is wrong ({there})")
    if got.ndim == 2 and got.shape[0] >= 2:  # per sample, a softmax's delta sums to 0 over the units
        gs, ws = got.sum(axis=0), want.sum(axis=0)
        if np.allclose(ws, 0, atol=tol * scale) and not np.allclose(gs, 0, atol=tol * scale):
            return (f"per sample it should sum to 0 over the output units (probabilities minus a target that "
                    f"sum to 1 each) but sums to {_fmt(gs)}: the probabilities are not normalised per sample, or "
                    f"the target term is off (got {_fmt(got)}, expected {_fmt(want)})")
    if got.ndim == 2 and min(got.shape) >= 2:  # a factor per sample (column) or per unit (row)
        for axis, what in ((0, "sample (column)"), (1, "unit (row)")):
            num = np.sum(got * want, axis=axis, keepdims=True)
            den = np.sum(want * want, axis=axis, keepdims=True)
            c = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
            if np.allclose(got, c * want, rtol=tol, atol=tol * scale) and not np.allclose(c, np.ravel(c)[0]):
                return f"each {what} is the reference times its own factor ({_fmt(c)}): a per-{what.split()[0]} " \
                       "normalisation or scale that should not be there"
    return f"got {_fmt(got)}, expected {_fmt(want)} (no factor, sign, transpose or target term explains it)"


_BASIS = (("1", lambda z, a: np.ones_like(z)), ("a", lambda z, a: a), ("a^2", lambda z, a: a * a),
          ("z", lambda z, a: z), ("a z", lambda z, a: a * z), ("z^2", lambda z, a: z * z))


def fit_form(act_name: str, z: np.ndarray, s: np.ndarray) -> str | None:
    """The sigma' values ``s`` at ``z`` as an exact combination of 1, a, a^2, z, a z, z^2 (a = act(z)),
    written out ("a + a^2, a = sigmoid(z)"); None when no such combination fits (or too few points)."""
    from ..model.activations import get_activation

    ok = np.isfinite(s)
    z, s = z[ok], s[ok]
    if z.size < len(_BASIS) + 2:
        return None
    a = get_activation(act_name).value(z)
    B = np.stack([f(z, a) for _n, f in _BASIS], axis=1)
    c, *_ = np.linalg.lstsq(B, s, rcond=None)
    if np.linalg.norm(B @ c - s) > 1e-7 * max(np.linalg.norm(s), 1e-300):
        return None
    c = np.where(np.abs(c) < 1e-7 * max(np.abs(c).max(), 1e-300), 0.0, c)
    terms = []
    for (name, _f), v in zip(_BASIS, c):
        if v == 0:
            continue
        coef = "" if np.isclose(abs(v), 1) and name != "1" else f"{abs(v):.4g}" + ("" if name == "1" else " ")
        terms.append(("- " if v < 0 else "+ ") + coef + ("" if name == "1" and coef else name if name != "1" else "1"))
    text = " ".join(terms).removeprefix("+ ")
    return f"{text} (a = {act_name.partition(':')[0]}(z))" if terms else "0"


def _implied(up: np.ndarray, delta: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(up) > 1e-8 * max(float(np.abs(up).max()), 1e-300), delta / up, np.nan)


def _output_sigma_prime(net, params, A, Z, got, dA: np.ndarray, delta: np.ndarray) -> str | None:
    """The output activation's sigma' the program used, where dL/dA is right and delta = dL/dA o s with s a
    wrong form of the table's (``crosscheck.diagnosis.implied``), or one function of z that the hidden
    layers of the same activation use too (solved from the program's own upstream W^T delta)."""
    act = net.activations[-1]
    if not isinstance(act, str) or net.loss_fn.name == "softmax_ce":
        return None
    s = _implied(dA, delta)
    named = describe_implied(act, np.ravel(Z[-1]), np.ravel(s), rtol=1e-5)
    if named:
        return named
    zs, ss = [np.ravel(Z[-1])], [np.ravel(s)]
    k = net.depth
    d_up = delta
    for layer in range(k - 1, 0, -1):  # the same activation below, with the program's own recursion
        if net.activations[layer - 1] != act:
            break
        d = reconstruct_delta(A[layer - 1], *got[layer - 1])
        if d is None:
            break
        zs.append(np.ravel(Z[layer]))
        ss.append(np.ravel(_implied(params[layer][0].T @ d_up, d)))
        d_up = d
    if len(zs) < 2:
        return None
    z_all, s_all = np.concatenate(zs), np.concatenate(ss)
    form = fit_form(act, z_all, s_all)
    from ..model.activations import get_activation

    true = fit_form(act, z_all, get_activation(act).prime(z_all))
    if form is None or form == true:
        return None
    return (f"{act}' as your code computes it, in the output layer and every {act} layer below it (solved from "
            f"the returned gradients), is {form}; the true {act}' is {true}")


def locate(case: Case, got: tuple, tol: float = 1e-6) -> tuple[str, str, int, str] | None:
    """(id, parameter, layer, sentence) of the first departing quantity from the loss backwards, or None
    when every reconstructed quantity agrees. ``got``: canonical gradients ``((dW_1, db_1), ...)``."""
    net = case.network
    params, X, Y = as_float64(case)
    Z, A = forward(net, params, X)
    expected, deltas = backprop(net, params, X, Y)
    k = net.depth
    m = X.shape[1]
    Yc = None if Y is None else np.asarray(Y, dtype=np.float64)
    upstream_ok = True
    for layer in range(k, 0, -1):
        (gW, gb), (eW, eb) = got[layer - 1], expected[layer - 1]
        gW = np.asarray(gW, dtype=np.float64)
        gb = None if gb is None else np.asarray(gb, dtype=np.float64)
        W_pen = net.l2 or net.l1  # a penalty has no delta: compare the data part only where none is declared
        delta = None if W_pen else reconstruct_delta(A[layer - 1], gW, gb)
        want = deltas[layer]
        scale = max(float(np.abs(want).max()), 1e-300)
        label = f"dW{layer}"
        if delta is None:
            if _near(gW, eW, tol) and (gb is None or eb is None or _near(gb, eb, tol)):
                continue
            if gW.shape != eW.shape:
                return ("shape", label, layer, f"{label} has shape {gW.shape}, expected {eW.shape}")
            same_delta = gb is None or eb is None or _near(gb, eb, tol)
            what = (f"db{layer} is right, dW{layer} is not ({_how(gW, eW, None, m, tol)})" if same_delta and
                    gb is not None else _how(gW, eW, None, m, tol))
            return ("layer_gradient", label, layer, f"layer {layer}'s weight gradient {label} is the first quantity "
                    f"that departs from the reference going backwards from the loss: {what}")
        if np.allclose(delta, want, rtol=tol, atol=tol * scale):
            continue
        if layer == k or not upstream_ok:
            named = _output_sigma_prime(net, params, A, Z, got, output_gradient(net, A[k], Y), delta)
            if named:
                return ("activation_derivative", label, layer, f"layer {layer} (the output): {named}")
            how = _how(delta, want, Yc, m, tol)
            return ("output_gradient", label, layer,
                    f"at the output (layer {layer}), dL/dZ{layer} (delta{layer}, reconstructed from dW{layer} and "
                    f"db{layer}) is the first quantity that departs from the reference: {how}")
        # hidden layer: the upstream W^T delta is the reference's (layer+1 agreed): the implied sigma'
        up = params[layer][0].T @ deltas[layer + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(np.abs(up) > 1e-8 * max(np.abs(up).max(), 1e-300), delta / up, np.nan)
        true = net.sigma_prime(layer, Z[layer])
        act = net.activations[layer - 1]
        if isinstance(act, str):
            named = describe_implied(act, np.ravel(Z[layer]), np.ravel(s), rtol=1e-5)
            if named:
                return ("activation_derivative", label, layer, f"layer {layer}: {named}")
        ok = np.isfinite(s)
        zs, ss, ts = np.ravel(Z[layer])[np.ravel(ok)], np.ravel(s)[np.ravel(ok)], np.ravel(true)[np.ravel(ok)]
        if ss.size and not np.allclose(ss, ts, rtol=1e-5, atol=1e-9):
            order = np.argsort(zs)
            pick = order[np.linspace(0, len(order) - 1, min(5, len(order))).astype(int)]
            pts = ", ".join(f"z={zs[i]:.3g}: {ss[i]:.4g} (true {ts[i]:.4g})" for i in pick)
            form = fit_form(act, zs, ss) if isinstance(act, str) else None
            as_form = f"; it is {form} everywhere" if form else ""
            return ("activation_derivative", label, layer,
                    f"layer {layer}: the sigma' your code used, solved per unit from dW{layer} and db{layer} "
                    f"(delta{layer} / W{layer + 1}^T delta{layer + 1}), is not {act}' at these pre-activations: {pts}"
                    f"{as_form}")
        how = _how(delta, want, None, m, tol)
        return ("layer_gradient", label, layer, f"layer {layer}: delta{layer} (dL/dZ{layer}, reconstructed from "
                f"dW{layer} and db{layer}) is the first quantity that departs going backwards: {how}")
    return None
