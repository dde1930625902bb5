"""Triage of a disagreement: a gradient bug, or something that only looks like one.

Run only on a draw that failed the tolerance policy, in the order the checks cost:

- **kink convention**: the draw has a pre-activation exactly on a kink and the backend agrees
  with the reference once some kinked activations take another subgradient (per activation:
  JAX's leaky_relu'(0) = 1 beside its relu'(0) = 0). A note names both conventions; with
  ``strict_kinks`` it stays a failure. ``kink_note`` is the same test for any answer (``check``
  uses it for the implementation under test).
- **float32 rounding**: the backend's float32 error stays within rtol plus ``ROUNDING_FACTOR``
  times the NumPy reference's own float32 error on the same inputs (``crosscheck.tolerance``, "float32,
  second stage"). Anything larger is a failure, even when the backend's float64 recomputation
  agrees: ``float32_context`` then says so (a float32-only kernel regression, or on a GPU a
  TF32-like precision setting, with its one-line fix). No tolerance is loosened for either.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np

from ..compare import compare_gradients, reference_rounding
from ..model.activations import get_activation
from ..model.case import Case
from ..model.kinks import KINK_CONVENTIONS, kink_subgradients, spellings_using
from ..model.network import Network
from ..model.penalties import penalised_arrays, penalty_gradient
from ..reference import recursive
from ..tolerance import ROUNDING_FACTOR, policy_for

__all__ = ["explain", "kink_note", "float32_context", "KINK_CANDIDATES"]

# Subgradients tried at an exact kink, per kinked activation, to name the convention a backend
# follows: those torch's and JAX's spellings take (crosscheck.model.kinks, the table `crosscheck
# audit` verifies on the installed libraries), plus the reference's own.
KINK_CANDIDATES = tuple(sorted({c.subgradient for c in KINK_CONVENTIONS}))


def explain(backend, case: Case, case64: Case, expected, *, on_kink: bool, strict_kinks: bool = False,
            device: str = "cpu", precision: str = "default", got=None,
            reference_error: float | None = None) -> dict | None:
    """A note when the backend's disagreement on ``case`` is a kink convention or float32
    rounding within the reference's own, else None (a real failure). ``case64`` holds the same
    (rounded) values in float64; ``expected`` is the float64 reference for them.

    ``got`` is the backend's answer for ``case`` when the caller has it already (the sweep's
    vectorised call); ``reference_error`` the float32 reference's own worst relative error on
    this draw (``compare.reference_rounding``), computed here when not given."""
    net = case.network
    dtype = str(case.dtype)
    if got is None:
        got = backend.gradients(case)
    if on_kink and not strict_kinks:
        note = kink_note(backend.name, case64, got, dtype=dtype, device=device, precision=precision)
        if note is not None:
            return note
    if dtype == "float32":
        policy = policy_for(dtype, device, precision)
        worst = compare_gradients(expected, got, policy=policy).worst_rel_error
        if reference_error is None:
            reference_error = _reference_error(case, expected)
        bound = float(policy.bound(reference_error))
        if worst <= bound:
            return {"kind": "float32_rounding", "backend": backend.name, "network": net.describe(),
                    "size": worst, "reference_error": float(reference_error), "bound": bound,
                    "detail": f"{backend.name} differs in float32 beyond rtol {policy.rtol:.0e} but within rtol + "
                              f"{ROUNDING_FACTOR:g}x the NumPy reference's own float32 error on the same inputs: "
                              "float32 rounding amplified by the network"}
    return None


def kink_note(who: str, case64: Case, got, *, dtype: str = "float64", device: str = "cpu",
              precision: str = "default") -> dict | None:
    """A ``kink_convention`` note when ``got`` (canonical gradients of ``case64``'s draw, which
    has a pre-activation exactly on a kink) equals the reference once some kinked activations
    take another subgradient; None when no convention explains it."""
    net = case64.network
    # activation subgradients, and |w|'(0) of an L1 penalty at a weight that is exactly 0
    signs = _l1_alternatives(net, case64)
    for alt_net, chosen in [(net, {}), *_kink_alternatives(net)]:
        for sign in signs:
            if not chosen and sign is None:
                continue
            alt = recursive.gradients(alt_net, case64.params, case64.X, case64.Y)
            if sign is not None:
                alt = _with_l1_sign(alt_net, alt, case64, sign)
            if not compare_gradients(alt, got, dtype=dtype, device=device, precision=precision).passed:
                continue
            theirs = [f"{a}'(0) = {g:g}{_as(a, g, who)}" for a, g in chosen.items()]
            mine = [c for c in _kink_conventions(net) if c.split("'")[0] in chosen]
            if sign is not None:
                theirs.append(f"|w|'(0) = {sign:g} in the L1 penalty")
                mine.append("|w|'(0) = sign(0) = 0 in the L1 penalty")
            return {"kind": "kink_convention", "backend": who, "network": net.describe(),
                    "detail": f"differs only at a kink: the reference uses {', '.join(mine)}; {who} "
                              f"uses {', '.join(theirs)}"}
    return None


def float32_context(backend, expected, recompute64, *, device: str = "cpu", precision: str = "default") -> str:
    """For a float32 failure: whether the same backend agrees in float64 (``recompute64()``
    recomputes the draw in float64), and on a GPU with TF32-like matmuls the setting's fix.
    Context for the report only: the failure stands either way."""
    try:
        agrees = compare_gradients(expected, recompute64(), dtype="float64").passed
    except Exception as e:  # noqa: BLE001 - context must not turn a failure into a crash
        return f"(float64 recomputation raised {type(e).__name__}: {e})"
    if not agrees:
        return f"{backend.name} disagrees in float64 too"
    from ..environment import precision_advice

    text = (f"{backend.name} agrees in float64: a float32-only difference, larger than float32 rounding "
            "(the float32 reference's own error) explains")
    fixes = precision_advice(backend.settings(), device, "float32")
    if fixes:
        text += "; float32 matmuls run at TF32-like precision here: " + "; ".join(fixes)
    return text


def _reference_error(case: Case, expected) -> float:
    ref32 = recursive.gradients(case.network, case.params, case.X, case.Y)
    stack = lambda g: tuple((W[None], None if b is None else b[None]) for W, b in g)  # noqa: E731
    return float(reference_rounding(stack(expected), stack(ref32))[0])


# |w|'(0) a backend may take for the L1 penalty: JAX's abs'(0) = 1 (docs/measurements.md), 1/2, -1
L1_CANDIDATES = (1.0, 0.5, -1.0)


def _l1_alternatives(net: Network, case64: Case) -> list[float | None]:
    """None (the reference's sign(0) = 0) and, when an L1-penalised entry is exactly 0, the others."""
    if net.l1 and any(np.any(a == 0) for a in penalised_arrays(net, case64.params)):
        return [None, *L1_CANDIDATES]
    return [None]


def _with_l1_sign(net: Network, grads: tuple, case64: Case, sign: float) -> tuple:
    """``grads`` with the L1 penalty's subgradient at exactly 0 taken as ``sign`` instead of 0."""
    m = case64.batch_size
    ours = penalty_gradient(net, case64.params, m)
    theirs = penalty_gradient(net, case64.params, m, sign_at_zero=sign)
    out = []
    for (dW, db), (oW, ob), (tW, tb) in zip(grads, ours, theirs):
        out.append((dW + (tW - oW), db if ob is None or db is None else db + (tb - ob)))
    return tuple(out)


def _kink_alternatives(net: Network):
    """Every assignment of a candidate subgradient to each kinked activation of ``net``:
    yields (network with those subgradients, {activation: subgradient}). Backends may follow
    different conventions per activation (JAX: relu'(0) = 0 but leaky_relu'(0) = 1)."""
    kinked = sorted({n.partition(":")[0] for n in net.activation_names() if get_activation(n).kinks})
    ours = {k: get_activation(k).at_kink[0] for k in kinked}
    options = [sorted(set(kink_subgradients(k) or KINK_CANDIDATES) | {ours[k]}) for k in kinked]
    combos = [dict(zip(kinked, combo)) for combo in itertools.product(*options)]
    # fewest changes first, so a note names only the activations whose convention differs
    combos.sort(key=lambda c: sum(c[k] != ours[k] for k in kinked))
    for chosen in combos:
        if chosen == ours:
            continue
        acts = tuple(_rename(a, chosen) if isinstance(a, str) else tuple(_rename(n, chosen) for n in a)
                     for a in net.activations)
        yield replace(net, activations=acts), {k: g for k, g in chosen.items() if g != ours[k]}


def _as(activation: str, g: float, backend: str) -> str:
    """' (the convention of jax.nn.leaky_relu(x))': the spellings with that subgradient in the
    backend's library (in any library for another backend), if any."""
    names = spellings_using(activation, g, backend if backend in ("torch", "jax") else None)
    return f" (the convention of {' and '.join(names)})" if names else ""


def _rename(name: str, chosen: dict) -> str:
    base = name.partition(":")[0]
    return f"{base}:{chosen[base]:g}" if base in chosen else name


def _kink_conventions(net: Network) -> list[str]:
    out = []
    for name in net.activation_names():
        act = get_activation(name)
        if act.kinks:
            out.append(f"{act.name.partition(':')[0]}'({act.kinks[0]:g}) = {act.at_kink[0]:g}")
    return out


