"""The ``check`` job: an implementation under test against the reference, on generated networks.

Hypothesis draws cases in the declared convention (``crosscheck.strategies``); each is
handed to the implementation in a sandbox (``crosscheck.sandbox``); the gradients that come
back are validated, compared with the float64 reference (``crosscheck.compare``) here, in
this process. On a difference hypothesis shrinks to a minimal case (dimensions kept
distinct, so a transpose stays visible) and ``crosscheck.diagnosis.diagnose`` names the mistake.

One kink policy with ``sweep``: a difference that exists only where a pre-activation sits
exactly on a kink, and that another subgradient explains (relu'(0) = 1 instead of 0), is a
note and the check passes (``crosscheck.sweep.triage.kink_note``); ``strict_kinks`` makes it a
failure, diagnosed ``kink_convention``.

Exit codes: 0 every example matched; 1 wrong gradients (diagnosed); 2 usage error;
3 the implementation failed to run (raised, timed out, crashed, exited, ran out of memory,
or returned something other than the declared container of finite numeric arrays).
"""

from __future__ import annotations

import json as _json
import os
import platform
import shlex
import sys
import time
from dataclasses import replace
from typing import Any

import numpy as np

from .. import terminal
from ..errors import GradientMismatch, ImplementationError, UsageError, bounded
from ..model.case import Case
from ..model.presets import PRESETS, CheckOptions, resolve_options
from ..output import require_writable, write_atomic, write_text
from ..sandbox.client import Sandbox, limit_flags
from ..sandbox.isolation import default_forbidden
from ..sandbox.targets import Target, bind_method, parse_forbidden, parse_target
from ..terminal import short_message
from .defaults import BATCH_SIZES, DEFAULTS, depth_range, width_bounds
from .evaluate import Outcome, cover, evaluate, note_extras
from .followup import coincident_rerun, detected, diagnose_failure, probe, probe_pack
from .packing import pack_flags, pack_spec
from .report import CheckReport

__all__ = ["CheckReport", "check_implementation", "run_check", "run_from_args", "DEFAULTS"]



class _Abort(BaseException):
    """Stops hypothesis at once (no shrinking) when the implementation fails to run."""

    def __init__(self, error: ImplementationError, case: Case) -> None:
        super().__init__(str(error))
        self.error, self.case = error, case


class _Mismatch(AssertionError):
    pass


# not on the check's path (other jobs, frameworks, pytest): the rest of the package is pre-imported
_NOT_PREIMPORTED = {"backends", "audit", "grade", "layers", "sweep", "pytest_plugin", "cli", "__main__", "testing",
                    "environment", "layout"}
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _package_modules(path: str, prefix: str) -> list[str]:
    import pkgutil

    names = []
    for m in pkgutil.iter_modules([path]):
        if prefix == "crosscheck." and m.name in _NOT_PREIMPORTED:
            continue
        names.append(prefix + m.name)
        if m.ispkg:
            names += _package_modules(os.path.join(path, m.name), f"{prefix}{m.name}.")
    return names


def _preimport(plot: bool) -> None:
    """Every crosscheck module a verdict or a report may need, imported before the first untrusted call
    (a module added later is included by default): an implementation that rewrites crosscheck's files on
    disk changes nothing in this process."""
    import importlib

    names = _package_modules(_PACKAGE_DIR, "crosscheck.") + ["crosscheck.sweep.triage"]
    names += ["crosscheck.plot"] if plot else []
    for name in names:
        importlib.import_module(name)
    if plot:
        from ..plot import require_matplotlib

        require_matplotlib()


