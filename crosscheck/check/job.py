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
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..diagnosis.container import container_diagnosis
from ..diagnosis.diagnose import Diagnosis, diagnose, expected_user_arrays, user_arrays
from ..errors import ConventionError, GradientMismatch, ImplementationError, UsageError, bounded
from ..model.case import Case
from ..model.presets import PRESETS, CheckOptions, resolve_options, width_range
from ..output import plural, require_writable, stamp, write_atomic, write_text
from ..sandbox.client import Sandbox, Target, bind_method, parse_forbidden, parse_target, trim_output
from ..sandbox.isolation import default_forbidden
from ..terminal import short_message
from .extras import check_extras, split_extras
from .packing import pack_flags, pack_spec

__all__ = ["CheckReport", "check_implementation", "run_check", "run_from_args", "DEFAULTS"]

# the network a function without a ``spec`` keyword is checked on, where options leave it open
DEFAULTS = {"hidden": "tanh", "output": "identity", "loss": "half_sse", "reduction": "mean", "max_depth": 3,
            "max_width": 6, "targets": "soft", "penalty_form": "half", "penalty_bias": False}
BATCH_SIZES = (1, 6)
EXIT = {"pass": 0, "fail": 1, "error": 3}


@dataclass
class CheckReport:
    """The verdict on one implementation. ``case`` is the minimal failing case (or the case
    that made the implementation fail to run); ``expected``/``got`` are in the user's layout."""

    verdict: str  # "pass", "fail" or "error"
    target: str
    options: CheckOptions
    examples: int
    seed: int
    dtype: str
    profile: str
    max_examples: int
    elapsed: float
    accepts_spec: bool = False
    diagnosis: list[Diagnosis] = field(default_factory=list)
    case: Case | None = None
    expected: dict[str, np.ndarray] | None = None
    got: dict[str, np.ndarray] | None = None
    comparison: Any = None
    mutated: tuple[str, ...] = ()
    error: ImplementationError | None = None
    output: str = ""
    reproduce: str = ""
    coverage: dict = field(default_factory=dict)
    shrunk: Case | None = None  # the case hypothesis shrank to, when the diagnosis used a re-drawn one
    note: str = ""
    environment: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    kink_notes: list = field(default_factory=list)  # kink-convention differences that were not failures
    strict_kinks: bool = False
    diagnosis_s: float | None = None  # time spent diagnosing a failure (re-draws, probes, the search)
    detected: str = ""  # the declaration found by probing (no convention flags, or --detect), as flags
    probe_convention: Any = None  # with --detect: the convention the code follows where it is not the declared one

    @property
    def exit_code(self) -> int:
        return EXIT[self.verdict]

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict:
        failing = None
        if self.case is not None:
            failing = self.case.to_dict()
            failing["description"] = self.case.describe()
            failing["batch_size"] = self.case.batch_size
            named = lambda d: None if d is None else {k: v.tolist() for k, v in d.items()}  # noqa: E731
            failing["expected"] = named(self.expected)
            failing["got"] = named(self.got)
            failing["comparison"] = None if self.comparison is None else self.comparison.to_dict()
            failing["mutated"] = list(self.mutated)
            failing["shrunk"] = None if self.shrunk is None else self.shrunk.describe()
        return stamp("check", {
            "verdict": self.verdict,
            "examples": self.examples,
            "seed": self.seed,
            "target": self.target,
            "options": self.options.to_dict(),
            "dtype": self.dtype,
            "diagnosis": [d.to_dict() for d in self.diagnosis],
            "failing_case": failing,
            "error": None if self.error is None else {"kind": self.error.kind, "message": str(self.error)},
            "output": self.output,
            "reproduce": self.reproduce,
            "coverage": self.coverage,
            "notes": ([self.note] if self.note else []) + list(self.notes),  # one key for every note
            "kink_notes": self.kink_notes,
            "strict_kinks": self.strict_kinks,
            "elapsed_s": round(self.elapsed, 3),
            "diagnosis_s": None if self.diagnosis_s is None else round(self.diagnosis_s, 4),
            "detected": self.detected,
            "environment": self.environment,
        })

    def summary(self) -> str:
        """The terminal report: verdict, diagnosis, minimal case, captured output, reproduction."""
        from ..output import format_array

        conv = self.options.describe_layout()
        lines = [f"detected: {self.detected}"] if self.detected else []
        if self.verdict == "pass":
            lines.append(f"PASS: {self.target} returned the reference gradients on all "
                         f"{plural(self.examples, 'example')} "
                         f"({conv}, {self.dtype}, seed {self.seed}, {self.elapsed:.1f} s)")
            cov = self.coverage
            if cov:
                lines.append("  covered: " + "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in cov.items()
                                                      if v))
            lines += [f"  note: {n}" for n in self.notes]
            lines += [f"  note [{k['kind']}] on {k['network']}: {k['detail']} (not a failure; --strict-kinks makes "
                      "it one)" for k in self.kink_notes]
            if self.output.strip():
                lines.append("implementation output on the last example (trimmed):")
                lines += _quoted(trim_output(self.output, 600))
            return "\n".join(lines)
        if self.verdict == "error":
            assert self.error is not None
            lines.append(f"ERROR [{self.error.kind}]: {self.target} failed to run (exit 3): {self.error}")
        else:
            ids = ", ".join(d.id for d in self.diagnosis)
            lines.append(f"FAIL: {self.target} returned wrong gradients (exit 1) [{ids}]")
            if self.note:  # it crashed on distinct dimensions: nothing was shrunk
                lines.append(f"after {plural(self.examples, 'example')} ({conv}, {self.dtype}): {self.note}")
            else:
                lines.append(f"after {plural(self.examples, 'example')}, shrunk to a minimal case "
                             f"({conv}, {self.dtype})")
            if self.shrunk is not None and self.case is not None and self.shrunk is not self.case:
                lines.append(f"hypothesis shrank it to {self.shrunk.describe()}; diagnosed on the case below, "
                             "re-drawn around it where the mistake is identifiable")
            lines.append("diagnosis, most likely first:")
            for n, d in enumerate(self.diagnosis, start=1):
                lines.append(f"  {n}. {d.id} at {d.parameter} (layer {d.layer}): {d.detail}")
        if self.case is not None:
            if self.options.packed:  # the edge layout (crosscheck.check.packing) is unpacked for the report
                lines.append(f"(shown as W_l and b_l in {self.case.convention.describe()}; your code takes them as "
                             f"{self.options.describe_layout()})")
            lines.append(f"case: {self.case.describe()}")
            params, X, Y = self.case.user_inputs()
            arrays = [("X", X)] + ([("Y", Y)] if Y is not None else [])
            arrays += list(user_arrays(self.case.convention, self.case.network, params).items())
            for name, a in arrays:
                label = name[1:] if name.startswith("d") else name
                lines.append("  " + format_array(a, label).replace("\n", "\n  "))
        if self.comparison is not None:
            for p in self.comparison.parameters:
                if not p.passed:
                    lines.append(f"  {p.describe()}")
        if self.expected is not None and self.got is not None:
            for name in self.expected:
                e, g = self.expected[name], self.got.get(name)
                if g is not None and g.shape == e.shape and np.allclose(g, e, rtol=1e-7, atol=0):
                    continue
                lines.append("  " + format_array(e, f"expected {name}").replace("\n", "\n  "))
                lines.append("  " + format_array(g, f"got {name}").replace("\n", "\n  "))
        if self.output.strip():
            lines.append("implementation output (trimmed):")
            lines += _quoted(self.output)
        lines.append(f"reproduce: {self.reproduce}")
        return "\n".join(lines)


