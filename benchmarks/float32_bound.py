"""Measure the float32 second stage's bound: a correct backend's float32 error against the NumPy
reference's own float32 error on the same inputs (``crosscheck.tolerance``, "float32, second stage").

For random networks (``false_failures.random_network``) and D draws each, per draw:
``worst`` = max_p rel_p(backend float32, reference float64) and ``e_ref`` = max_p rel_p(reference
float32, reference float64), by the float32 policy's metric and floor. It prints how many draws
pass rtol, the distribution of worst / e_ref over the draws past rtol, and how many of those
the bound ``rtol + k * e_ref`` would fail for candidate factors k, and how many of those have no
neuron in a saturated tail (which the sweep's draws never have).

``--scale 1`` draws as the sweep does (``crosscheck.draws``: kink margin, saturated tails
redrawn). ``--scale 3`` multiplies raw weights and biases by 3 and keeps every finite draw, so
activations sit deep in their tails, where float32 does go wrong: a stress test of the bound.

    .venv/bin/python benchmarks/float32_bound.py --backend jax --networks 1000 --draws 64 --scale 3
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from crosscheck.backends import get_backend
from crosscheck.compare import batched_rel_errors
from crosscheck.draws import DrawError, _draw_raw, _saturated, draw
from crosscheck.model.conventions import all_conventions
from crosscheck.reference import recursive
from crosscheck.reference.forward import forward
from crosscheck.tolerance import ROUNDING_FACTOR, policy_for

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from false_failures import random_network  # noqa: E402


def _draws(net, rng, m: int, D: int, scale: float):
    """(params32, X32, Y32, usable: (D,)) in float32."""
    if scale == 1:
        d = draw(net, int(rng.integers(2**31)), batch_size=m, draws=D, dtype="float32")
        return d.params, d.X, d.Y, np.ones(D, bool)
    params, X, Y = _draw_raw(net, rng, m, D)
    c32 = lambda a: None if a is None else a.astype(np.float32)  # noqa: E731
    p32 = tuple((c32(W * scale), c32(None if b is None else b * scale)) for W, b in params)
    X32, Y32 = c32(X), c32(Y)
    with np.errstate(all="ignore"):
        _, A = forward(net, tuple((W.astype(float), None if b is None else b.astype(float)) for W, b in p32),
                       X32.astype(float))
    usable = np.ones(D, bool)
    for a in A[1:]:
        usable &= np.isfinite(a).all(axis=(-1, -2))
    if net.loss == "bce":  # the loss itself is infinite at a saturated sigmoid
        usable &= ((A[-1] > 1e-4) & (A[-1] < 1 - 1e-4)).all(axis=(-1, -2))
    return p32, X32, Y32, usable


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--networks", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=64)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    backend = get_backend(args.backend)
    rng = np.random.default_rng(args.seed)
    convs = list(all_conventions())
    policy = policy_for("float32")
    up = lambda a: None if a is None else a.astype(np.float64)  # noqa: E731
    total, past = 0, []
    start = time.time()
    for _ in range(args.networks):
        net = random_network(rng)
        conv = convs[int(rng.integers(len(convs)))]
        while conv.has_bias != net.bias:
            conv = convs[int(rng.integers(len(convs)))]
        m = 1 if conv.batch == "single" else int(rng.integers(1, 9))
        try:
            p32, X32, Y32, usable = _draws(net, rng, m, args.draws, args.scale)
        except DrawError:
            continue
        with np.errstate(all="ignore"):
            p64 = tuple((up(W), up(b)) for W, b in p32)
            exp = recursive.gradients(net, p64, up(X32), up(Y32))
            # a neuron in a saturating tail (|sigma'| under its floor): the sweep's draws redraw these
            tail = _saturated(net, forward(net, p64, up(X32))[0])
            ref32 = recursive.gradients(net, p32, X32, Y32)
        got = backend.gradients_batched(net, conv, p32, X32, Y32)
        worst = batched_rel_errors(exp, got, policy=policy)[0].max(axis=1)
        e_ref = batched_rel_errors(exp, ref32, policy=policy)[0].max(axis=1)
        ok = usable & np.isfinite(worst) & np.isfinite(e_ref)
        total += int(ok.sum())
        for d in np.flatnonzero(ok & (worst > policy.rtol)):
            past.append((float(worst[d]), float(e_ref[d]), net.describe(), bool(tail[d])))
    print(f"{args.backend} float32, {total} draws ({args.networks} networks x {args.draws}, scale {args.scale:g}, "
          f"seed {args.seed}), {time.time() - start:.0f} s")
    print(f"past rtol {policy.rtol:.0e}: {len(past)} draws")
    if past:
        ratio = np.array([w / max(e, 1e-30) for w, e, _, _ in past])
        tails = np.array([t for *_, t in past])
        q = np.quantile(ratio, [0.5, 0.9, 0.99, 1.0])
        print(f"worst / e_ref over those: median {q[0]:.3g}, p90 {q[1]:.3g}, p99 {q[2]:.3g}, max {q[3]:.3g}")
        for k in (3, 10, 30, 100):
            mark = "  <- ROUNDING_FACTOR" if k == ROUNDING_FACTOR else ""
            fails = np.array([w > policy.rtol + k * e for w, e, _, _ in past])
            print(f"  rtol + {k:>3} x e_ref: {int(fails.sum())} of {len(past)} draws would fail, "
                  f"{int(fails[~tails].sum())} of them with no neuron in a saturated tail{mark}")
        print("largest worst / e_ref:")
        for w, e, name, t in sorted(past, key=lambda t: -t[0] / max(t[1], 1e-30))[:6]:
            print(f"  worst {w:.2e}  e_ref {e:.2e}  ratio {w / max(e, 1e-30):.3g}  {'tail ' if t else ''}{name[:80]}")
        off = [p for p in past if not p[3] and p[0] > policy.rtol + ROUNDING_FACTOR * p[1]]
        if off:
            print(f"past rtol + {ROUNDING_FACTOR:g} x e_ref with no saturated neuron:")
            for w, e, name, _ in sorted(off, key=lambda t: -t[0] / max(t[1], 1e-30))[:8]:
                print(f"  worst {w:.2e}  e_ref {e:.2e}  ratio {w / max(e, 1e-30):.3g}  {name[:80]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
