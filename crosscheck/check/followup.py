"""After a failure or a crash: the evidence a diagnosis needs, gathered with more calls to the implementation.

Each function here runs the implementation again on a case chosen to tell causes apart: re-drawn where
the mistake is identifiable, deeper, with another batch size, in another layout (``crosscheck.check.other_layouts``),
or with coincident dimensions after a crash on distinct ones.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ..diagnosis.diagnose import Diagnosis, diagnose
from ..errors import ConventionError, ImplementationError, UsageError
from ..model.case import Case
from ..model.presets import CheckOptions
from ..sandbox.client import Sandbox
from ..sandbox.targets import Target
from .defaults import DEFAULTS, width_bounds
from .evaluate import Outcome, evaluate, extra_diagnoses
from .report import CheckReport

__all__ = ["PROBED", "coincident_rerun", "convention_words", "deeper", "detected", "probe", "probe_pack",
           "same_batch_size", "where_visible"]


def _limits(options: CheckOptions) -> dict:
    """The declared width constraints, for the re-drawn cases of the diagnosis (``diagnosis.evidence``)."""
    lo, hi, _ = width_bounds(options)
    return {"widths": (lo, hi), "output_width": options.output_width}


def where_visible(sandbox: Sandbox, failure: Outcome, dtype: str, seed: int,
                   options: CheckOptions) -> tuple[Outcome, list[Diagnosis]]:
    """The failure re-drawn where its mistake is identifiable (``crosscheck.diagnosis.evidence``), if the
    implementation still fails there, and a second call on it: ``stateful`` when the answers differ."""
    from ..diagnosis.evidence import diagnosis_cases, stateful_detail

    chosen = failure
    for case in diagnosis_cases(failure.case, seed=seed, **_limits(options))[:-1]:
        try:
            outcome = evaluate(sandbox, case, dtype)
        except ImplementationError:
            continue
        if not outcome.passed:
            chosen = outcome
            break
    try:
        again = evaluate(sandbox, chosen.case, dtype)
    except ImplementationError:
        return chosen, []
    detail = stateful_detail(chosen.got, again.got)
    if detail is None:
        return chosen, []
    first = next(iter(chosen.got))
    return chosen, [Diagnosis("stateful", first, int(first[2:]) if first[2:].isdigit() else 0, detail)]


def detected(sandbox: Sandbox, options: CheckOptions, report: CheckReport, seed: int,
              mode: str | bool) -> CheckOptions:
    """The options to check under after probing (``crosscheck.check.detect``); the finding in ``report``,
    and the time it took in ``report.detect_s``."""
    t0 = time.perf_counter()
    try:
        return _detected(sandbox, options, report, seed, mode)
    finally:
        report.detect_s = time.perf_counter() - t0


def _detected(sandbox: Sandbox, options: CheckOptions, report: CheckReport, seed: int,
              mode: str | bool) -> CheckOptions:
    from dataclasses import replace

    from ..model.presets import validate
    from .detect import detect

    declared = options.convention()
    net_fields = ("hidden", "output", "loss", "reduction", "targets")
    penalty = ("l2", "l1", "penalty_form", "penalty_bias")
    fixed = {f: getattr(options, f) for f in net_fields + penalty}
    if mode == "auto":
        fixed.update({f: getattr(options, f) for f in ("batch", "weights", "bias", "params")})
    try:
        found = detect(lambda p, X, Y, spec=None: sandbox.call(p, X, Y, spec=spec).value, seed=seed, fixed=fixed,
                       spec=sandbox.accepts_spec)
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
                   or (k in net_fields + penalty and getattr(options, k) is None and not found.told)}
        if options.depth is None and options.max_depth is None and not found.told:
            depth_key = "depth" if "depth" in found.options() else "max_depth"
            changes[depth_key] = found.options()[depth_key]
        try:
            options = validate(replace(options, **changes))
        except (UsageError, ValueError):
            pass
    report.options = options
    how = "" if found.exact else (" (no declaration of the table gives its gradients exactly: this is the layout "
                                  "that returns the right shapes; the rest of the network is checked as declared)")
    told = " (the spec tells it the network: every network is checked)" if found.told else ""
    report.detected = found.flags() + how + told + found.penalty_note()
    return options


# first diagnoses after which the check asks whether the code follows another convention
PROBED = ("layer_gradient", "unknown", "shape")


def deeper(sandbox: Sandbox, failure: Outcome, rest: list, options: CheckOptions, dtype: str,
            seed: int) -> tuple[Outcome, list]:
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
        outcome = evaluate(sandbox, case, dtype)
        if outcome.passed:
            return failure, rest
        deeper = diagnose(case, outcome.got_raw, mutated=outcome.mutated)
    except (ImplementationError, ConventionError):
        return failure, rest
    if deeper and deeper[0].id != "output_gradient":
        return outcome, deeper
    return failure, rest


def same_batch_size(sandbox: Sandbox, case: Case, dtype: str, seed: int) -> bool:
    """A hard-coded batch size M holds on a case re-drawn with another m: the factor there is m'/M too."""
    from ..diagnosis.container import hardcoded_batch_size
    from ..draws import draw

    params = case.params
    m = case.batch_size
    M = hardcoded_batch_size(case, case.convention.params_from_user(
        evaluate(sandbox, case, dtype).got_raw, case.network, gradient=True))
    other_m = next(v for v in (m + 1, m + 2, m + 3) if v != M)
    try:
        params, X, Y = draw(case.network, seed + 11, batch_size=other_m).one(0)
        other = Case(case.network, case.convention, params, X, Y).astype(case.dtype)
        outcome = evaluate(sandbox, other, dtype)
        got = other.convention.params_from_user(outcome.got_raw, other.network, gradient=True)
    except (ImplementationError, ConventionError, ValueError):
        return False
    return M is not None and hardcoded_batch_size(other, got) == M