def _quoted(text: str, *, width: int = 160, max_lines: int = 60) -> list[str]:
    """Captured output for the terminal: each line cut at ``width``, at most ``max_lines`` lines."""
    lines = text.rstrip().splitlines()
    if len(lines) > max_lines:
        half = max_lines // 2
        lines = lines[:half] + [f"... [{len(lines) - 2 * half} lines omitted] ..."] + lines[-half:]
    return ["  | " + (ln if len(ln) <= width else ln[:width] + f" ... [+{len(ln) - width} characters]")
            for ln in lines]


class _Abort(BaseException):
    """Stops hypothesis at once (no shrinking) when the implementation fails to run."""

    def __init__(self, error: ImplementationError, case: Case) -> None:
        super().__init__(str(error))
        self.error, self.case = error, case


class _Mismatch(AssertionError):
    pass


@dataclass
class _Outcome:
    case: Case
    passed: bool
    got_raw: Any
    expected: dict[str, np.ndarray]
    got: dict[str, np.ndarray]
    comparison: Any
    mutated: tuple[str, ...]
    output: str
    extras: list = field(default_factory=list)  # extras.ExtraCheck per dA{l} entry
    ignored: list = field(default_factory=list)  # other extra keys
    kink: dict | None = None  # the kink note when a kink convention explained the difference


