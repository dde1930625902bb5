"""The layer check: every layer of an API that a module defines, forward and backward, one verdict each.

For each layer, hypothesis draws dimensions (explicit first examples with N = 1 and N > 1 and every
dimension distinct, then generated ones: distinct first, coincident after) and a value seed; the
student's forward runs in the sandbox on those inputs, its backward on the student's *own* cache (kept
in the worker as a handle) and a random ``dout``; every returned array is compared here, in the parent,
with the reference (``crosscheck.reference.layers``) under the tolerance policy of ``crosscheck.tolerance``.
A difference is shrunk to a minimal case and diagnosed (``crosscheck.layers.diagnose``).
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import terminal
from ..errors import ImplementationError, UsageError
from ..sandbox.client import Sandbox, Target, find_target_file, trim_output
from ..sandbox.notebook import notebook_chunks
from ..tolerance import policy_for
from .api import (
    ALIASES,
    LAYER_NAMES,
    LAYERS,
    REFERENCE_DTYPE,
    BadReturn,
    Layer,
    NotImplementedResult,
    layer_for_function,
)
from .diagnose import GENERIC_IDS, diagnose  # imported before any untrusted call, like everything a verdict needs
from .objects import OBJECT_LAYERS, parse_grads
from .recurrent import default_layers
from .redraw import discriminating, rerun_advice
from .report import LayersReport, LayerVerdict, Part, jsonable

__all__ = ["check_layers", "parse_layers_target", "APIS", "DEFAULT_EXAMPLES"]

APIS = ("cs231n", "module")  # module: layers written as classes (crosscheck.layers.objects)
DROPOUT_P = ("keep", "drop")
DEFAULT_EXAMPLES = 30  # per layer, unless the profile asks for fewer
_IDENT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


# ---- what to check ----------------------------------------------------------------------------------

def parse_layers_target(target: Any) -> tuple[Target, str | None]:
    """``layers.py``, ``layers.py:batchnorm_backward``, ``pkg.layers`` or ``pkg.layers:fn``, or a module
    object -> (a whole-module Target, the one function named or None). Raises ``UsageError``."""
    if hasattr(target, "__name__") and hasattr(target, "__dict__") and not callable(target):  # a module object
        file = getattr(target, "__file__", None)
        return Target("module", "", module=target.__name__, file=file), None
    if callable(target):
        module, name = getattr(target, "__module__", None), getattr(target, "__name__", None)
        if not isinstance(module, str) or not isinstance(name, str):
            raise UsageError(f"cannot tell which module {target!r} comes from; pass 'layers.py' or 'layers.py:name'")
        mod = sys.modules.get(module)
        file = getattr(mod, "__file__", None)
        if module == "__main__" and file:
            return Target("file", "", path=file, module_name="__crosscheck_main__"), name
        return Target("module", "", module=module, file=file), name
    if not isinstance(target, str) or not target:
        raise UsageError(f"expected a module path such as layers.py, got {target!r}")
    left, sep, attr = target.rpartition(":")
    if not sep:
        left, attr = target, ""
    if attr and not (attr.isidentifier()):
        raise UsageError(f"{attr!r} in {target!r} is not a function name")
    if left.endswith(".ipynb"):  # the cells that define the notebook's functions, nothing else
        found = find_target_file(left)
        if found is None:
            raise UsageError(f"no such file {left!r}")
        return Target("source", "", path=found, chunks=notebook_chunks(found, None)), attr or None
    if left.endswith(".py") or "/" in left or os.sep in left:
        found = find_target_file(left)  # under pytest also the test file's folder and rootdir
        if found is None:
            raise UsageError(f"no such file {left!r}")
        return Target("file", "", path=found), attr or None
    if not left or not set(left) <= _IDENT_CHARS:
        raise UsageError(f"{left!r} is neither a .py file nor a module name")
    return Target("module", "", module=left), attr or None


def select_layers(layers: Any, function: str | None, api: str = "cs231n") -> list[str]:
    if api == "module":  # the classes of crosscheck.layers.objects, by class name
        names = list(OBJECT_LAYERS)
        wanted = [function] if function else ([s.strip() for s in layers.split(",") if s.strip()]
                                              if isinstance(layers, str) else list(layers or names))
        unknown = [n for n in wanted if n not in OBJECT_LAYERS]
        if unknown:
            raise UsageError(f"unknown layer class {unknown[0]!r} for --api module; known: {', '.join(names)}")
        return wanted
    if function is not None:
        name = layer_for_function(function)
        if name is None:
            raise UsageError(f"{function!r} is not a function of the cs231n layer API; its layers: "
                             f"{', '.join(LAYER_NAMES)}")
        chosen = [name]
        if layers is not None:
            raise UsageError("name one function (layers.py:name) or --layers, not both")
        return chosen
    if layers is None:
        return list(LAYER_NAMES)
    if isinstance(layers, str):
        layers = [s.strip() for s in layers.split(",") if s.strip()]
    out = []
    for name in layers:
        key = ALIASES.get(name, name)
        if key not in LAYERS:
            raise UsageError(f"unknown layer {name!r}; choose from {', '.join(LAYER_NAMES)}")
        if key not in out:
            out.append(key)
    if not out:
        raise UsageError("--layers is empty; give a comma list such as affine,relu")
    return out


# ---- one example -------------------------------------------------------------------------------------

@dataclass
class _Outcome:
    dims: dict
    mode: str
    value_seed: int
    inputs: dict
    passed: bool
    parts: list[Part] = field(default_factory=list)
    expected: dict = field(default_factory=dict)
    got: dict = field(default_factory=dict)
    mutated: list[str] = field(default_factory=list)
    not_implemented: str = ""
    output: str = ""
    raised: tuple | None = None  # (ImplementationError, where) when other examples raised
    notes: list = field(default_factory=list)  # kink conventions met (crosscheck.layers.kinks)
    others: list = field(default_factory=list)  # other failing examples met while searching and shrinking


# float32: a part whose error exceeds rtol still passes when it is within this factor of the error the
# reference itself makes when it computes in float32 on the same inputs (see compare_parts)
OWN_ROUNDING_FACTOR = 10.0


def compare_parts(expected: dict[str, np.ndarray], got: dict[str, Any], groups: tuple[tuple[str, ...], ...],
                  dtype: str, expected32: dict[str, np.ndarray] | None = None,
                  scales: dict[str, float] | None = None) -> list[Part]:
    """Each expected array against what came back, under the tolerance policy for ``dtype``: normwise
    relative error per array, with the floor taken from the norm of the whole group it belongs to
    (forward output, running statistics, gradients), as ``crosscheck.tolerance`` explains.

    float32: some layers are ill-conditioned on some inputs no matter how they are written (batchnorm
    over N = 2 samples: dx is O(eps / var), the difference of O(1) terms, so float32 rounding is a large
    fraction of it). There a part passes when its error is at most ``OWN_ROUNDING_FACTOR`` times the
    error of the reference's own float32 computation (``expected32``) on the same inputs: rounding that
    the reference shows too, up to a factor for another order of operations. A mistake is far larger.

    ``scales``: for an output computed as a difference of larger terms (a normalisation's dx is
    (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / std), the norm of those terms, which joins the
    group's norm in the floor. Rounding in any implementation is relative to the terms, not to what is
    left after they cancel: layer norm over D = 1 feature has dx = 0 exactly, and torch returns ~1e-13
    (eps64 / sqrt(eps)); the mistakes the catalogue names are of the size of the terms themselves."""
    policy = policy_for(dtype)
    parts: list[Part] = []
    for group in groups:
        names = [n for n in group if n in expected]
        whole = float(np.sqrt(sum(float(np.sum(np.asarray(expected[n], dtype=np.float64) ** 2)) for n in names)))
        for n in names:
            floor = max(policy.floor * max(whole, (scales or {}).get(n, 0.0)), policy.absolute_floor)
            e = np.asarray(expected[n], dtype=np.float64)
            g = got.get(n)
            g_shape = None if g is None else tuple(np.shape(g))
            if g is None or g_shape != e.shape:
                parts.append(Part(n, e.shape, g_shape, float("inf"), policy.rtol, False, "shape"))
                continue
            ga = np.asarray(g)
            if ga.dtype.kind not in "biuf":
                parts.append(Part(n, e.shape, g_shape, float("inf"), policy.rtol, False, "nan"))
                continue
            ga = ga.astype(np.float64)
            if not np.all(np.isfinite(ga)):
                parts.append(Part(n, e.shape, g_shape, float("inf"), policy.rtol, False, "nan"))
                continue
            denom = max(float(np.linalg.norm(e)), floor)
            rel = float(np.linalg.norm(ga - e)) / denom
            tol = policy.rtol
            if expected32 is not None and rel > tol and n in expected32 and np.shape(expected32[n]) == e.shape:
                own = float(np.linalg.norm(np.asarray(expected32[n], dtype=np.float64) - e)) / denom
                tol = max(tol, OWN_ROUNDING_FACTOR * own)
            absolute = None if np.any(e) else (float(np.linalg.norm(ga)), tol * denom)
            parts.append(Part(n, e.shape, g_shape, rel, tol, rel <= tol, "" if rel <= tol else "value", absolute))
    return parts


def _evaluate(sandbox: Sandbox, layer: Layer, mode: str, dims: dict, value_seed: int, dtype: str,
              opts: dict) -> _Outcome:
    rng = np.random.default_rng(value_seed)
    inputs = layer.inputs(dims, rng, dtype, opts)
    outcome = _Outcome(dims, mode, value_seed, inputs, False)
    outputs: list[str] = []

    def call(name: str, args: list, keep: tuple = (), with_args: bool = False, on: Any = None) -> Any:
        result = sandbox.invoke(name, args, keep=keep, on=on)
        outcome.mutated += [f"{name}: {m}" for m in result.mutated]
        if result.output.strip():
            outputs.append(result.output)
        return (result.value, result.args_after) if with_args else result.value

    try:
        got = layer.run(call, inputs, opts)
    except NotImplementedResult as e:
        outcome.not_implemented = str(e)
        outcome.output = "\n".join(outputs)
        return outcome
    except BadReturn as e:
        raise ImplementationError(str(e), kind="bad_output", output=trim_output("\n".join(outputs))) from None
    expected = layer.expect(inputs, got, opts)
    note = expected.pop("_note", "")
    scales = expected.pop("_scales", None)
    if note:
        outcome.notes.append(note)
    expected32 = None
    if dtype == "float32":
        token = REFERENCE_DTYPE.set(np.float32)
        try:
            expected32 = layer.expect(inputs, got, opts)
            expected32.pop("_note", None)
            expected32.pop("_scales", None)
        finally:
            REFERENCE_DTYPE.reset(token)
    outcome.parts = compare_parts(expected, got, layer.groups, dtype, expected32, scales)
    outcome.expected, outcome.got = expected, got
    outcome.output = trim_output("\n".join(outputs))
    outcome.passed = all(p.passed for p in outcome.parts) and not outcome.mutated
    return outcome


# ---- one layer -----------------------------------------------------------------------------------------

class _Abort(BaseException):
    def __init__(self, error: ImplementationError) -> None:
        super().__init__(str(error))
        self.error = error


class _Mismatch(AssertionError):
    pass


def _check_layer(sandbox: Sandbox, layer: Layer, *, examples: int, seed: int, dtype: str, opts: dict,
                 hsettings: Any, notes: list[str] | None = None) -> tuple[str, _Outcome | None,
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
            outcome = _evaluate(sandbox, layer, mode, dims, value_seed, dtype, opts)
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
            opts: dict, hsettings: Any) -> tuple[str, _Outcome | None, ImplementationError | None, int]:
    from hypothesis import given
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    # the explicit first examples (N = 1 and N > 1, distinct dimensions, kinks) always run; hypothesis
    # cannot shrink an explicit example, so a failure there is searched again by the generated ones,
    # which shrink, and reported as it is only when they find none
    first_failure: _Outcome | None = None
    for dims in layer.first:
        state["examples"] += 1
        try:
            outcome = _evaluate(sandbox, layer, "distinct", dims, 0, dtype, opts)
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
    if timeout != 10.0:
        argv += ["--timeout", f"{timeout:g}"]
    if memory is not None and memory != 1024:
        argv += ["--memory", str(memory)]
    if forbid:
        argv += ["--forbid-import", ",".join(forbid)]
    return shlex.join(argv)


def _size(outcome: _Outcome) -> int:
    return sum(int(np.size(v)) for k, v in outcome.inputs.items() if k != "x_large" and isinstance(v, np.ndarray))


def _diagnosed(layer: Layer, minimal: _Outcome, opts: dict, dtype: str,
               sandbox: Sandbox | None = None) -> tuple[_Outcome, list[dict]]:
    """The diagnosis of the case where causes can be told apart (``crosscheck.layers.redraw``) when the
    layer fails there, else of the minimal failing case; when no known mistake explains it (shrinking can
    land where the mistake has no name: a transposed kernel that broadcasts on a 1 x 2 kernel), the
    smallest other failing example met on the way where one does, reported as the failing case instead."""
    def run(o: _Outcome) -> list[dict]:
        return diagnose(layer, o.inputs, o.got, o.expected, o.parts, mutated=o.mutated,
                        not_implemented=o.not_implemented, opts=opts, dtype=dtype)

    # distinct dimensions first (a transpose is a shape error there), then the smallest
    candidates = sorted([minimal] + list(minimal.others), key=lambda o: (o.mode != "distinct", _size(o)))
    if sandbox is not None and not minimal.not_implemented:
        redrawn = discriminating(layer, lambda d, s, o: _evaluate(sandbox, layer, "distinct", d, s, dtype, o),
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


def _failing_case(layer: Layer, outcome: _Outcome) -> dict:
    shown = {k: v for k, v in outcome.inputs.items() if k != "x_large"}
    return {"description": f"{layer.describe_dims(outcome.dims)} ({outcome.mode} dimensions)",
            "dims": outcome.dims, "mode": outcome.mode, "value_seed": outcome.value_seed,
            "inputs": jsonable(shown),
            "expected": jsonable(outcome.expected), "got": jsonable({k: v for k, v in outcome.got.items()
                                                                    if isinstance(v, np.ndarray)}),
            "parts": [p.to_dict() for p in outcome.parts], "mutated": list(outcome.mutated)}


def _validate(api: str, dropout_p: str, dtype: str, seed: Any, examples: Any, timeout: Any, memory: Any,
              forbid_imports: Any) -> tuple[str, ...]:
    from ..sandbox.client import parse_forbidden
    from ..sandbox.isolation import default_forbidden

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
                outcome = discriminating(layer, lambda d, s, o, layer=layer: _evaluate(
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
