"""Measure the tolerance policy: false failures on correct cases, misses on planted mistakes.

For random networks (depth 1-5, widths 2-16, ten activations, per-neuron mixes, six losses,
both reductions, batch 1-8, a random convention each) and D parameter draws per network:

- false failures: torch and JAX gradients (float64, and float32 computed in float32) against
  the float64 NumPy reference on the same (rounded) inputs, judged by ``crosscheck.tolerance``;
- misses: the same correct backend gradients with a relative error planted in ONE parameter
  gradient of every draw (1e-3 in float32, 1e-8 in float64), either spread over the whole
  parameter (random direction) or concentrated in one entry; a miss is a planted draw that passes.

The float32 policy has two stages (crosscheck.tolerance): a draw over rtol passes only when
its worst error stays within rtol + ROUNDING_FACTOR times the NumPy reference's own float32 error on
the same inputs (``compare.reference_rounding``); the backend's float64 answer excuses nothing.
The planted float32 mistakes are exactly the float32-only faults that the earlier float64
re-check excused: a float64 recomputation would agree.

Every draw is checked through the batched paths (torch.func.vmap, jax.jit(vmap)), so 100,000
draws per dtype take minutes on two cores.

    .venv/bin/python benchmarks/false_failures.py --networks 1000 --draws 100
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from crosscheck.backends import available_backends, get_backend
from crosscheck.compare import batched_rel_errors, reference_rounding
from crosscheck.draws import draw
from crosscheck.model.activations import activation_names
from crosscheck.model.conventions import all_conventions
from crosscheck.model.network import Network
from crosscheck.reference import recursive
from crosscheck.tolerance import policy_for

ACTIVATIONS = [a for a in activation_names()]
LOSSES = ["half_sse", "sse", "softmax_ce", "bce", "readout", "output"]
PLANT = {"float64": 1e-8, "float32": 1e-3}


def random_network(rng: np.random.Generator) -> Network:
    depth = int(rng.integers(1, 6))
    loss = str(rng.choice(LOSSES))
    widths = [int(rng.integers(2, 17)) for _ in range(depth + 1)]
    if loss == "output":
        widths[-1] = 1
    acts: list = []
    for layer in range(1, depth + 1):
        if rng.random() < 0.15 and layer < depth:
            acts.append(tuple(str(rng.choice(ACTIVATIONS)) for _ in range(widths[layer])))
        else:
            acts.append(str(rng.choice(ACTIVATIONS)))
    if loss == "bce":
        acts[-1] = "sigmoid"
    return Network(tuple(widths), tuple(acts), loss=loss, reduction=str(rng.choice(["sum", "mean"])),
                   bias=bool(rng.random() < 0.85))


def plant(grads, rng: np.random.Generator, size: float, one_entry: bool, which: np.ndarray | None = None):
    """Copy of stacked ``grads`` with a relative error ``size`` in one random parameter per draw.

    Returns (planted, share, which): ``share[d]`` is ||g_p|| / ||g|| of the planted parameter
    ``which[d]`` (0 when its gradient is exactly zero, where a relative error means nothing and
    nothing is planted). Pass ``which`` to plant in the same parameters again."""
    flat = [a.copy() for pair in grads for a in pair if a is not None]
    D = flat[0].shape[0]
    norms = np.stack([np.linalg.norm(a.reshape(D, -1).astype(np.float64), axis=-1) for a in flat], axis=1)
    total = np.sqrt((norms**2).sum(axis=1))
    if which is None:
        which = rng.integers(0, len(flat), size=D)
    share = np.zeros(D)
    for d in range(D):
        g = flat[which[d]][d]
        norm = norms[d, which[d]]
        if norm == 0:
            continue
        share[d] = norm / total[d]
        if one_entry:
            delta = np.zeros(g.shape)
            delta.flat[rng.integers(0, g.size)] = rng.choice([-1.0, 1.0])
        else:
            delta = rng.normal(size=g.shape)
            delta /= np.linalg.norm(delta)
        flat[which[d]][d] = (g + size * norm * delta).astype(g.dtype)
    it = iter(flat)
    return tuple((next(it), None if b is None else next(it)) for _, b in grads), share, which


def _verdict(policy, expected, got, e_ref):
    """(worst: (D,), passed: (D,)) by the policy's two stages (float64: rtol only)."""
    rel, _ = batched_rel_errors(expected, got, policy=policy)
    worst = rel.max(axis=1)
    return worst, worst <= (policy.bound(e_ref) if e_ref is not None else policy.rtol)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--backends", default=None, help="default: torch,jax where installed")
    args = ap.parse_args(argv)
    names = args.backends.split(",") if args.backends else [
        n for n in ("torch", "jax") if available_backends()[n] is None]
    backends = {n: get_backend(n) for n in names}
    dtypes = args.dtypes.split(",")
    conventions = list(all_conventions())
    rng = np.random.default_rng(args.seed)
    keys = [(dt, n) for dt in dtypes for n in names]
    stats = {k: dict(cases=0, stage1=0, false=0, worst=[], planted=0, missed=0, tiny=0, tiny_missed=0,
                     min_planted=np.inf, ref=[], ratio=[]) for k in keys}
    start = time.time()
    for i in range(args.networks):
        net = random_network(rng)
        conv = conventions[int(rng.integers(len(conventions)))]
        while conv.has_bias != net.bias:
            conv = conventions[int(rng.integers(len(conventions)))]
        m = 1 if conv.batch == "single" else int(rng.integers(1, 9))
        for dt in dtypes:
            try:
                d = draw(net, int(rng.integers(2**31)), batch_size=m, draws=args.draws, dtype=dt)
            except RuntimeError:
                continue
            up = lambda a: None if a is None else a.astype(np.float64)  # noqa: E731
            expected = recursive.gradients(net, tuple((up(W), up(b)) for W, b in d.params), up(d.X), up(d.Y))
            policy = policy_for(dt)
            # the float32 reference on the same inputs: its own rounding bounds stage 2
            e_ref = reference_rounding(expected, recursive.gradients(net, d.params, d.X, d.Y)) \
                if dt == "float32" else None
            # below this share of ||g|| a planted error is smaller than rtol * floor * ||g||: the
            # policy's stated resolution (tolerance.py), counted apart
            resolution = policy.rtol / PLANT[dt] * policy.floor
            for name, backend in backends.items():
                s = stats[(dt, name)]
                got = backend.gradients_batched(net, conv, d.params, d.X, d.Y)
                worst, ok = _verdict(policy, expected, got, e_ref)
                s["cases"] += worst.size
                s["worst"].append(worst)
                s["stage1"] += int((worst > policy.rtol).sum())
                if e_ref is not None:
                    s["ref"].append(e_ref)
                    s["ratio"].append(worst / np.maximum(e_ref, 1e-30))
                if (~ok).any():
                    s["false"] += int((~ok).sum())
                    print(f"  false failure: {net.describe()} {conv.describe()} m={m} {name} {dt} "
                          f"worst {worst[~ok].max():.2e}", file=sys.stderr)
                for one_entry in (False, True):
                    planted, share, which = plant(got, rng, PLANT[dt], one_entry)
                    pworst, pok = _verdict(policy, expected, planted, e_ref)  # stage 2 must not clear it
                    live = share > 0  # a zero gradient has no relative error to plant
                    tiny = live & (share < resolution)
                    s["planted"] += int((live & ~tiny).sum())
                    s["missed"] += int((pok & live & ~tiny).sum())
                    s["tiny"] += int(tiny.sum())
                    s["tiny_missed"] += int((pok & tiny).sum())
                    if (live & ~tiny).any():
                        s["min_planted"] = min(s["min_planted"], float(pworst[live & ~tiny].min()))
        if (i + 1) % max(1, args.networks // 20) == 0:
            done = sum(s["cases"] for s in stats.values())
            print(f"  {i + 1}/{args.networks} networks, {done} cases, {time.time() - start:.0f} s", file=sys.stderr)
    print(f"{args.networks} networks x {args.draws} draws, seed {args.seed}, {time.time() - start:.0f} s")
    print(f"{'dtype':8} {'backend':7} {'rtol':>6} {'floor':>6} {'cases':>7} {'stage1':>6} {'false':>5} "
          f"{'worst':>8} {'p99.99':>8} | {'planted':>7} {'size':>5} {'missed':>6} {'min seen':>8} "
          f"{'sub-resolution missed':>21}")
    for (dt, name), s in stats.items():
        if not s["worst"]:
            continue
        w = np.concatenate(s["worst"])
        p = policy_for(dt)
        print(f"{dt:8} {name:7} {p.rtol:6.0e} {p.floor:6.0e} {s['cases']:7d} {s['stage1']:6d} {s['false']:5d} "
              f"{w.max():8.2e} {np.quantile(w, 0.9999):8.2e} | {s['planted']:7d} {PLANT[dt]:5.0e} "
              f"{s['missed']:6d} {s['min_planted']:8.2e} {s['tiny_missed']:>9d} of {s['tiny']:<8d}")
    for (dt, name), s in stats.items():
        if s["ref"]:
            ref, ratio = np.concatenate(s["ref"]), np.concatenate(s["ratio"])
            print(f"{dt} {name}: float32 reference's own error e_ref max {ref.max():.2e}, p99.99 "
                  f"{np.quantile(ref, 0.9999):.2e}; worst/e_ref over draws past rtol: "
                  f"{ratio[np.concatenate(s['worst']) > policy_for(dt).rtol].max(initial=0):.2f}")
    print("stage1: draws over rtol; false: those also over rtol + 10x the float32 reference's own error.\n"
          "planted: one parameter's gradient off by 'size' (relative), spread or in one entry, per draw;\n"
          "sub-resolution: the planted parameter's gradient is below rtol/size*floor of the whole gradient.")
    return 0 if all(s["false"] == 0 and s["missed"] == 0 for s in stats.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