def _kink_explained(case: Case, got_canonical: Any, dtype: str, who: str) -> dict | None:
    """The kink note when ``case`` has a pre-activation exactly on a kink and another
    subgradient there explains ``got`` (``triage.kink_note``, the sweep's test); else None."""
    from ..draws import on_kink
    from ..model.penalties import penalised_arrays
    from ..reference.forward import forward
    from ..sweep.triage import kink_note

    case64 = case.astype("float64")
    net = case.network
    stacked = tuple((W[None], None if b is None else b[None]) for W, b in case64.params)
    Z, _ = forward(net, stacked, case64.X[None])
    # a pre-activation on an activation's kink, or (L1 penalty) a penalised weight exactly at 0
    at_l1_kink = bool(net.l1) and any(np.any(a == 0) for a in penalised_arrays(net, case64.params))
    if not (bool(on_kink(net, Z)[0]) or at_l1_kink):
        return None
    return kink_note(who, case64, got_canonical, dtype=dtype)


def _reference(case: Case) -> tuple:
    from ..reference.recursive import gradients

    f = lambda a: None if a is None else np.asarray(a, dtype=np.float64)  # noqa: E731
    return gradients(case.network, tuple((f(W), f(b)) for W, b in case.params), f(case.X), f(case.Y))


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


def _evaluate(sandbox: Sandbox, case: Case, dtype: str, strict_kinks: bool = False) -> _Outcome:
    from ..compare import compare_gradients

    params, X, Y = case.user_inputs()
    spec = None
    if sandbox.accepts_spec:
        spec = {"network": case.network.to_dict(), "convention": case.convention.to_dict(), "dtype": dtype}
    expected_canonical = _reference(case)  # before the implementation runs on this case
    expected = expected_user_arrays(case, expected_canonical)
    result = sandbox.call(params, X, Y, spec=spec)
    # entries that are not parameters: dA{l} is checked, others are named in a note (extras.py)
    value, activations, ignored = split_extras(case.convention, case.network, result.value)
    try:
        got = user_arrays(case.convention, case.network, value)
    except ConventionError as e:
        if container_diagnosis(case, result.value) is not None:  # a named container slip: a wrong answer (exit 1)
            return _Outcome(case, False, result.value, expected, {}, None, result.mutated, result.output)
        raise ImplementationError(f"the implementation returned something other than the declared gradients "
                                  f"({case.convention.describe()}): {e}", kind="bad_output",
                                  output=result.output) from None
    comparison = kink = None
    passed = all(got[p].shape == expected[p].shape for p in expected)
    if passed:
        got_canonical = case.convention.params_from_user(value, case.network, gradient=True)
        comparison = compare_gradients(expected_canonical, got_canonical, dtype=dtype)
        passed = comparison.passed
        if not passed and not strict_kinks and not result.mutated:
            kink = _kink_explained(case, got_canonical, dtype, sandbox.target.display)
            passed = kink is not None
    extras = check_extras(case, activations, dtype=dtype)
    for c in extras:
        expected[c.key], got[c.key] = c.expected, c.got
    passed = passed and all(c.passed for c in extras) and not result.mutated
    return _Outcome(case, passed, value, expected, got, comparison, result.mutated, result.output, extras, ignored,
                    kink)


def _note_extras(state: dict, outcome: _Outcome) -> None:
    notes = state.setdefault("notes", set())
    if outcome.ignored:
        notes.add(f"ignored entries that are not parameters: {', '.join(outcome.ignored)}")
    checked = [c for c in outcome.extras if c.passed]
    if checked:
        scaling = {c.scaling for c in checked}.pop()
        how = ("dL/dA^l of the declared loss" if scaling == "reduced" else
               "the gradient of the summed per-sample losses (without the reduction's 1/m, as deeplearning.ai "
               "writes dA)")
        notes.add(f"checked activation gradients {', '.join(c.key for c in checked)} as {how}")


def extra_diagnoses(extras: list, comparison: Any, mutated: Any) -> list[Diagnosis]:
    """Wrong dA{l} entries named, when they are the only thing wrong (the parameters agree)."""
    wrong = [c for c in extras if not c.passed]
    if not wrong or mutated or comparison is None or not comparison.passed:
        return []
    return [Diagnosis("activation_gradient", c.key, c.layer, c.detail) for c in reversed(wrong)]


