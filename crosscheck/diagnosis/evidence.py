"""Where to diagnose: re-drawn cases on which a mistake is identifiable, and re-runs that keep the evidence.

Hypothesis shrinks a failure to the smallest network that still fails, which is often too
small to *name* the mistake: at m = 1 an unsummed bias gradient has the right shape, in a
one-entry gradient every error is "a scale", with every pre-activation positive relu's
derivative looks right, and with n_out = 2 a mean over the outputs is "a factor 1/2". So the
check diagnoses on a case re-drawn around the shrunk network (``diagnosis_cases``): the same
depth, activations, loss and convention, with m, n_in and n_out pairwise distinct and none
equal to 2, m >= 2, and values chosen so that every unit sees pre-activations on both sides
of zero. The re-drawn case is used only if the implementation still fails on it; otherwise
the shrunk case's own dimensions are kept (a mistake that needs a square W, say), and at
last the shrunk case itself: evidence is never thrown away.

``coincident_cases``: an implementation that crashes on distinct dimensions (``W @ delta``
where ``W.T @ delta`` belongs) runs on coincident ones (every width equal, then m equal to
them too), where its mistake is a wrong value that can be named instead of a crash.

``stateful``: the diagnosis case is called a second time; different answers are named so.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..draws import DrawError, draw
from ..model.case import Case
from ..model.network import Network
from ..reference.forward import forward

__all__ = ["diagnosis_cases", "coincident_cases", "stateful_detail", "CANDIDATE_DRAWS"]

CANDIDATE_DRAWS = 24  # value draws per re-drawn network, the one with the most evidence is kept
_M = 4  # batch size of a re-drawn case: >= 2, and not 2 (the constant every 1/2-factor slip shares)
_N_IN, _N_OUT, _HIDDEN = 5, 3, 6  # distinct from _M and each other; hidden widths count up from _HIDDEN


def _fixed_out(network: Network) -> int | None:
    return network.loss_fn.output_width


def _renetwork(network: Network, widths: tuple[int, ...]) -> Network | None:
    if any(not isinstance(a, str) for a in network.activations):
        return None  # per-neuron activations are tied to the widths
    try:
        return replace(network, widths=widths, alpha=None)
    except ValueError:
        return None


def _score(network: Network, params, X) -> np.ndarray:
    """Per draw: units that see pre-activations on both sides of 0 (their own kink, or 0)."""
    Z, _ = forward(network, params, X)
    score = np.zeros(X.shape[0])
    for layer in range(1, network.depth + 1):
        kinks = network.kinks(layer)
        at = np.array([k[0] if k else 0.0 for k in kinks])[None, :, None]
        z = Z[layer] - at
        score += ((z < 0).any(-1) & (z > 0).any(-1)).sum(-1)
    return score


def _drawn(network: Network, case: Case, m: int, seed: int) -> Case | None:
    try:
        d = draw(network, seed, batch_size=m, draws=CANDIDATE_DRAWS, dtype=case.dtype)
    except (DrawError, ValueError):
        return None
    f64 = d.astype(np.float64)
    best = int(np.argmax(_score(network, f64.params, f64.X)))
    params, X, Y = d.one(best)
    try:
        return Case(network, case.convention, params, X, Y)
    except ValueError:
        return None


def deeper_case(case: Case, hidden: str, *, seed: int = 0) -> Case | None:
    """The case's one-layer network with two ``hidden`` layers put in front (widths 5-6-7-n_out): where
    the output's sigma' and dL/dA cannot be told apart in one layer, the layers below show which
    function the code uses as sigma' (``crosscheck.diagnosis.locate``)."""
    net = case.network
    if net.depth != 1 or not isinstance(net.activations[0], str):
        return None
    try:
        deeper = replace(net, widths=(_N_IN, _HIDDEN, _HIDDEN + 1, net.n_out),
                         activations=(hidden, hidden, net.activations[0]), alpha=None)
    except ValueError:
        return None
    return _drawn(deeper, case, 1 if case.convention.batch == "single" else _M, seed + 5)


