"""The ``grade`` job: every part of every check, run confined as ``crosscheck check`` runs, scored.

Each part is one ``crosscheck check`` run in its own worker process (``crosscheck.check``), so a
part that raises, hangs, crashes, exits or runs out of memory scores 0 with the reason and the
next part starts fresh. What the submission cannot change decides every score: the verdicts
come from ``check`` (computed in this process from the arrays the worker returned), the parts
and points from the config. Paths in what a student sees are relative to the submission, so the
same config and submission give the same results anywhere (timings aside).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from ..errors import GradientMismatch, ImplementationError, UsageError
from .config import GradeConfig
from .parts import Part, function_parts, split_points
from .results import FORBIDDEN, CheckResult, GradeReport, PartResult, set_error
from .spec import CheckSpec
from .submission import blocking_entry, escaping_entries

__all__ = ["GradeReport", "CheckResult", "PartResult", "grade"]

# ---- running ---------------------------------------------------------------------------------------

class _Paths:
    """Rewrites the submission's absolute path out of everything a student sees."""

    def __init__(self, submission: str, config_folder: str | None = None) -> None:
        self.root = os.path.abspath(submission)
        self.config = config_folder  # a teacher's adapters are relative to it

    def abs(self, relative: str) -> str:
        return os.path.join(self.root, relative)

    def rel(self, text: str) -> str:
        text = text.replace(self.root + os.sep, "")
        return text.replace(self.config + os.sep, "") if self.config else text


def grade(config: GradeConfig, submission: str | os.PathLike, *,
          progress: Callable[[PartResult], None] | None = None, seed: int | None = None) -> GradeReport:
    """Grade ``submission`` (a folder) with ``config``: every check, every part, never raising
    for anything the submission does. Raises ``UsageError`` when the folder does not exist.

    ``seed``: the run's seed, for every check whose config pins none; None draws a fresh one from
    ``os.urandom`` (recorded in the report), so no submission can know its cases in advance."""
    from ..check.job import fresh_seed

    submission = os.fspath(submission)
    if not os.path.isdir(submission):
        raise UsageError(f"--submission {submission!r} is not a folder")
    paths = _Paths(submission, config.folder)
    run_seed = fresh_seed() if seed is None else seed
    t0 = time.perf_counter()
    escaping = escaping_entries(submission)  # links out of the submission: the checks that see them score 0
    results, used = [], False
    for spec in config.checks:
        if spec.options.get("seed") is None:
            spec, used = dataclasses.replace(spec, options={**spec.options, "seed": run_seed}), True
        results.append(_grade_check(spec, paths, progress, blocking_entry(spec.path, escaping)))
    # the report's seed: the run's, when a check used it (every check pinning its own leaves it None)
    return GradeReport(config.path, submission, results, time.perf_counter() - t0, dict(config.autograder),
                       seed=run_seed if used else None)


def _grade_check(spec: CheckSpec, paths: _Paths, progress: Callable[[PartResult], None] | None,
                 refused: str | None = None) -> CheckResult:
    if spec.kind == "layers":
        from .layers import layer_parts

        parts = layer_parts(spec)
    else:
        parts = function_parts(spec)
    shares = split_points(spec.points, len(parts))
    single = len(parts) == 1 and spec.kind == "function"
    results = [PartResult(f"{spec.index}.{k}", spec.name, "" if single else part.label, spec.target, share, 0.0,
                          "error", visibility=spec.visibility)
               for k, (part, share) in enumerate(zip(parts, shares), start=1)]
    if refused is not None:  # nothing of it runs: its folder leads outside the submission
        for p in results:
            set_error(p, "refused", f"not graded: {refused}; a submission holds its own files, not links")
    elif spec.kind == "layers":
        _grade_layers(spec, paths, results)
    else:
        _grade_function(spec, paths, parts, results)
    for p in results:
        p.score = p.max_score if p.verdict == "pass" else 0.0
    _forbidden_zeroes_the_check(results)
    if progress is not None:
        for p in results:
            progress(p)
    return CheckResult(spec, results)


def _grade_layers(spec: CheckSpec, paths: _Paths, results: list[PartResult]) -> None:
    from .layers import grade_layers

    t = time.perf_counter()
    try:
        grade_layers(spec, paths, results)
    except Exception as e:  # noqa: BLE001 - grading goes on; the parts say why they scored 0
        for p in results:
            _internal(p, e, paths)
    for p in results:  # one run for every layer: its time, shared
        p.elapsed = (time.perf_counter() - t) / len(results)


def _grade_function(spec: CheckSpec, paths: _Paths, parts: list[Part], results: list[PartResult]) -> None:
    shared: PartResult | None = None  # a failure before any call (no file, import failed): every part's
    for part, out in zip(parts, results):
        t = time.perf_counter()
        if shared is not None:
            _copy_verdict(shared, out)
        else:
            try:
                if _run_function_part(spec, part, paths, out):
                    shared = out
            except Exception as e:  # noqa: BLE001 - grading goes on; the part says why it scored 0
                _internal(out, e, paths)
        out.elapsed = time.perf_counter() - t