def convention_words(declared: Any, found: Any) -> str:
    from .other_layouts import convention_sentence

    return convention_sentence(declared, found)


def probe(sandbox: Sandbox, case: Case, dtype: str, seed: int, fields: int = 4) -> Diagnosis | None:
    """The layout the code follows instead of the declared one, up to ``fields`` fields away (a call that
    raises restarts the worker: after a crash only the one-field neighbours are tried, six calls at most)."""
    from .other_layouts import convention_sentence, probe_conventions

    found = probe_conventions(case, lambda c: evaluate(sandbox, c, dtype), seed=seed, fields=fields)
    if found is None:
        return None
    return Diagnosis("convention", "dW1", 1, convention_sentence(case.convention, found))


def coincident_rerun(sandbox: Sandbox, report: CheckReport, dtype: str, seed: int,
                      options: CheckOptions) -> Outcome | None:
    """After a crash on distinct dimensions: the same network with coincident ones. If it runs
    there and returns wrong gradients, that is the mistake to name (exit 1, not 3)."""
    from ..diagnosis.evidence import coincident_cases

    assert report.case is not None and report.error is not None
    for case in coincident_cases(report.case, seed=seed, **_limits(options)):
        try:
            outcome = evaluate(sandbox, case, dtype)
        except ImplementationError:
            continue
        if not outcome.passed:
            crashed = str(report.error).removeprefix("the implementation ")
            report.note = (f"on {report.case.describe()} the implementation {crashed}; on coincident dimensions "
                           f"({case.describe()}) it runs and returns wrong gradients, diagnosed below")
            return outcome
    return None


def diagnose_failure(sandbox: Sandbox, report: CheckReport, failure: Outcome, dtype: str, seed: int,
                     options: CheckOptions) -> None:
    """A mismatch diagnosed into ``report``: re-drawn where visible, looked at deeper, the batch size and
    the layout probed; ``report.case``/``expected``/``got`` become the case the diagnosis was made on."""
    report.shrunk = None if report.verdict == "fail" else failure.case  # a crash re-run was not shrunk
    report.verdict = "fail"
    t_diag = time.perf_counter()
    failure, first = where_visible(sandbox, failure, dtype, seed, options)
    report.case, report.expected, report.got = failure.case, failure.expected, failure.got
    report.comparison, report.mutated, report.output = failure.comparison, failure.mutated, failure.output
    rest = diagnose(failure.case, failure.got_raw, mutated=failure.mutated)
    if rest and rest[0].id == "output_gradient" and not first:  # one layer: sigma' or dL/dA? look deeper
        failure, rest = deeper(sandbox, failure, rest, options, dtype, seed)
        report.case, report.expected, report.got = failure.case, failure.expected, failure.got
        report.comparison, report.output = failure.comparison, failure.output
    if first:  # different answers to the same question: the values say nothing more
        rest = [d for d in rest if d.id in ("mutates_inputs", "dtype")]
    extra = extra_diagnoses(failure.extras, failure.comparison, failure.mutated)
    report.diagnosis = extra or (first + rest)
    if report.diagnosis and report.diagnosis[0].id == "batch_size" and \
            not same_batch_size(sandbox, failure.case, dtype, seed):
        report.diagnosis = report.diagnosis[1:]  # re-drawn with another m, the constant did not hold
    if report.probe_convention is not None:
        report.diagnosis = [Diagnosis("convention", "dW1", 1, convention_words(
            report.options.convention(), report.probe_convention))] + report.diagnosis
    elif not extra and not first and rest and rest[0].id in PROBED:  # does the code follow another layout?
        found = probe(sandbox, failure.case, dtype, seed)
        if found is not None:
            report.diagnosis = [found] + report.diagnosis
    report.diagnosis_s = time.perf_counter() - t_diag


def probe_pack(target: Target, report: CheckReport, options: CheckOptions, dtype: str, sandbox: Sandbox) -> None:
    """A flat vector unrolled in the other order, or labels counted from the other base: when the failing case
    passes so, that is the mistake named first (a crash under the declared one becomes a failure, exit 1)."""
    from .packing import probe_packs

    if target.pack is None or report.case is None or report.verdict == "pass":
        return

    def passes(pack: dict) -> bool:
        with Sandbox(replace(target, pack=pack), timeout=sandbox.timeout, memory=sandbox.memory,
                     forbid_imports=sandbox.forbid_imports, isolation=sandbox.isolation) as other:
            return evaluate(other, report.case, dtype).passed

    found = probe_packs(target.pack, options.targets, passes)
    if found is None:
        return
    if report.verdict == "error":
        crashed = str(report.error).removeprefix("the implementation ")
        report.note = f"on {report.case.describe()} the implementation {crashed}"
        report.verdict, report.error = "fail", None
    report.diagnosis = [Diagnosis("convention", "dW1", 1, found)] + report.diagnosis
