"""Triage of a disagreement: a gradient bug, or something that only looks like one.

Run only on a draw that failed the tolerance policy, in the order the checks cost:

- **kink convention**: the draw has a pre-activation exactly on a kink and the backend agrees
  with the reference once some kinked activations take another subgradient (per activation:
  JAX's leaky_relu'(0) = 1 beside its relu'(0) = 0). A note names both conventions; with
  ``strict_kinks`` it stays a failure.
- **float32 only**: the same backend recomputes the draw in float64 and agrees there. On a GPU
  with TF32-like float32 matmuls that is a precision *setting*, reported with its one-line fix;
  elsewhere it is float32 rounding amplified by the network. Neither is hidden by a looser
  tolerance, and neither is a gradient bug.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np

from .activations import get_activation
from .audit.kinks import KINK_CONVENTIONS, kink_subgradients, spellings_using
from .case import Case
from .compare import compare_gradients
from .network import Network
from .penalties import penalised_arrays, penalty_gradient
from .reference import recursive

__all__ = ["explain", "KINK_CANDIDATES"]

# Subgradients tried at an exact kink, per kinked activation, to name the convention a backend
# follows: those torch's and JAX's spellings take (crosscheck.audit.kinks, the table `crosscheck
# audit` verifies on the installed libraries), plus the reference's own.
KINK_CANDIDATES = tuple(sorted({c.subgradient for c in KINK_CONVENTIONS}))


def explain(backend, case: Case, case64: Case, expected, *, on_kink: bool, strict_kinks: bool = False,
            device: str = "cpu", precision: str = "default", got=None, recompute64=None) -> dict | None:
    """A note when the backend's disagreement on ``case`` is a kink convention or float32
    precision, else None (a real failure). ``case64`` holds the same (rounded) values in
    float64; ``expected`` is the float64 reference for them.

    ``got`` is the backend's answer for ``case`` when the caller has it already (the sweep's
    vectorised call); ``recompute64()`` recomputes ``case64`` with the same backend (default:
    ``backend.gradients(case64)``). Both save a compile per triaged draw in JAX."""
    net = case.network
    dtype = str(case.dtype)
    if got is None:
        got = backend.gradients(case)
    if on_kink and not strict_kinks:
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
                theirs = [f"{a}'(0) = {g:g}{_as(a, g, backend.name)}" for a, g in chosen.items()]
                mine = [c for c in _kink_conventions(net) if c.split("'")[0] in chosen]
                if sign is not None:
                    theirs.append(f"|w|'(0) = {sign:g} in the L1 penalty")
                    mine.append("|w|'(0) = sign(0) = 0 in the L1 penalty")
                return {"kind": "kink_convention", "backend": backend.name, "network": net.describe(),
                        "detail": f"differs only at a kink: the reference uses {', '.join(mine)}; {backend.name} "
                                  f"uses {', '.join(theirs)}"}
    if recompute64 is None:
        def recompute64():
            return backend.gradients(case64)
    if dtype == "float32" and compare_gradients(expected, recompute64(), dtype="float64").passed:
        from .environment import precision_advice

        fixes = precision_advice(backend.settings(), device, dtype)
        if fixes:  # TF32-like matmuls on a GPU: a setting, with its one-line fix
            return {"kind": "precision", "backend": backend.name, "network": net.describe(),
                    "detail": f"{backend.name} differs in float32 beyond the policy but agrees in float64: "
                              "its float32 matmul precision setting, not a gradient bug",
                    "fix": fixes}
        return {"kind": "float32_rounding", "backend": backend.name, "network": net.describe(),
                "detail": f"{backend.name} differs in float32 beyond the policy but its float64 recomputation "
                          "agrees: float32 rounding amplified by this network (e.g. a derivative that is a "
                          "small difference of O(1) values)"}
    return None


# |w|'(0) a backend may take for the L1 penalty: JAX's abs'(0) = 1 (MEASURED.md), 1/2, -1
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