def _internal(part: PartResult, e: Exception, paths: _Paths) -> None:
    set_error(part, "internal", f"crosscheck could not grade this part ({type(e).__name__}: "
               f"{paths.rel(str(e))}); tell your instructor")


def _copy_verdict(src: PartResult, dst: PartResult) -> None:
    dst.verdict, dst.reason, dst.output, dst.error_kind = src.verdict, src.reason, src.output, src.error_kind
    dst.reproduce, dst.diagnosis = src.reproduce, list(src.diagnosis)


def _forbidden_zeroes_the_check(parts: list[PartResult]) -> None:
    """A forbidden import anywhere in a check scores the whole check 0: code that may use torch
    on one part could have used it on every other."""
    found = next((p for p in parts if p.error_kind == "forbidden_import"), None)
    if found is None:
        return
    for p in parts:
        if p.error_kind == "forbidden_import":
            continue
        note = (f"{found.reason} (in part {found.number}): a forbidden import scores the whole check 0")
        p.output = note + ("\n\nthis part on its own:\n" + p.output if p.output else "")
        p.reason, p.verdict, p.score, p.error_kind = note, "error", 0.0, "forbidden_import"


def _check_kwargs(spec: CheckSpec) -> dict[str, Any]:
    o = spec.options
    # forbid_imports always explicit (an empty list too): never a default set elsewhere in the process
    kw = {k: o[k] for k in ("examples", "seed", "timeout", "memory", "dtype", "profile", "isolation",
                            "strict_kinks")}
    kw["budget"] = o.get("budget")  # for each part: a slow-every-call submission cannot take examples x timeout
    kw["forbid_imports"] = list(o["forbid_imports"])
    kw.update({k: o[k] for k in ("params_attr", "returns", "args", "label_base") if o.get(k) is not None})
    return kw


def _run_function_part(spec: CheckSpec, part: Part, paths: _Paths, out: PartResult) -> bool:
    """Fill ``out``; True when it failed before calling anything (no file, no function, the
    import failed): the same verdict then holds for every part of the check."""
    from ..check.job import check_implementation

    if not os.path.isfile(paths.abs(spec.path)):
        set_error(out, "missing", f"the submission has no file {spec.path} (expected at the top of the "
                   "submission, as the assignment names it)")
        out.verdict = "missing"
        return True
    target: Any = f"{paths.abs(spec.path)}:{spec.attr}"
    if spec.adapter is not None:  # the teacher's function runs, importing the submission's file from its folder
        from ..sandbox.targets import Target

        file, _, attr = spec.adapter.partition(":")
        target = Target("file", attr, path=os.path.join(paths.config or "", file),
                        paths=(os.path.dirname(paths.abs(spec.path)),))
    try:
        report = check_implementation(target, preset=spec.options.get("preset"),
                                      **part.network_options(spec), **_check_kwargs(spec))
    except GradientMismatch as e:
        report = e.report
    except ImplementationError as e:
        report = getattr(e, "report", None)
        if report is None:
            set_error(out, e.kind, paths.rel(str(e)))
            return False
    except UsageError as e:  # the file lacks the function, or it is not callable
        set_error(out, "usage", paths.rel(str(e)))
        return True
    out.reproduce = paths.rel(report.reproduce)
    out.diagnosis = [d.to_dict() for d in report.diagnosis]
    if report.verdict == "pass":
        out.verdict = "pass"
        conv = report.options.describe_layout()
        where = f"{part.label}; " if part.label else ""
        out.output = (f"PASS: {spec.target} returned the reference gradients on all {report.examples} examples "
                      f"({where}{conv}, {report.dtype}, seed {report.seed})\n"
                      f"run it yourself: {out.reproduce}")
        return False
    text = paths.rel(report.summary(columns=0))  # unwrapped: a web page or a JSON reader wraps it
    if report.verdict == "fail":
        out.verdict = "fail"
        first = report.diagnosis[0] if report.diagnosis else None
        out.reason = (f"{first.id} at {first.parameter} (layer {first.layer}): {first.detail}" if first
                      else "wrong gradients")
        out.output = text
        return False
    err = report.error
    message = paths.rel(str(err)) if err is not None else "failed to run"
    m = FORBIDDEN.search(message)
    kind = "forbidden_import" if m else (err.kind if err is not None else "error")
    set_error(out, kind, f"forbidden import: {m.group(1)}" if m else message, output=text)
    return report.case is None


def progress_line(part: PartResult) -> str:
    """One line per part for the log (stderr; Gradescope shows it to instructors only)."""
    tail = f": {part.reason}" if part.reason else ""
    return f"[{part.number}] {part.name}: {part.verdict} {part.score:g}/{part.max_score:g}{tail}"


def print_progress(part: PartResult) -> None:
    print(progress_line(part), file=sys.stderr, flush=True)
