"""Issue 6 target 3: the NumPy reference at scale, and the memory of the structured routes.

1. Speed: the recursive route (``crosscheck.reference.recursive``), forward and backward, for
   6 layers of width 1024 at batch 256 in float64 (tanh hidden layers, identity output,
   half_sse), against NumPy's raw matmul rate for the same floating-point operations: the
   route's own matrix products, ``W_l A_{l-1}`` (forward), ``delta_l A_{l-1}^T`` (dW_l) and
   ``W_l^T delta_l`` (for l >= 2; layer 1 needs no delta_0), i.e. 3 per layer less one, timed
   alone on the same shapes and transposes: the ceiling of any NumPy implementation. Target:
   the route reaches >= 75% of it. Also printed: the same products keeping their results
   alive (a route must hold Z, A and every dW until it returns), and a run with glibc's
   malloc thresholds raised, which shows what the rest of the gap is: first-touch page faults
   on ~100 MB of fresh arrays per call, not Python or elementwise work. torch CPU autograd's
   time for the same network is printed beside it (its own process, so torch and JAX share
   no threads), and again in a process where JAX has run the network (docs/measurements.md's
   thread contention). NumPy is measured with this machine's environment as it is and, for
   comparison, without the OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE settings (benchmarks/README.md).
2. Memory: tracemalloc's peak (NumPy reports its allocations to it) of the kronecker and
   jacobian routes, depth 4, batch 64, a 10-wide output, hidden widths up to 256, beside
   what a dense identity or diagonal Kronecker factor alone would take.

    .venv/bin/python benchmarks/bench_scale.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc

import numpy as np
from _common import best_time, environment, run_part, target, write_json

WIDTH, BATCH, DEPTH = 1024, 256, 6


def _problem(width: int, batch: int, depth: int, seed: int = 0):
    from crosscheck.model.network import Network

    net = Network((width,) * (depth + 1), ("tanh",) * (depth - 1) + ("identity",), loss="half_sse")
    rng = np.random.default_rng(seed)
    params = tuple((rng.normal(0, 1 / np.sqrt(width), (width, width)), rng.normal(0, 0.1, width))
                   for _ in range(depth))
    X = rng.normal(size=(width, batch))
    Y = rng.normal(size=(width, batch))
    return net, params, X, Y


def numpy_part(width: int, batch: int, depth: int, repeats: int) -> dict:
    from crosscheck.reference import recursive

    net, params, X, Y = _problem(width, batch, depth)
    route = best_time(lambda: recursive.gradients(net, params, X, Y), repeats)
    Ws = [W for W, _ in params]
    A = [X] + [np.tanh(W @ X) for W in Ws]  # representative operands of the right shapes
    delta = [a.copy() for a in A[1:]]

    def raw(keep: bool):
        kept = []
        for layer in range(depth):
            products = [Ws[layer] @ A[layer],  # forward: Z_l = W_l A_{l-1}
                        delta[layer] @ np.swapaxes(A[layer], -1, -2)]  # dW_l = delta_l A_{l-1}^T
            if layer:
                products.append(np.swapaxes(Ws[layer], -1, -2) @ delta[layer])  # W_l^T delta_l
            if keep:  # as a route must: Z, A and dW live until it returns
                kept += products
        return kept

    matmul = best_time(lambda: raw(False), repeats)
    matmul_kept = best_time(lambda: raw(True), repeats)
    flops = 2.0 * width * width * batch * (3 * depth - 1)
    return {"route_s": route, "matmul_s": matmul, "matmul_kept_s": matmul_kept, "flops": flops,
            "fraction": matmul / route, "fraction_kept": matmul_kept / route,
            "gflops_matmul": flops / matmul / 1e9, "gflops_route": flops / route / 1e9}


def torch_part(width: int, batch: int, depth: int, repeats: int, with_jax: bool = False) -> dict:
    import torch

    from crosscheck.backends.torch import TorchBackend
    from crosscheck.compare import compare_gradients
    from crosscheck.model.case import Case
    from crosscheck.reference import recursive

    net, params, X, Y = _problem(width, batch, depth)
    backend = TorchBackend()
    from crosscheck.backends.base import canonical_for

    case = Case(net, canonical_for(net), params, X, Y)
    if with_jax:  # docs/measurements.md: torch slowed ~2.7x on large matmuls once JAX had run in its process
        from crosscheck.backends.jax import JaxBackend

        jax_b = JaxBackend(mode="native")
        stacked = tuple((W[None], b[None]) for W, b in params)
        best_time(lambda: jax_b.gradients_batched(net, None, stacked, X[None], Y[None]), 2)
    t = best_time(lambda: backend.gradients(case), repeats)
    ok = compare_gradients(recursive.gradients(net, params, X, Y), backend.gradients(case)).passed
    return {"torch_s": t, "threads": torch.get_num_threads(), "agrees": bool(ok)}


def memory_part(widths: list[int], batch: int, depth: int, n_out: int) -> list[dict]:
    from crosscheck.model.network import Network
    from crosscheck.reference import get_route

    rows = []
    for n in widths:
        net = Network((n,) * depth + (n_out,), ("tanh",) * (depth - 1) + ("identity",), loss="half_sse")
        rng = np.random.default_rng(0)
        params = tuple((rng.normal(0, 1 / np.sqrt(a), (b, a)), rng.normal(0, 0.1, b))
                       for a, b in zip(net.widths[:-1], net.widths[1:]))
        X, Y = rng.normal(size=(n, batch)), rng.normal(size=(n_out, batch))
        row = {"width": n, "inputs_mib": (sum(W.nbytes + b.nbytes for W, b in params) + X.nbytes) / 2**20,
               # one sample's dense [x^T 1] (x) I_n (seed 004's Jacobian factor) and one dense
               # diag(sigma') per sample for the whole batch: what structure avoids
               "dense_kron_identity_mib": n * n * (n + 1) * 8 / 2**20,
               "dense_diagonals_mib": batch * n * n * 8 / 2**20}
        for name in ("recursive", "kronecker", "jacobian"):
            route = get_route(name)
            tracemalloc.start()
            t = time.perf_counter()
            route(net, params, X, Y)
            row[f"{name}_s"] = time.perf_counter() - t
            row[f"{name}_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["numpy", "torch", "torch_jax"], help=argparse.SUPPRESS)
    ap.add_argument("--width", type=int, default=WIDTH)
    ap.add_argument("--batch", type=int, default=BATCH)
    ap.add_argument("--depth", type=int, default=DEPTH)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--memory-widths", default="32,64,128,256")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    size = [str(args.width), str(args.batch), str(args.depth), str(args.repeats)]
    if args.part == "numpy":
        print(json.dumps(numpy_part(*map(int, size))))
        return 0
    if args.part in ("torch", "torch_jax"):
        print(json.dumps(torch_part(*map(int, size), with_jax=args.part == "torch_jax")))
        return 0

    print(f"environment: {environment()}")
    part = lambda name: ["--part", name, "--width", size[0], "--batch", size[1], "--depth", size[2],  # noqa: E731
                         "--repeats", size[3]]
    as_is = run_part("bench_scale.py", part("numpy"))
    unset = run_part("bench_scale.py", part("numpy"), env={"OPENBLAS_CORETYPE": "", "OPENBLAS_L2_SIZE": ""})
    # glibc hands large freed blocks back to the OS, so every call first-touches its ~100 MB of
    # fresh arrays (page faults); with these thresholds raised it reuses them
    reuse = run_part("bench_scale.py", part("numpy"), env={"MALLOC_MMAP_THRESHOLD_": str(2**30),
                                                           "MALLOC_TRIM_THRESHOLD_": str(2**30)})
    torch_r = run_part("bench_scale.py", part("torch"))
    torch_jax = run_part("bench_scale.py", part("torch_jax"))
    print(f"\n{args.depth} layers x width {args.width}, batch {args.batch}, float64, forward + backward "
          f"({3 * args.depth - 1} matrix products, {as_is['flops'] / 1e9:.1f} GFLOP; best of {args.repeats})")
    print(f"{'environment':<34} {'recursive':>10} {'raw matmul':>11} {'route/raw':>10} {'GFLOP/s':>8} "
          f"{'raw, kept':>10} {'route/kept':>11}")
    for label, r in (("as is", as_is), ("OPENBLAS_CORETYPE/L2_SIZE unset", unset),
                     ("MALLOC_*_THRESHOLD_ raised", reuse)):
        print(f"{label:<34} {r['route_s'] * 1e3:>8.1f}ms {r['matmul_s'] * 1e3:>9.1f}ms {r['fraction']:>10.0%} "
              f"{r['gflops_matmul']:>8.1f} {r['matmul_kept_s'] * 1e3:>8.1f}ms {r['fraction_kept']:>11.0%}")
    print("(raw: the products alone, results dropped at once; raw, kept: the same products keeping "
          "their results alive, as the route must)")
    print(f"torch CPU autograd (torch.autograd.grad, {torch_r['threads']} threads, own process): "
          f"{torch_r['torch_s'] * 1e3:.1f} ms; agrees with the reference: {torch_r['agrees']}")
    print(f"the same after JAX ran the network in that process (thread contention): "
          f"{torch_jax['torch_s'] * 1e3:.1f} ms ({torch_jax['torch_s'] / torch_r['torch_s']:.2f}x)")

    widths = [int(w) for w in args.memory_widths.split(",")]
    mem = memory_part(widths, 64, 4, 10)
    print("\nmemory, depth 4, batch 64, 10-wide output, float64 (tracemalloc peak, MiB; time in s)")
    print(f"{'width':>5} {'inputs':>7} {'recursive':>10} {'kronecker':>10} {'jacobian':>10} "
          f"{'dense I(x)':>11} {'dense diags':>12}   times rec/kron/jac")
    for r in mem:
        print(f"{r['width']:>5} {r['inputs_mib']:>7.1f} {r['recursive_peak_mib']:>10.1f} "
              f"{r['kronecker_peak_mib']:>10.1f} {r['jacobian_peak_mib']:>10.1f} "
              f"{r['dense_kron_identity_mib']:>11.1f} {r['dense_diagonals_mib']:>12.1f}   "
              f"{r['recursive_s']:.3f}/{r['kronecker_s']:.3f}/{r['jacobian_s']:.3f}")
    print("(dense I(x): one sample's [x^T 1] (x) I_n at the widest layer; dense diags: diag(sigma') as "
          "n x n matrices for the whole batch. Neither is ever built.)")
    top = mem[-1]
    peak = max(top["kronecker_peak_mib"], top["jacobian_peak_mib"])
    targets = [
        target("recursive route vs raw matmul (6x1024, b256)", ">= 75%",
               f"{as_is['fraction']:.0%} as is ({as_is['fraction_kept']:.0%} of raw keeping results, "
               f"{reuse['fraction']:.0%} with malloc reuse), {unset['fraction']:.0%} OPENBLAS_* unset; torch "
               f"{torch_r['torch_s'] * 1e3:.0f} ms vs route {as_is['route_s'] * 1e3:.0f} ms",
               as_is["fraction"] >= 0.75),
        target(f"kronecker/jacobian peak memory, width {top['width']}", "bounded, no dense I(x)/diag",
               f"{top['kronecker_peak_mib']:.0f} / {top['jacobian_peak_mib']:.0f} MiB (dense I(x) would be "
               f"{top['dense_kron_identity_mib']:.0f} MiB per sample)", peak < 256),
    ]
    write_json(args.json, {"numpy": as_is, "numpy_openblas_unset": unset, "numpy_malloc_reuse": reuse,
                           "torch": torch_r, "torch_after_jax": torch_jax, "memory": mem,
                           "targets": targets})
    return 0


if __name__ == "__main__":
    sys.exit(main())