def _roomy_widths(k: int, m: int, n_out: int, lo: int, hi: int) -> tuple[int, ...]:
    """n_0 .. n_{k-1} for a re-drawn network: _N_IN, then _HIDDEN counting up, each avoiding m, n_out,
    2 and the others; inside the declared range [lo, hi], where values may have to repeat."""
    preferred = [_N_IN] + list(range(_HIDDEN, _HIDDEN + 2 * k + 4))
    pool = [w for w in preferred if lo <= w <= hi and w not in {m, n_out, 2}]
    if len(pool) < k:  # a narrow declared range: the values it holds, repeating where they must
        room = range(min(hi, lo + 4 * k + 8), lo - 1, -1)
        pool += [w for w in room if w not in pool and w not in {m, n_out}]
        pool += [w for w in room if w not in pool]
    return tuple(pool[i % len(pool)] for i in range(k))


def diagnosis_cases(case: Case, *, seed: int = 0, widths: tuple[int, int] | None = None,
                    output_width: int | None = None) -> list[Case]:
    """Cases to diagnose on, most identifiable first; the shrunk ``case`` itself last. ``widths``
    (lo, hi) and ``output_width``: the declared constraints, kept by every re-drawn case."""
    net, conv = case.network, case.convention
    single = conv.batch == "single"
    m = 1 if single else _M
    k = net.depth
    lo, hi = widths or (1, 10**6)
    n_out = _fixed_out(net) or output_width or min(_N_OUT, hi)
    out: list[Case] = []
    roomy = _renetwork(net, _roomy_widths(k, m, n_out, lo, hi) + (n_out,))
    if roomy is not None:
        c = _drawn(roomy, case, m, seed)
        if c is not None:
            out.append(c)
    if case.batch_size < 2 and not single:  # the shrunk widths (they may be the point), m >= 2
        m2 = next(v for v in (3, 4, 5, 6, 7, 8, 9) if v not in net.widths)
        c = _drawn(net, case, m2, seed + 1)
        if c is not None:
            out.append(c)
    elif not single:
        c = _drawn(net, case, case.batch_size, seed + 1)
        if c is not None:
            out.append(c)
    out.append(case)
    return out


def coincident_cases(case: Case, *, seed: int = 0, widths: tuple[int, int] | None = None,
                     output_width: int | None = None) -> list[Case]:
    """The crashed case's network with every width equal (n_out too, unless the loss or
    ``output_width`` fixes it), m distinct from them; then m equal to them as well."""
    net = case.network
    n = min(max(3, max(net.widths)), (widths or (1, 10**6))[1])
    fixed = _fixed_out(net) or output_width
    widths = (n,) * net.depth + ((fixed,) if fixed else (n,))
    square = _renetwork(net, widths)
    if square is None:
        return []
    out = []
    sizes = (1,) if case.convention.batch == "single" else (n + 1, n)
    for m in sizes:
        c = _drawn(square, case, m, seed + m)
        if c is not None:
            out.append(c)
    return out


def stateful_detail(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> str | None:
    """A sentence when two calls on the same inputs returned different gradients, else None."""
    differ = []
    worst = 0.0
    for p, a in first.items():
        b = second.get(p)
        if b is None or b.shape != a.shape:
            differ.append(p)
            worst = np.inf
            continue
        if not np.array_equal(a, b):
            rel = float(np.linalg.norm(a - b)) / max(float(np.linalg.norm(a)), 1e-300)
            if rel > 1e-12:
                differ.append(p)
                worst = max(worst, rel)
    if not differ:
        return None
    names = ", ".join(differ)
    return (f"called twice on the same inputs, it returned different gradients ({names}; relative difference "
            f"up to {worst:.3g}): the result depends on state kept between calls (a module-level counter, "
            "cache or accumulator that is never reset, or a global random generator)")