def _strategy(options: CheckOptions, accepts_spec: bool, dtype: str, coincident: bool = False):
    from hypothesis import strategies as st

    from ..strategies import cases, coincident_cases, conventions, networks

    conv = options.convention()

    def pick(name: str):
        value = getattr(options, name)
        if value is not None:
            return [value]
        return None if accepts_spec else [DEFAULTS[name]]

    depth, (lo, hi, room) = depth_range(options), width_bounds(options)
    distinct = room and not coincident
    penalty_bias = options.penalty_bias if options.penalty_bias is not None else (
        None if accepts_spec else DEFAULTS["penalty_bias"])
    nets = networks(depth=depth, widths=(lo, hi), hidden=pick("hidden"), output=pick("output"),
                    losses=pick("loss"), reductions=pick("reduction"), bias=conv.has_bias,
                    output_width=options.output_width, distinct=distinct, targets=pick("targets"),
                    l2=options.l2 or 0.0, l1=options.l1 or 0.0, penalty_forms=pick("penalty_form"),
                    penalty_bias=penalty_bias)
    convs = conventions(batch=conv.batch, weights=conv.weights, bias=conv.bias, params=conv.params)
    if coincident:  # phase 2: square W, m equal to a width, n_out equal to n_in
        return coincident_cases(networks=nets, conventions=convs, batch_sizes=BATCH_SIZES, dtype=dtype)
    # some examples put pre-activations exactly on a kink, where relu'(0) conventions differ
    return st.one_of(cases(networks=nets, conventions=convs, batch_sizes=BATCH_SIZES, dtype=dtype),
                     cases(networks=nets, conventions=convs, batch_sizes=BATCH_SIZES, dtype=dtype, kinks=True))


def _environment(profile: str, max_examples: int) -> dict:
    import hypothesis

    from ..version import __version__

    return {"python": sys.version.split()[0], "executable": sys.executable, "platform": platform.platform(),
            "numpy": np.__version__, "hypothesis": hypothesis.__version__, "crosscheck": __version__,
            "profile": profile, "max_examples": max_examples}


def _reproduce(target: Target, options: CheckOptions, *, preset: str | None, seed: int, examples: int, dtype: str,
               timeout: float, memory: int | None, forbid: tuple[str, ...] = (), strict_kinks: bool = False,
               budget: float | None = None) -> str:
    flags = options.cli_flags()
    if preset in PRESETS:  # the preset, and only what was changed from it
        base = PRESETS[preset].options
        changed = CheckOptions(**{k: v for k, v in options.to_dict().items() if v != getattr(base, k)})
        flags = ["--preset", preset] + changed.cli_flags()
    argv = ["crosscheck", "check", target.display] + flags + ["--seed", str(seed), "--examples", str(examples)]
    if dtype != "float64":
        argv += ["--dtype", dtype]
    argv += limit_flags(timeout=timeout, memory=memory, forbid=forbid)
    if strict_kinks:  # without it a kink-only difference passes: the command must fail as this run did
        argv += ["--strict-kinks"]
    if budget is not None:
        argv += ["--budget", f"{budget:g}"]
    if target.bind:
        if target.bind["params_attr"] != "params":
            argv += ["--params-attr", target.bind["params_attr"]]
        if target.bind["returns"] != ["grads"]:
            argv += ["--returns", ",".join(target.bind["returns"])]
    return shlex.join(argv + pack_flags(target.pack))


def _returns(returns: Any) -> tuple[str, ...]:
    if returns is None:
        return ()
    items = returns.split(",") if isinstance(returns, str) else list(returns)
    return tuple(str(r).strip() for r in items if str(r).strip())


def _bound(target: Target, options: CheckOptions, params_attr: str | None, returns: Any, args: Any = None,
           label_base: int | None = None) -> Target:
    """A ``Class.method`` target bound as ``crosscheck.sandbox.targets.bind_method`` explains; a function with
    another signature or parameter layout packed as ``crosscheck.check.packing`` explains; others unchanged."""
    bound = bind_method(target, weights=options.convention().weights, params_attr="params" if params_attr is None
                        else params_attr, returns=_returns(returns), reg=options.l2 or 0.0)
    if bound is not target:
        if options.packed or args is not None or label_base is not None:
            raise UsageError("--params flat, --bias first_column, --args and --label-base apply to a function "
                             f"TARGET, not to the method {target.display}")
        return bound
    if params_attr is not None:
        raise UsageError("--params-attr applies to a file.py:Class.method TARGET (a class named in "
                         f"CapWords and one of its methods), not {target.display}")
    pack = pack_spec(options, args=args, returns=returns, label_base=label_base)
    return replace(target, pack=pack) if pack else target


