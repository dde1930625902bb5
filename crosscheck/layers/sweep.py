"""``crosscheck sweep --layers``: the per-layer references (``crosscheck.reference.layers``) against
torch.nn.functional + torch.autograd, jax.numpy/jax.lax + jax.vjp, and numeric oracles.

For each layer family hypothesis draws inputs with the layer check's own strategies (N = 1 included,
distinct dimensions first, then coincident ones), and each oracle's forward output and VJP are
compared with the reference's:

- torch and JAX compute in the sweep's dtype on the same (rounded) inputs, and are judged by the
  tolerance policy of ``crosscheck.tolerance`` against the float64 reference, as the layer check judges
  student code (in float32 a part also passes within ten times the reference's own float32 error:
  ``crosscheck.layers.evaluate.compare_parts``);
- central finite differences (every family) and the complex step (analytic families: no max, no
  comparison on the input) of the reference forward pass, in float64, judged in their own unit as
  ``crosscheck.reference.numeric`` explains: max |numeric - analytic| / max(1, |L|, max |analytic|)
  against ``FD_TOLERANCE`` and ``CS_TOLERANCE``.

A disagreement is shrunk to a minimal case and printed with its arrays. Exit 0 when everything agreed,
1 on a disagreement, 2 on a usage error.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

from ..errors import UsageError
from ..reference.numeric import CS_TOLERANCE, FD_TOLERANCE
from .api import LAYERS
from .evaluate import compare_parts
from .oracles import FAMILIES, Family, add_mask, jax_vjp, numeric_vjp, reference_vjp, torch_vjp
from .recurrent_oracles import oracle_inputs

__all__ = ["sweep_layers", "run_from_args", "ORACLES"]

ORACLES = ("torch", "jax", "finite_difference", "complex_step")
DEFAULT_EXAMPLES = 25  # per family
_NUMERIC = {"finite_difference": FD_TOLERANCE, "complex_step": CS_TOLERANCE}


def _available(name: str) -> str | None:
    """None when the oracle can run here, else why not."""
    import importlib.util

    if name in ("torch", "jax") and importlib.util.find_spec(name) is None:
        return f"{name} is not installed (pip install 'crosscheck-grad[{name}]')"
    return None


def _numeric_error(ref: dict, num: dict, family: Family, a: dict) -> float:
    L = abs(float(np.real(family.forward({k: (np.asarray(v, dtype=np.float64) if isinstance(v, np.ndarray)
                                               and v.dtype.kind == "f" else v) for k, v in a.items()}) if family.loss
                          else np.sum(np.asarray(a["dout"], np.float64) * ref["out"]))))
    grads = ["d" + k for k in family.wrt]
    scale = max([1.0, L] + [float(np.max(np.abs(ref[g]))) if np.size(ref[g]) else 0.0 for g in grads])
    return max(float(np.max(np.abs(num[g] - ref[g]))) if np.size(ref[g]) else 0.0 for g in grads) / scale


def _one(family: Family, oracles: list[str], a: dict, dtype: str, worst: dict | None = None) -> list[dict]:
    """Every oracle against the reference on one example: a list of disagreements (empty: agreed).
    ``worst`` collects each oracle's largest error (numeric: scaled error; torch/JAX: relative error)."""
    worst = {} if worst is None else worst
    a64 = {k: (np.asarray(v, dtype=np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
           for k, v in a.items()}
    expected = reference_vjp(family, a64)
    groups = (("out",), tuple("d" + k for k in family.wrt))
    expected32 = reference_vjp(family, a) if dtype == "float32" else None
    problems = []
    for oracle in oracles:
        if oracle in _NUMERIC:
            if dtype != "float64" or (oracle == "complex_step" and not family.analytic):
                continue
            got = numeric_vjp(family, a64, oracle)
            err = _numeric_error(expected, got, family, a64)
            worst[oracle] = max(worst.get(oracle, 0.0), err)
            if not err <= _NUMERIC[oracle]:
                problems.append({"oracle": oracle, "summary": f"scaled error {err:.2e} > {_NUMERIC[oracle]:.0e} "
                                 "(max |numeric - reference| / max(1, |L|, max |reference|))",
                                 "expected": expected, "got": got})
            continue
        got = (torch_vjp if oracle == "torch" else jax_vjp)(family, a)
        scales = family.scales(a64) if family.scales else None
        parts = compare_parts(expected, got, groups, dtype, expected32, scales)
        worst[oracle] = max([worst.get(oracle, 0.0)] + [p.rel_error for p in parts])
        bad = [p for p in parts if not p.passed]
        if bad:
            problems.append({"oracle": oracle, "summary": "; ".join(p.describe() for p in bad),
                             "expected": expected, "got": got})
    return problems


def _draw(family: Family, mode: str, dims: dict, value_seed: int, dtype: str) -> dict:
    rng = np.random.default_rng(value_seed)
    # never exactly on a kink: no derivative exists there for the oracles to agree on (the layer check
    # accepts any subgradient there, crosscheck.layers.kinks)
    a = LAYERS[family.name].inputs({**dims, "kinks": False}, rng, dtype, {})
    a.pop("x_large", None)
    return add_mask(oracle_inputs(family.name, a), rng)


def sweep_family(family: Family, oracles: list[str], *, examples: int, seed: int, dtype: str,
                 hsettings: Any) -> dict:
    from hypothesis import given
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    layer = LAYERS[family.name]
    state: dict[str, Any] = {"examples": 0, "failure": None, "worst": {}}
    strategy = st.sampled_from(["distinct", "coincident"]).flatmap(lambda m: layer.dims(m).map(lambda d: (m, d)))

    def check(mode: str, dims: dict, value_seed: int) -> None:
        a = _draw(family, mode, dims, value_seed, dtype)
        problems = _one(family, oracles, a, dtype, state["worst"])
        if problems:
            state["failure"] = {"mode": mode, "dims": dims, "value_seed": value_seed, "inputs": a,
                                "problems": problems}
            raise AssertionError(problems[0]["summary"])

    for dims in layer.first:  # N = 1 and N > 1 with distinct dimensions, always
        state["examples"] += 1
        try:
            check("distinct", dims, 0)
        except AssertionError:
            break

    @hsettings
    @hseed(seed)
    @given(strategy, st.integers(0, 2**32 - 1))
    def run(case: tuple, value_seed: int) -> None:
        if state["failure"] is None:
            state["examples"] += 1
        check(case[0], case[1], value_seed)

    if state["failure"] is None:
        try:
            run()
        except AssertionError:
            if state["failure"] is None:
                raise
    return {"family": family.name, "examples": state["examples"], "failure": state["failure"],
            "worst": {k: float(f"{v:.3g}") for k, v in state["worst"].items()}}


def sweep_layers(*, layers: Any = None, oracles: Any = None, examples: int | None = None, seed: int = 0,
                 dtype: str = "float64", profile: str | None = None) -> dict:
    """Run the layer sweep; returns ``{"passed", "families": [...], "oracles", "skipped", ...}``."""
    from hypothesis import HealthCheck, settings

    from ..profiles import current_profile, settings_for
    from .target import select_layers

    if dtype not in ("float64", "float32"):
        raise UsageError(f"dtype must be float64 or float32, got {dtype!r}")
    chosen = select_layers(None if layers in (None, "all") else layers, None)
    families = [FAMILIES[n] for n in chosen if n in FAMILIES]  # batchnorm_alt shares batchnorm's reference
    if isinstance(oracles, str):
        oracles = [o.strip() for o in oracles.split(",") if o.strip()]
    wanted: list[str] = []
    for o in oracles or ORACLES:  # "numpy" (sweep's backend name) means the numeric oracles here
        wanted += ["finite_difference", "complex_step"] if o == "numpy" else [o]
    for o in wanted:
        if o not in ORACLES:
            raise UsageError(f"unknown oracle {o!r} for --layers; choose from {', '.join(ORACLES)}")
    skipped = {o: why for o in wanted if (why := _available(o)) is not None}
    if oracles and skipped:  # asked for by name: a missing one is an error, not a silent skip
        raise UsageError("; ".join(skipped.values()))
    runnable = [o for o in wanted if o not in skipped]
    base = settings_for(current_profile(profile))
    per_family = examples or min(base.max_examples, DEFAULT_EXAMPLES)
    hsettings = settings(base, max_examples=per_family, derandomize=False, database=None, deadline=None,
                         suppress_health_check=list(HealthCheck), print_blob=False)
    from ..terminal import Progress

    t0 = time.perf_counter()
    progress = Progress("crosscheck sweep --layers")  # a TTY only, from 2 s on, with an ETA
    results = []
    try:
        for i, f in enumerate(families):
            progress.update(i, len(families), f.name)
            results.append(sweep_family(f, runnable, examples=per_family, seed=seed, dtype=dtype,
                                        hsettings=hsettings))
    finally:
        progress.close()
    return {"passed": all(r["failure"] is None for r in results), "dtype": dtype, "seed": seed,
            "oracles": runnable, "skipped": skipped, "examples_per_family": per_family,
            "families": results, "elapsed_s": round(time.perf_counter() - t0, 3)}


def _summary(result: dict) -> str:
    from ..output import format_array, plural
    from ..terminal import width, wrap

    lines = [f"crosscheck sweep --layers: reference VJPs against {', '.join(result['oracles'])} "
             f"({result['dtype']}, seed {result['seed']})"]
    for o, why in result["skipped"].items():
        lines.append(f"  skipped {o}: {why}")
    for r in result["families"]:
        f = r["failure"]
        worst = ", ".join(f"{k} {v:.1e}" for k, v in r["worst"].items())
        lines += wrap(f"{'ok  ' if f is None else 'FAIL'} {r['family']}: {plural(r['examples'], 'example')} "
                      f"(worst error: {worst})", width(), indent="  ", subsequent="         ")
        if f is None:
            continue
        layer = LAYERS[r["family"]]
        lines.append(f"    minimal case: {layer.describe_dims(f['dims'])} ({f['mode']} dimensions)")
        for p in f["problems"]:
            lines.append(f"    {p['oracle']} disagrees with the reference: {p['summary']}")
        for k, v in f["inputs"].items():
            if isinstance(v, np.ndarray):
                lines.append("    " + format_array(v, k, limit=6).replace("\n", "\n    "))
            else:
                lines.append(f"    {k} = {v}")
    n = sum(r["examples"] for r in result["families"])
    lines.append(f"{'PASS' if result['passed'] else 'FAIL'}: {plural(n, 'example')} over "
                 f"{plural(len(result['families']), 'layer family', 'layer families')} in {result['elapsed_s']:.1f} s")
    return "\n".join(lines)


def _jsonable(result: dict) -> dict:
    from .report import jsonable

    out = dict(result)
    out["families"] = [{**r, "failure": None if r["failure"] is None else jsonable(
        {**r["failure"], "problems": [{k: v for k, v in p.items()} for p in r["failure"]["problems"]]})}
        for r in result["families"]]
    return out


def run_from_args(args: Any) -> int:
    """``crosscheck sweep --layers [LIST] [--backends torch,jax] [--dtype ...] [--examples N]``."""
    from ..output import stamp

    layers = args.layers
    backends = getattr(args, "backends", None)
    result = sweep_layers(layers=None if layers == "all" else layers, oracles=backends,
                          examples=args.examples, seed=args.seed, dtype=args.dtype, profile=args.profile)
    to_stdout = args.json != "-"
    print(_summary(result), file=sys.stdout if to_stdout else sys.stderr)
    if args.json:
        text = json.dumps(stamp("layer-sweep", _jsonable(result)), indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as fh:
                fh.write(text + "\n")
    return 0 if result["passed"] else 1
