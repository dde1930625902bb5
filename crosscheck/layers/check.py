"""The layer check: every layer of an API that a module defines, forward and backward, one verdict each.

For each layer, hypothesis draws dimensions (explicit first examples with N = 1 and N > 1 and every
dimension distinct, then generated ones: distinct first, coincident after) and a value seed; the
student's forward runs in the sandbox on those inputs, its backward on the student's *own* cache (kept
in the worker as a handle) and a random ``dout``; every returned array is compared in the parent
with the reference (``crosscheck.reference.layers``) under the tolerance policy of ``crosscheck.tolerance``.
A difference is shrunk to a minimal case and diagnosed (``crosscheck.layers.diagnose``). One example
(the run and the comparison) is ``crosscheck.layers.evaluate``; what to check, ``crosscheck.layers.target``.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from typing import Any

import numpy as np

from .. import terminal
from ..errors import ImplementationError, UsageError
from ..sandbox.client import Sandbox, limit_flags
from ..sandbox.targets import Target
from .api import LAYERS, Layer
from .diagnose import GENERIC_IDS, diagnose  # imported before any untrusted call, like everything a verdict needs
from .evaluate import Outcome, evaluate
from .objects import OBJECT_LAYERS, parse_grads
from .recurrent import default_layers
from .redraw import discriminating, rerun_advice
from .report import LayersReport, LayerVerdict, jsonable
from .target import APIS, DROPOUT_P, parse_layers_target, select_layers

__all__ = ["check_layers", "DEFAULT_EXAMPLES"]

DEFAULT_EXAMPLES = 30  # per layer, unless the profile asks for fewer


# ---- one layer -----------------------------------------------------------------------------------------

class _Abort(BaseException):
    def __init__(self, error: ImplementationError) -> None:
        super().__init__(str(error))
        self.error = error


class _Mismatch(AssertionError):
    pass


def _check_layer(sandbox: Sandbox, layer: Layer, *, examples: int, seed: int, dtype: str, opts: dict,
                 hsettings: Any, notes: list[str] | None = None) -> tuple[str, Outcome | None,
                                                                       ImplementationError | None, int]:
    """One layer: ("pass" | "fail" | "error", the failing outcome, the error, examples run); the kink
    conventions the implementation used are appended to ``notes``."""
    from hypothesis import strategies as st

    state: dict[str, Any] = {"examples": 0, "failure": None, "error": None, "seen": [], "notes": {}}
    modes = st.sampled_from(["distinct", "coincident"])  # shrinks towards distinct
    strategy = modes.flatmap(lambda m: layer.dims(m).map(lambda d: (m, d)))

    def run(case: tuple, value_seed: int) -> None:
        mode, dims = case
        if state["failure"] is None:
            state["examples"] += 1
        try:
            outcome = evaluate(sandbox, layer, mode, dims, value_seed, dtype, opts)
        except ImplementationError as e:
            if state["failure"] is None and e.kind != "raised":
                raise _Abort(e) from None  # hangs, crashes, memory: stop at once
            # an exception on some inputs: keep searching for wrong values, which the diagnosis can name
            # (a transposed kernel raises on non-square kernels and is wrong on square ones)
            if state["error"] is None:
                state["error"] = (e, layer.describe_dims(dims))
            return
        state["notes"].update(dict.fromkeys(outcome.notes))
        if not outcome.passed:
            state["failure"] = outcome
            if len(state["seen"]) < 64:
                state["seen"].append(outcome)
            raise _Mismatch(layer.describe_dims(dims))

    try:
        return _search(sandbox, layer, state, run, strategy, seed=seed, dtype=dtype, opts=opts,
                       hsettings=hsettings)
    finally:
        if notes is not None:
            notes.extend(state["notes"])


def _search(sandbox: Sandbox, layer: Layer, state: dict, run: Any, strategy: Any, *, seed: int, dtype: str,
            opts: dict, hsettings: Any) -> tuple[str, Outcome | None, ImplementationError | None, int]:
    from hypothesis import given
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    # the explicit first examples (N = 1 and N > 1, distinct dimensions, kinks) always run; hypothesis
    # cannot shrink an explicit example, so a failure there is searched again by the generated ones,
    # which shrink, and reported as it is only when they find none
    first_failure: Outcome | None = None
    for dims in layer.first:
        state["examples"] += 1
        try:
            outcome = evaluate(sandbox, layer, "distinct", dims, 0, dtype, opts)
        except ImplementationError as e:
            if e.kind != "raised":
                return "error", None, e, state["examples"]
            state["error"] = state["error"] or (e, layer.describe_dims(dims))
            continue
        state["notes"].update(dict.fromkeys(outcome.notes))
        if not outcome.passed:
            first_failure = outcome
            break
    test = hsettings(hseed(seed)(given(strategy, st.integers(0, 2**32 - 1))(run)))
    try:
        test()
    except _Abort as abort:
        if first_failure is None:
            return "error", None, abort.error, state["examples"]
    except Exception:  # the minimal failing example, re-raised by hypothesis (or a Flaky report)
        if state["failure"] is None:
            raise
    failure = state["failure"] or first_failure
    if failure is not None:
        failure.raised = state["error"]
        failure.others = [o for o in state["seen"] + [first_failure] if o is not None and o is not failure]
        for o in failure.others:
            o.raised = state["error"]
        return "fail", failure, None, state["examples"]
    if state["error"] is not None:
        error, where = state["error"]
        error.args = (f"{error} (on {where})",)
        return "error", None, error, state["examples"]
    return "pass", None, None, state["examples"]


# ---- the job ---------------------------------------------------------------------------------------------

def _reproduce(target: Target, layer: str, *, api: str, seed: int, examples: int, dtype: str, dropout_p: str,
               timeout: float, memory: int | None, forbid: tuple[str, ...] = (), grads: dict | None = None) -> str:
    argv = ["crosscheck", "check", target.display, "--api", api, "--layers", layer, "--seed", str(seed),
            "--examples", str(examples)]
    if grads:
        argv += ["--grads", ",".join(f"{k}={v}" for k, v in grads.items())]
    if dropout_p != "keep":
        argv += ["--dropout-p", dropout_p]
    if dtype != "float64":
        argv += ["--dtype", dtype]
    return shlex.join(argv + limit_flags(timeout=timeout, memory=memory, forbid=forbid))


def _size(outcome: Outcome) -> int:
    return sum(int(np.size(v)) for k, v in outcome.inputs.items() if k != "x_large" and isinstance(v, np.ndarray))


def _diagnosed(layer: Layer, minimal: Outcome, opts: dict, dtype: str,
               sandbox: Sandbox | None = None) -> tuple[Outcome, list[dict]]:
    """The diagnosis of the case where causes can be told apart (``crosscheck.layers.redraw``) when the
    layer fails there, else of the minimal failing case; when no known mistake explains it (shrinking can
    land where the mistake has no name: a transposed kernel that broadcasts on a 1 x 2 kernel), the
    smallest other failing example met on the way where one does, reported as the failing case instead."""
    def run(o: Outcome) -> list[dict]:
        return diagnose(layer, o.inputs, o.got, o.expected, o.parts, mutated=o.mutated,
                        not_implemented=o.not_implemented, opts=opts, dtype=dtype)

    # distinct dimensions first (a transpose is a shape error there), then the smallest
    candidates = sorted([minimal] + list(minimal.others), key=lambda o: (o.mode != "distinct", _size(o)))
    if sandbox is not None and not minimal.not_implemented:
        redrawn = discriminating(layer, lambda d, s, o: evaluate(sandbox, layer, "distinct", d, s, dtype, o),
                                 opts, dtype)
        failing = {p.name for p in minimal.parts if not p.passed}
        # the re-drawn case goes first only where it shows every output the minimal case gets wrong
        if redrawn is not None and failing <= {p.name for p in redrawn.parts if not p.passed}:
            redrawn.mode = "re-drawn, distinct"  # where the causes can be told apart
            candidates.insert(0, redrawn)
    minimal = candidates[0]
    found = run(minimal)
    if not found or found[0]["id"] not in GENERIC_IDS:
        return minimal, found
    for other in candidates[1:]:
        named = run(other)
        if named and named[0]["id"] not in GENERIC_IDS:
            return other, named
    return minimal, found


def _failing_case(layer: Layer, outcome: Outcome) -> dict:
    shown = {k: v for k, v in outcome.inputs.items() if k != "x_large"}
    return {"description": f"{layer.describe_dims(outcome.dims)} ({outcome.mode} dimensions)",
            "dims": outcome.dims, "mode": outcome.mode, "value_seed": outcome.value_seed,
            "inputs": jsonable(shown),
            "expected": jsonable(outcome.expected), "got": jsonable({k: v for k, v in outcome.got.items()
                                                                    if isinstance(v, np.ndarray)}),
            "parts": [p.to_dict() for p in outcome.parts], "mutated": list(outcome.mutated)}


def _validate(api: str, dropout_p: str, dtype: str, seed: Any, examples: Any, timeout: Any, memory: Any,
              forbid_imports: Any) -> tuple[str, ...]:
    from ..sandbox.isolation import default_forbidden
    from ..sandbox.targets import parse_forbidden

    if api not in APIS:
        raise UsageError(f"unknown api {api!r}; choose from {', '.join(APIS)}")
    if dropout_p not in DROPOUT_P:
        raise UsageError(f"dropout_p must be 'keep' (p is the keep probability, recent years of the course) or "
                         f"'drop' (p is the drop probability, older years), got {dropout_p!r}")
    if dtype not in ("float64", "float32"):
        raise UsageError(f"dtype must be float64 or float32, got {dtype!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be an integer >= 0, got {seed!r}")
    if examples is not None and (isinstance(examples, bool) or not isinstance(examples, int) or examples < 1):
        raise UsageError(f"examples must be a positive integer, got {examples!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise UsageError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if memory is not None and (isinstance(memory, bool) or not isinstance(memory, int) or memory < 1):
        raise UsageError(f"memory must be a positive number of megabytes, got {memory!r}")
    return parse_forbidden(default_forbidden() if forbid_imports is None else forbid_imports)


def check_layers(target: Any, *, api: str = "cs231n", layers: Any = None, dropout_p: str = "keep",
                 grads: Any = None, examples: int | None = None, seed: int = 0, timeout: float = 10.0,
                 memory: int | None = 1024, forbid_imports: Any = None, dtype: str = "float64",
                 profile: str | None = None, isolation: str = "auto", budget: float | None = None) -> LayersReport:
    """Check every layer of ``api`` that ``target`` defines (a file, module or ``file.py:function`` for one
    layer); return the report with one verdict per layer. Raises ``UsageError`` for bad options.

    The sandbox is ``check``'s: ``timeout`` per call, ``memory`` cap, ``forbid_imports`` (None: the
    process-wide default that the pytest plugin and ``crosscheck grade`` set), ``isolation``."""
    from hypothesis import HealthCheck, settings

    from ..profiles import current_profile, settings_for

    if os.environ.get("CROSSCHECK_WORKER"):
        raise UsageError("crosscheck was started from inside its own sandbox process: the module under test "
                         "runs a check when imported; put that call under `if __name__ == '__main__':`")
    forbid = _validate(api, dropout_p, dtype, seed, examples, timeout, memory, forbid_imports)
    parsed, function = parse_layers_target(target)
    chosen = select_layers(layers, function, api)
    table = OBJECT_LAYERS if api == "module" else LAYERS
    profile_name = current_profile(profile)
    base = settings_for(profile_name)
    per_layer = examples or min(base.max_examples, DEFAULT_EXAMPLES)
    hsettings = settings(base, max_examples=per_layer, derandomize=False, database=None, deadline=None,
                         suppress_health_check=list(HealthCheck), print_blob=False)
    try:
        opts = {"dropout_p": dropout_p, "grads": parse_grads(grads)}
    except ValueError as e:
        raise UsageError(str(e)) from None
    t0 = time.perf_counter()
    report = LayersReport(parsed.display, api, [], dtype, seed, dropout_p,
                          environment={"python": sys.version.split()[0], "numpy": np.__version__,
                                       "profile": profile_name, "examples_per_layer": per_layer})
    sandbox = Sandbox(parsed, timeout=float(timeout), memory=memory, forbid_imports=forbid, isolation=isolation,
                      budget=budget)
    repro = {"api": api, "seed": seed, "examples": per_layer, "dtype": dtype, "dropout_p": dropout_p,
             "timeout": float(timeout), "memory": memory, "forbid": forbid, "grads": opts["grads"]}
    try:
        sandbox.start()
        defined = set(sandbox.functions)
        if layers is None and function is None and api == "module":  # the classes the module defines
            chosen = [n for n in chosen if all(f in defined for f in table[n].functions)] or chosen
        elif layers is None and function is None:  # assignment 2's layers or 3's, whichever the module writes
            chosen = default_layers(chosen, defined, LAYERS)
    except ImplementationError as e:  # importing the module failed: no layer can run
        for name in chosen:
            report.layers.append(LayerVerdict(name, "error", functions=table[name].functions,
                                              detail=str(e), output=e.output,
                                              reproduce=_reproduce(parsed, name, **repro)))
        report.elapsed = time.perf_counter() - t0
        return report
    with sandbox:
        for name in chosen:
            layer = table[name]
            verdict = LayerVerdict(name, "pass", functions=layer.functions,
                                   reproduce=_reproduce(parsed, name, **repro))
            missing = [f for f in layer.functions if f not in defined]
            if missing:
                verdict.verdict = "missing"
                verdict.detail = f"{parsed.display} does not define {', '.join(missing)}"
                report.layers.append(verdict)
                continue
            status, outcome, error, count = _check_layer(sandbox, layer, examples=per_layer, seed=seed, dtype=dtype,
                                                         opts=opts, hsettings=hsettings, notes=verdict.notes)
            if status == "error" and error is not None and error.kind == "raised":
                # it raised on every case that failed; where it runs on the re-drawn case and is wrong
                # there, that is a failure the diagnosis can name (the raise is reported beside it)
                outcome = discriminating(layer, lambda d, s, o, layer=layer: evaluate(
                    sandbox, layer, "distinct", d, s, dtype, o), opts, dtype)
                if outcome is not None:
                    status, outcome.raised, error = "fail", (error, ""), None  # error names its case
            verdict.verdict, verdict.examples = status, count
            if error is not None:
                verdict.detail = f"[{error.kind}] {error}"
                verdict.output = error.output
            if outcome is not None:
                raised = outcome.raised
                outcome, verdict.diagnosis = _diagnosed(layer, outcome, opts, dtype, sandbox)
                outcome.raised = outcome.raised or raised
                rerun_advice(verdict.diagnosis, dropout_p, lambda other, layer=layer: _check_layer(
                    sandbox, layer, examples=per_layer, seed=seed, dtype=dtype, opts={**opts, "dropout_p": other},
                    hsettings=hsettings)[0])
                verdict.parts = outcome.parts
                verdict.failing_case = _failing_case(layer, outcome)
                if outcome.raised is not None:
                    err, where = outcome.raised
                    verdict.diagnosis.append({"id": "raises", "parameter": "",
                                              "detail": f"{err} on {where}" if where else str(err)})
                    verdict.output = err.output
                verdict.output = outcome.output or verdict.output
            report.layers.append(verdict)
    report.elapsed = time.perf_counter() - t0
    return report


# ---- the faces: CLI and check_implementation ---------------------------------------------------------------

def write_json(report: LayersReport, path: str | None) -> None:
    """The JSON report, written atomically by this process (``-``: stdout)."""
    import json

    from ..output import write_text

    if path:
        write_text(path, json.dumps(report.to_dict(), indent=2, default=str))


def run_from_args(args: Any) -> int:
    """``crosscheck check layers.py --api cs231n [--layers ...] [--dropout-p keep|drop]``."""
    from ..output import require_writable

    if getattr(args, "plot", None):
        raise UsageError("--plot is not available with --api (one plot per layer is not drawn yet)")
    require_writable(args.json, "--json")  # before any work: a bad path is exit 2, not a lost verdict
    report = check_layers(args.target, api=args.api, layers=getattr(args, "layers", None),
                          dropout_p=getattr(args, "dropout_p", None) or "keep", grads=getattr(args, "grads", None),
                          examples=args.examples,
                          seed=args.seed, timeout=args.timeout, memory=args.memory,
                          forbid_imports=getattr(args, "forbid_import", None), dtype=args.dtype,
                          profile=args.profile, isolation=getattr(args, "isolation", None) or "auto",
                          budget=getattr(args, "budget", None))
    if args.json != "-":  # the report first: nothing printed can lose it
        write_json(report, args.json)
    stream = sys.stderr if args.json == "-" else sys.stdout
    print(report.summary(terminal.width(stream), colour=terminal.use_colour(stream)), file=stream)
    if args.json == "-":
        write_json(report, args.json)
    return report.exit_code


def check_layers_or_raise(target: Any, **options: Any) -> LayersReport:
    """``check_implementation(..., api="cs231n")``: the report when every checked layer passes; raises
    ``GradientMismatch`` when one fails, ``ImplementationError`` when one could not run, ``UsageError``
    when nothing was compared."""
    from ..errors import GradientMismatch
    from ..terminal import short_message

    json_path = options.pop("json", None)
    report = check_layers(target, **options)
    write_json(report, json_path)
    code = report.exit_code
    if code == 1:  # a short message: the full report is on .report (and, under pytest, a report section)
        raise GradientMismatch(short_message(report), report)
    if code == 3:
        err = ImplementationError(short_message(report), kind="layers")
        err.report = report  # type: ignore[attr-defined]
        raise err
    if code == 2:
        raise UsageError(f"{report.target} defines none of the {report.api} layer functions checked: "
                         + "; ".join(v.detail for v in report.layers))
    return report