def _cover(coverage: dict, case: Case) -> None:
    """What the examples that ran were made of (only those that completed)."""
    net = case.network
    penalty = (f"{net.penalty_form}{'+bias' if net.penalty_bias else ''}",) if net.has_penalty else ()
    for key, values in (("activations", net.activation_names()), ("losses", (net.loss,)),
                        ("reductions", (net.reduction,)), ("targets", (net.targets,)), ("penalties", penalty),
                        ("depths", (net.depth,)), ("batch sizes", (case.batch_size,))):
        coverage.setdefault(key, set()).update(values)


def depth_range(options: CheckOptions) -> tuple[int, int]:
    """The depths a check draws: --depth, else --min-depth .. --max-depth (default 1 .. 3)."""
    if options.depth is not None:
        return options.depth, options.depth
    lo = options.min_depth or 1
    return lo, max(lo, options.max_depth or DEFAULTS["max_depth"])


def width_bounds(options: CheckOptions) -> tuple[int, int, bool]:
    """(lo, hi, distinct): the widths every phase draws from (``crosscheck.model.presets.width_range``)."""
    return width_range(options, depth_range(options)[1], DEFAULTS["max_width"])


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
    if timeout != 10.0:
        argv += ["--timeout", f"{timeout:g}"]
    if memory is not None and memory != 1024:
        argv += ["--memory", str(memory)]
    if forbid:
        argv += ["--forbid-import", ",".join(forbid)]
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
    """A ``Class.method`` target bound as ``crosscheck.sandbox.client.bind_method`` explains; a function with
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
        if detect and not sandbox.accepts_spec:
            options = _detected(sandbox, options, report, seed, detect)
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
        failure: _Outcome | None = state["failure"]
        if report.verdict == "error" and report.error is not None and report.error.kind == "raised" \
                and report.case is not None:
            t_diag = time.perf_counter()
            found = _probe(sandbox, report.case, dtype, seed, fields=1)
            if found is not None:  # it runs, and is right, in another layout: a wrong declaration (exit 1)
                crashed = str(report.error).removeprefix("the implementation ")
                report.note = f"on {report.case.describe()} the implementation {crashed}"
                report.verdict, report.error, report.diagnosis = "fail", None, [found]
                report.diagnosis_s = time.perf_counter() - t_diag
            failure = None if found is not None else _coincident_rerun(sandbox, report, dtype, seed, options)
            if failure is not None:
                report.verdict, report.error = "fail", None
        if report.verdict != "error" and failure is not None:
            report.shrunk = None if report.verdict == "fail" else failure.case  # a crash re-run was not shrunk
            report.verdict = "fail"
            t_diag = time.perf_counter()
            failure, first = _where_visible(sandbox, failure, dtype, seed, options)
            report.case, report.expected, report.got = failure.case, failure.expected, failure.got
            report.comparison, report.mutated, report.output = failure.comparison, failure.mutated, failure.output
            rest = diagnose(failure.case, failure.got_raw, mutated=failure.mutated)
            if rest and rest[0].id == "output_gradient" and not first:  # one layer: sigma' or dL/dA? look deeper
                failure, rest = _deeper(sandbox, failure, rest, options, dtype, seed)
                report.case, report.expected, report.got = failure.case, failure.expected, failure.got
                report.comparison, report.output = failure.comparison, failure.output
            if first:  # different answers to the same question: the values say nothing more
                rest = [d for d in rest if d.id in ("mutates_inputs", "dtype")]
            extra = extra_diagnoses(failure.extras, failure.comparison, failure.mutated)
            report.diagnosis = extra or (first + rest)
            if report.diagnosis and report.diagnosis[0].id == "batch_size" and \
                    not _same_batch_size(sandbox, failure.case, dtype, seed):
                report.diagnosis = report.diagnosis[1:]  # re-drawn with another m, the constant did not hold
            if report.probe_convention is not None:
                report.diagnosis = [Diagnosis("convention", "dW1", 1, _convention_words(
                    report.options.convention(), report.probe_convention))] + report.diagnosis
            elif not extra and not first and rest and rest[0].id in _PROBED:  # does the code follow another layout?
                found = _probe(sandbox, failure.case, dtype, seed)
                if found is not None:
                    report.diagnosis = [found] + report.diagnosis
            report.diagnosis_s = time.perf_counter() - t_diag
        _probe_pack(target, report, options, dtype, sandbox)
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
            outcome = _evaluate(sandbox, case, dtype, strict_kinks)
        except ImplementationError as e:
            if state["failure"] is None:
                raise _Abort(e, case) from None
            return  # while shrinking a mismatch: a case it cannot run is not a smaller mismatch
        state["last_output"] = outcome.output
        _note_extras(state, outcome)
        if outcome.kink is not None and state["failure"] is None:
            kinks = state.setdefault("kink_notes", [])
            if all(k["detail"] != outcome.kink["detail"] for k in kinks):
                kinks.append(outcome.kink)
        _cover(state["coverage"], case)
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


def _limits(options: CheckOptions) -> dict:
    """The declared width constraints, for the re-drawn cases of the diagnosis (``diagnosis.evidence``)."""
    lo, hi, _ = width_bounds(options)
    return {"widths": (lo, hi), "output_width": options.output_width}


def _where_visible(sandbox: Sandbox, failure: _Outcome, dtype: str, seed: int,
                   options: CheckOptions) -> tuple[_Outcome, list[Diagnosis]]:
    """The failure re-drawn where its mistake is identifiable (``crosscheck.diagnosis.evidence``), if the
    implementation still fails there, and a second call on it: ``stateful`` when the answers differ."""
    from ..diagnosis.evidence import diagnosis_cases, stateful_detail

    chosen = failure
    for case in diagnosis_cases(failure.case, seed=seed, **_limits(options))[:-1]:
        try:
            outcome = _evaluate(sandbox, case, dtype)
        except ImplementationError:
            continue
        if not outcome.passed:
            chosen = outcome
            break
    try:
        again = _evaluate(sandbox, chosen.case, dtype)
    except ImplementationError:
        return chosen, []
    detail = stateful_detail(chosen.got, again.got)
    if detail is None:
        return chosen, []
    first = next(iter(chosen.got))
    return chosen, [Diagnosis("stateful", first, int(first[2:]) if first[2:].isdigit() else 0, detail)]


def _detected(sandbox: Sandbox, options: CheckOptions, report: CheckReport, seed: int,
              mode: str | bool) -> CheckOptions:
    """The options to check under after probing (``crosscheck.check.detect``); the finding in ``report``."""
    from dataclasses import replace

    from ..model.presets import validate
    from .detect import detect

    declared = options.convention()
    net_fields = ("hidden", "output", "loss", "reduction", "targets")
    fixed = {f: getattr(options, f) for f in net_fields}
    if mode == "auto":
        fixed.update({f: getattr(options, f) for f in ("batch", "weights", "bias", "params")})
    try:
        found = detect(lambda p, X, Y: sandbox.call(p, X, Y).value, seed=seed, fixed=fixed)
    except ImplementationError as e:  # a hang, crash or memory blow-up: the check itself reports it
        report.detected = (f"not found: on the first probe the implementation failed to run ({e.kind}); checked as "
                           "declared")
        return options
    if found is None:
        report.detected = "nothing: the function runs in no convention on the probe networks; checked as declared"
        return options
    if mode is True and found.convention != declared:
        report.probe_convention = found.convention
    if mode is not True or found.convention == declared:
        changes = {k: v for k, v in found.options().items() if k in ("batch", "weights", "bias", "params")
                   or (k in net_fields and getattr(options, k) is None)}
        if options.depth is None and options.max_depth is None:
            depth_key = "depth" if "depth" in found.options() else "max_depth"
            changes[depth_key] = found.options()[depth_key]
        try:
            options = validate(replace(options, **changes))
        except (UsageError, ValueError):
            pass
    report.options = options
    how = "" if found.exact else (" (no declaration of the table gives its gradients exactly: this is the layout "
                                  "that returns the right shapes; the rest of the network is checked as declared)")
    report.detected = found.flags() + how
    return options


# first diagnoses after which the check asks whether the code follows another convention
_PROBED = ("layer_gradient", "unknown", "shape")


def _deeper(sandbox: Sandbox, failure: _Outcome, rest: list, options: CheckOptions, dtype: str,
            seed: int) -> tuple[_Outcome, list]:
    """A one-layer failure at the output re-drawn with two hidden layers in front, where the options allow
    depth 3; its diagnosis is used when it names something other than the output gradient."""
    from ..diagnosis.evidence import deeper_case

    deepest = options.depth or options.max_depth or DEFAULTS["max_depth"]
    if options.depth not in (None, 3) or deepest < 3:
        return failure, rest
    case = deeper_case(failure.case, options.hidden or DEFAULTS["hidden"], seed=seed)
    if case is None:
        return failure, rest
    try:
        outcome = _evaluate(sandbox, case, dtype)
        if outcome.passed:
            return failure, rest
        deeper = diagnose(case, outcome.got_raw, mutated=outcome.mutated)
    except (ImplementationError, ConventionError):
        return failure, rest
    if deeper and deeper[0].id != "output_gradient":
        return outcome, deeper
    return failure, rest


def _same_batch_size(sandbox: Sandbox, case: Case, dtype: str, seed: int) -> bool:
    """A hard-coded batch size M holds on a case re-drawn with another m: the factor there is m'/M too."""
    from ..diagnosis.container import hardcoded_batch_size
    from ..draws import draw

    params = case.params
    m = case.batch_size
    M = hardcoded_batch_size(case, case.convention.params_from_user(
        _evaluate(sandbox, case, dtype).got_raw, case.network, gradient=True))
    other_m = next(v for v in (m + 1, m + 2, m + 3) if v != M)
    try:
        params, X, Y = draw(case.network, seed + 11, batch_size=other_m).one(0)
        other = Case(case.network, case.convention, params, X, Y).astype(case.dtype)
        outcome = _evaluate(sandbox, other, dtype)
        got = other.convention.params_from_user(outcome.got_raw, other.network, gradient=True)
    except (ImplementationError, ConventionError, ValueError):
        return False
    return M is not None and hardcoded_batch_size(other, got) == M