def run_check(fn_or_target: Any, options: CheckOptions, *, preset: str | None = None, examples: int | None = None,
              seed: int = 0, timeout: float = 10.0, memory: int | None = 1024, dtype: str = "float64",
              profile: str | None = None, forbid_imports: Any = None, isolation: str = "auto",
              plot: bool = False, strict_kinks: bool = False, detect: str | bool = False,
              budget: float | None = None, params_attr: str | None = None, returns: Any = None, args: Any = None,
              label_base: int | None = None) -> CheckReport:
    """Run the check and return its report (verdict pass, fail or error); raises ``UsageError``.

    ``detect``: ``"auto"`` (no convention was declared: probe the function and check under the
    declaration found, ``crosscheck.check.detect``), True (``--detect``: probe, and name a declared
    convention the code does not follow), False (check as declared). ``budget``: seconds for all of
    the implementation's calls together (None: no limit). ``params_attr`` and ``returns``: for a
    ``file.py:Class.method`` target, where the parameters go and what the method returns; ``returns``, ``args``
    and ``label_base`` for a function with a signature of its own (``crosscheck.check.packing``)."""
    from hypothesis import HealthCheck, settings

    from ..profiles import current_profile, settings_for

    if os.environ.get("CROSSCHECK_WORKER"):
        raise UsageError("crosscheck check was started from inside its own sandbox process: the module under "
                         "test runs a check when imported; put that call under `if __name__ == '__main__':`")
    if dtype not in ("float64", "float32"):
        raise UsageError(f"dtype must be float64 or float32, got {dtype!r}")
    if not isinstance(strict_kinks, bool):
        raise UsageError(f"strict_kinks must be True or False, got {strict_kinks!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0 or bounded("seed", seed, low_open=False):
        raise UsageError(f"seed must be an integer >= 0 and < 2**64, got {seed!r}")
    if examples is not None and (isinstance(examples, bool) or not isinstance(examples, int) or examples < 1):
        raise UsageError(f"examples must be a positive integer, got {examples!r}")
    target = _bound(parse_target(fn_or_target), options, params_attr, returns, args, label_base)
    forbid = parse_forbidden(default_forbidden() if forbid_imports is None else forbid_imports)
    profile_name = current_profile(profile)
    base = settings_for(profile_name)
    max_examples = examples or base.max_examples
    # the seed is always --seed (derandomize would ignore it) and nothing is written to .hypothesis/
    hsettings = settings(base, max_examples=max_examples, derandomize=False, database=None, deadline=None,
                         suppress_health_check=list(HealthCheck), print_blob=False)
    t0 = time.perf_counter()
    state: dict[str, Any] = {"examples": 0, "failure": None, "coverage": {}}
    report = CheckReport("pass", target.display, options, 0, seed, dtype, profile_name, max_examples, 0.0,
                         reproduce=_reproduce(target, options, preset=preset, seed=seed, examples=max_examples,
                                              dtype=dtype,
                                              timeout=timeout, memory=memory, forbid=forbid,
                                              strict_kinks=strict_kinks, budget=budget),
                         environment=_environment(profile_name, max_examples), strict_kinks=strict_kinks)
    _preimport(plot)
    sandbox = Sandbox(target, timeout=timeout, memory=memory, forbid_imports=forbid, isolation=isolation,
                      budget=budget)
    try:
        sandbox.start()
    except ImplementationError as e:  # importing the user's module raised (a missing name is a UsageError)
        report.verdict, report.error, report.output = "error", e, e.output
        report.elapsed = time.perf_counter() - t0
        return report
    with sandbox:
        report.environment["sandbox"] = dict(sandbox.info)  # how the worker was confined (README: the sandbox)
        report.accepts_spec = sandbox.accepts_spec
        if detect:  # a function with a spec keyword: the layout it follows (the spec tells it the network)
            options = detected(sandbox, options, report, seed, detect)
            report.reproduce = _reproduce(target, options, preset=preset, seed=seed, examples=max_examples,
                                          dtype=dtype, timeout=timeout, memory=memory, forbid=forbid,
                                          strict_kinks=strict_kinks)
        # two phases of shapes: distinct dimensions first (a transpose shows as a shape error),
        # then coincident ones (square W, m equal to a width), where layout guessing is wrong in value
        distinct_examples = max(1, -(-2 * max_examples // 3))
        for coincident, n in ((False, distinct_examples), (True, max_examples - distinct_examples)):
            if n < 1 or report.verdict == "error" or state["failure"] is not None:
                break
            _run_phase(sandbox, state, report, settings(hsettings, max_examples=n), seed,
                       _strategy(options, sandbox.accepts_spec, dtype, coincident), dtype, strict_kinks)
        report.examples = state["examples"]
        report.output = report.output or state.get("last_output", "")
        report.coverage = {k: sorted(v) for k, v in state["coverage"].items()}
        failure: Outcome | None = state["failure"]
        if report.verdict == "error" and report.error is not None and report.error.kind == "raised" \
                and report.case is not None:
            t_diag = time.perf_counter()
            found = probe(sandbox, report.case, dtype, seed, fields=1)
            if found is not None:  # it runs, and is right, in another layout: a wrong declaration (exit 1)
                crashed = str(report.error).removeprefix("the implementation ")
                report.note = f"on {report.case.describe()} the implementation {crashed}"
                report.verdict, report.error, report.diagnosis = "fail", None, [found]
                report.diagnosis_s = time.perf_counter() - t_diag
            failure = None if found is not None else coincident_rerun(sandbox, report, dtype, seed, options)
            if failure is not None:
                report.verdict, report.error = "fail", None
        if report.verdict != "error" and failure is not None:
            diagnose_failure(sandbox, report, failure, dtype, seed, options)
        probe_pack(target, report, options, dtype, sandbox)
        if not width_bounds(options)[2]:
            lo, hi, _ = width_bounds(options)
            state.setdefault("notes", set()).add(
                f"widths {lo}..{hi} cannot all differ at depth {depth_range(options)[1]}: some widths repeat, so a "
                "transpose of a square W shows in the values only")
        report.notes = sorted(state.get("notes", set()))
        report.kink_notes = state.get("kink_notes", [])
    report.elapsed = time.perf_counter() - t0
    return report


def _run_phase(sandbox: Sandbox, state: dict, report: CheckReport, hsettings: Any, seed: int, strategy: Any,
               dtype: str, strict_kinks: bool = False) -> None:
    """One hypothesis run over ``strategy``; a mismatch lands in ``state``, a failure to run in ``report``."""
    from hypothesis import given
    from hypothesis import seed as hseed
    from hypothesis.errors import Unsatisfiable
    from hypothesis.reporting import with_reporter

    @hsettings
    @hseed(seed)
    @given(strategy)
    def run(case: Case) -> None:
        if state["failure"] is None:
            state["examples"] += 1
        try:
            outcome = evaluate(sandbox, case, dtype, strict_kinks)
        except ImplementationError as e:
            if state["failure"] is None:
                raise _Abort(e, case) from None
            return  # while shrinking a mismatch: a case it cannot run is not a smaller mismatch
        state["last_output"] = outcome.output
        note_extras(state, outcome)
        if outcome.kink is not None and state["failure"] is None:
            kinks = state.setdefault("kink_notes", [])
            if all(k["detail"] != outcome.kink["detail"] for k in kinks):
                kinks.append(outcome.kink)
        cover(state["coverage"], case)
        if not outcome.passed:
            state["failure"] = outcome
            raise _Mismatch(case.describe())

    notes: list[str] = []
    try:
        with with_reporter(notes.append):
            run()
    except _Abort as abort:
        err = abort.error
        report.verdict, report.error, report.case = "error", err, abort.case
        report.output = err.output
    except Unsatisfiable as e:
        raise UsageError(f"no network satisfies these options: {e}") from None
    except Exception:  # the minimal failing example, re-raised by hypothesis (or a Flaky report)
        if state["failure"] is None:
            raise


def _write_outputs(report: CheckReport, json_path: str | None, plot_path: str | None) -> None:
    """Called once the sandbox is closed (its whole process tree gone); each file written atomically."""
    if json_path:
        write_text(json_path, _json.dumps(report.to_dict(), indent=2, default=str))
    if plot_path and report.case is not None and report.expected is not None:
        from ..plot import plot_gradients

        case, expected, got = report.case, report.expected, report.got or {}
        write_atomic(plot_path, lambda tmp: plot_gradients(tmp, expected, got, title=f"{report.target}: "
                                                           f"{case.describe()}"),
                     suffix=os.path.splitext(plot_path)[1] or ".png")


def _require_outputs(json_path: str | None, plot_path: str | None) -> None:
    """Report paths are checked before any work: a bad one is exit 2, not a traceback after the verdict."""
    require_writable(json_path, "--json")
    require_writable(plot_path, "--plot")
    if plot_path:
        from ..plot import require_matplotlib

        require_matplotlib()


def check_implementation(fn_or_target: Any, *, preset: str | None = None, batch: str | None = None,
                         weights: str | None = None, bias: str | None = None, params: str | None = None,
                         hidden: str | None = None, output: str | None = None, loss: str | None = None,
                         reduction: str | None = None, depth: int | None = None, max_depth: int | None = None,
                         min_depth: int | None = None, max_width: int | None = None, output_width: int | None = None,
                         targets: str | None = None, l2: float | None = None, l1: float | None = None,
                         penalty_form: str | None = None, penalty_bias: bool | None = None,
                         examples: int | None = None, seed: int = 0, timeout: float = 10.0,
                         memory: int | None = 1024, dtype: str = "float64", profile: str | None = None,
                         json: str | None = None, plot: str | None = None, api: str | None = None,
                         layers: Any = None, dropout_p: str = "keep", forbid_imports: Any = None,
                         isolation: str = "auto", strict_kinks: bool = False, budget: float | None = None,
                         params_attr: str | None = None, returns: Any = None, grads: Any = None,
                         flat_order: str | None = None, args: Any = None, label_base: int | None = None) -> Any:
    """Check ``fn(params, X, Y) -> gradients`` (a module-level function or a TARGET string)
    against the reference; the options are those of ``crosscheck check``.

    Returns the report when every example matches. Raises ``GradientMismatch`` (an
    ``AssertionError``) naming the diagnosis and the minimal case, ``ImplementationError``
    when the implementation fails to run, ``UsageError`` for bad options. The hypothesis
    profile is ``profile``, else the pytest plugin's ``--crosscheck-profile``, else
    ``$CROSSCHECK_PROFILE`` (``crosscheck.profiles``). ``forbid_imports`` (module names, or
    ``"torch,jax"``) are refused in the sandbox for the whole run (an ``ImplementationError`` of kind
    ``forbidden``); None means the pytest plugin's ``--crosscheck-forbid-import``, else nothing.
    ``isolation``: ``auto`` (bubblewrap where installed), ``bwrap`` or ``process``. A difference
    only exactly at a kink that another subgradient explains is a note in ``report.kink_notes``,
    unless ``strict_kinks``.

    With ``api="cs231n"`` the target is a module of layer functions (``layers.py``, or
    ``layers.py:batchnorm_backward`` for one layer) checked by ``crosscheck.layers.check_layers``
    (``layers``, ``dropout_p``); it returns the ``LayersReport`` when every checked layer passes."""
    __tracebackhide__ = True  # pytest shows the user's call and the short message, not this frame
    if api is not None:
        from ..layers.check import check_layers_or_raise

        require_writable(json, "json")
        return check_layers_or_raise(fn_or_target, api=api, layers=layers, dropout_p=dropout_p, grads=grads,
                                     examples=examples,
                                     seed=seed, timeout=timeout, memory=memory, dtype=dtype, profile=profile,
                                     json=json, forbid_imports=default_forbidden() if forbid_imports is None
                                     else forbid_imports, budget=budget)
    options = resolve_options(preset, batch=batch, weights=weights, bias=bias, params=params, hidden=hidden,
                              output=output, loss=loss, reduction=reduction, depth=depth, max_depth=max_depth,
                              min_depth=min_depth, max_width=max_width, output_width=output_width, targets=targets,
                              l2=l2, l1=l1, flat_order=flat_order,
                              penalty_form=penalty_form, penalty_bias=penalty_bias)
    _require_outputs(json, plot)
    report = run_check(fn_or_target, options, examples=examples, seed=seed, timeout=timeout, memory=memory,
                       dtype=dtype, profile=profile, preset=preset, forbid_imports=forbid_imports,
                       isolation=isolation, plot=bool(plot), strict_kinks=strict_kinks, budget=budget,
                       params_attr=params_attr, returns=returns, args=args, label_base=label_base)
    _write_outputs(report, json, plot)
    if report.verdict == "fail":  # a short message; the full report is on .report (and a pytest section)
        raise GradientMismatch(short_message(report), report)
    if report.verdict == "error":
        assert report.error is not None
        err = ImplementationError(short_message(report), kind=report.error.kind, output=report.output)
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report


def _detect_mode(args: Any) -> str | bool:
    """--detect: True; no convention flag and no preset: "auto" (probe, check under what is found); else False."""
    if getattr(args, "detect", False):
        return True
    declared = [args.preset, args.batch, args.weights, args.bias, args.params]
    return "auto" if all(v is None for v in declared) else False


def fresh_seed() -> int:
    """A seed nobody can predict (``os.urandom``): the cases of a run without ``--seed`` cannot be
    recorded in advance by a submission that looks its answers up."""
    return int.from_bytes(os.urandom(8), "big")


def run_from_args(args: Any) -> int:
    """``crosscheck check TARGET [options]``: print the verdict, write --json/--plot, return the exit code."""
    require_writable(args.json, "--json")  # before any work: exit 2, not a traceback after the verdict
    require_writable(getattr(args, "plot", None), "--plot")
    if args.seed is None:  # fresh; the summary, its reproduce line and --json name it: --seed replays the run
        args.seed = fresh_seed()
    if getattr(args, "api", None):  # the layer API: a module's layer functions, one verdict per layer
        from ..layers.check import run_from_args as run_layers

        return run_layers(args)
    if getattr(args, "layers", None) or getattr(args, "dropout_p", None) or getattr(args, "grads", None):
        raise UsageError("--layers and --dropout-p need --api cs231n (--grads: --api module)")
    options = resolve_options(args.preset, batch=args.batch, weights=args.weights, bias=args.bias,
                              params=args.params, hidden=args.hidden, output=args.output, loss=args.loss,
                              reduction=args.reduction, depth=args.depth, max_depth=args.max_depth,
                              min_depth=getattr(args, "min_depth", None), max_width=args.max_width,
                              output_width=args.output_width, targets=args.targets,
                              l2=args.l2, l1=args.l1, penalty_form=args.penalty_form,
                              penalty_bias=args.penalty_bias, flat_order=getattr(args, "flat_order", None))
    _require_outputs(args.json, args.plot)
    report = run_check(args.target, options, examples=args.examples, seed=args.seed, timeout=args.timeout,
                       memory=args.memory, dtype=args.dtype, profile=args.profile, preset=args.preset,
                       forbid_imports=args.forbid_import or (), isolation=args.isolation, plot=bool(args.plot),
                       strict_kinks=getattr(args, "strict_kinks", False), detect=_detect_mode(args),
                       budget=getattr(args, "budget", None), params_attr=getattr(args, "params_attr", None),
                       returns=getattr(args, "returns", None), args=getattr(args, "args", None),
                       label_base=getattr(args, "label_base", None))
    # the reports first: nothing printed (a closed terminal, an unencodable character) can lose them
    if args.json != "-":
        _write_outputs(report, args.json, args.plot)
    # with --json -, stdout carries the JSON alone
    stream = sys.stderr if args.json == "-" else sys.stdout
    print(report.summary(terminal.width(stream), colour=terminal.use_colour(stream)), file=stream)
    if args.plot and report.case is None:
        print(f"no plot written to {args.plot}: there is no failing case to draw",
              file=sys.stderr if args.json == "-" else sys.stdout)
    if args.json == "-":
        _write_outputs(report, args.json, args.plot)
    return report.exit_code