def _convention_words(declared: Any, found: Any) -> str:
    from .detect import convention_sentence

    return convention_sentence(declared, found)


def _probe(sandbox: Sandbox, case: Case, dtype: str, seed: int, fields: int = 4) -> Diagnosis | None:
    """The layout the code follows instead of the declared one, up to ``fields`` fields away (a call that
    raises restarts the worker: after a crash only the one-field neighbours are tried, six calls at most)."""
    from .detect import convention_sentence, probe_conventions

    found = probe_conventions(case, lambda c: _evaluate(sandbox, c, dtype), seed=seed, fields=fields)
    if found is None:
        return None
    return Diagnosis("convention", "dW1", 1, convention_sentence(case.convention, found))


def _probe_pack(target: Target, report: CheckReport, options: CheckOptions, dtype: str, sandbox: Sandbox) -> None:
    """A flat vector unrolled in the other order, or labels counted from the other base: when the failing case
    passes so, that is the mistake named first (a crash under the declared one becomes a failure, exit 1)."""
    from .packing import probe_packs

    if target.pack is None or report.case is None or report.verdict == "pass":
        return

    def passes(pack: dict) -> bool:
        with Sandbox(replace(target, pack=pack), timeout=sandbox.timeout, memory=sandbox.memory,
                     forbid_imports=sandbox.forbid_imports, isolation=sandbox.isolation) as other:
            return _evaluate(other, report.case, dtype).passed

    found = probe_packs(target.pack, options.targets, passes)
    if found is None:
        return
    if report.verdict == "error":
        crashed = str(report.error).removeprefix("the implementation ")
        report.note = f"on {report.case.describe()} the implementation {crashed}"
        report.verdict, report.error = "fail", None
    report.diagnosis = [Diagnosis("convention", "dW1", 1, found)] + report.diagnosis


def _coincident_rerun(sandbox: Sandbox, report: CheckReport, dtype: str, seed: int,
                      options: CheckOptions) -> _Outcome | None:
    """After a crash on distinct dimensions: the same network with coincident ones. If it runs
    there and returns wrong gradients, that is the mistake to name (exit 1, not 3)."""
    from ..diagnosis.evidence import coincident_cases

    assert report.case is not None and report.error is not None
    for case in coincident_cases(report.case, seed=seed, **_limits(options)):
        try:
            outcome = _evaluate(sandbox, case, dtype)
        except ImplementationError:
            continue
        if not outcome.passed:
            crashed = str(report.error).removeprefix("the implementation ")
            report.note = (f"on {report.case.describe()} the implementation {crashed}; on coincident dimensions "
                           f"({case.describe()}) it runs and returns wrong gradients, diagnosed below")
            return outcome
    return None


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
    print(report.summary(), file=sys.stderr if args.json == "-" else sys.stdout)
    if args.plot and report.case is None:
        print(f"no plot written to {args.plot}: there is no failing case to draw",
              file=sys.stderr if args.json == "-" else sys.stdout)
    if args.json == "-":
        _write_outputs(report, args.json, args.plot)
    return report.exit_code
