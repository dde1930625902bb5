"""Teacher mode: ``crosscheck grade GRADING.toml --submission DIR``.

A grading config (``config``) names checks and their points; each check is split into parts
(``parts``: each depth, activation and loss of a function check; each layer of a layer
check); every part runs as one confined ``crosscheck check`` (``runner``), and the results are
written as Gradescope's results.json, crosscheck's JSON, JUnit XML or text (``formats``).
``--autograder OUT.zip`` writes a Gradescope autograder bundle instead (``autograder``, ``bundle``).
``--self-check`` is the student's side: the visible checks of the teacher's config, on the
current folder (or ``--submission``), with the same parts, diagnosis and reproduce lines.

Exit codes: 0 whenever results were written, whatever the score; 2 for a bad config or
command line (one line naming the file and key).

May import: the check job, the layer check, ``crosscheck.model`` (presets), profiles, output, errors;
never the audit or the sweep.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ..errors import UsageError
from .config import ConfigError, GradeConfig, load_config
from .results import GradeReport, PartResult

__all__ = ["grade_submission", "load_config", "render", "write_autograder", "GradeConfig", "GradeReport",
           "PartResult", "ConfigError", "run_from_args", "visible_only"]


def grade_submission(config: GradeConfig | str | os.PathLike, submission: str | os.PathLike, *,
                     progress: Any = None, seed: int | None = None) -> GradeReport:
    """Grade the folder ``submission`` with ``config`` (a ``GradeConfig`` or the path of a
    GRADING.toml). Never raises for what the submission does; raises ``ConfigError`` /
    ``UsageError`` for a bad config or a missing folder. ``seed`` replays a run (``report.seed``);
    None draws a fresh one, so the cases cannot be known in advance (a config's ``seed`` pins them)."""
    from .runner import grade

    if not isinstance(config, GradeConfig):
        config = load_config(config)
    return grade(config, submission, progress=progress, seed=seed)


def render(report: GradeReport, fmt: str, *, colour: bool = False, columns: int = 0) -> str:
    """``report`` as ``fmt``: gradescope, json, junit or text (fitted to ``columns``; 0: unwrapped)."""
    from .formats import render as _render

    return _render(report, fmt, colour=colour, columns=columns)


def write_autograder(config: GradeConfig | str | os.PathLike, out: str | os.PathLike, *,
                     requirement: str | None = None) -> list[str]:
    """Write a Gradescope autograder zip for ``config``; returns its entries. It carries this crosscheck as a
    wheel unless ``requirement`` (a pip requirement: a URL, a published version) replaces it."""
    from .autograder import write_autograder as _write

    if not isinstance(config, GradeConfig):
        config = load_config(config)
    return _write(config, out, requirement=requirement)


def _writable(path: str, flag: str) -> None:
    """A report path that cannot be written is a usage error before any work."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path!r} is a folder; give a file name")
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {path!r}: no folder {folder!r}")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag} {path!r} is not writable")
    from ..output import check_name_length

    check_name_length(path, flag)


def _write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run_from_args(args: Any) -> int:
    """``crosscheck grade``: grade and write the results (exit 0), or write the autograder bundle."""
    if args.autograder:
        if getattr(args, "self_check", False):
            raise UsageError("--self-check runs the visible checks here; --autograder writes a bundle: give one")
        if args.submission or args.out:
            raise UsageError("--autograder writes a bundle for Gradescope; it takes no --submission or --out")
        _writable(args.autograder, "--autograder")
        config = load_config(args.config)
        entries = write_autograder(config, args.autograder, requirement=args.install)
        shown = [e for e in entries if not e.startswith("wheels/")] + [e for e in entries if e.startswith("wheels/")]
        print(f"wrote {args.autograder} ({len(entries)} files: {', '.join(shown[:8])}"
              f"{', ...' if len(shown) > 8 else ''}): upload it on the assignment's Configure Autograder page"
              + ("" if args.install else "; setup.sh installs crosscheck from the wheel inside it"))
        return 0
    if getattr(args, "self_check", False):
        return _self_check(args)
    if args.install:
        raise UsageError("--install sets what the autograder bundle installs; use it with --autograder")
    if not args.submission:
        raise UsageError("give --submission DIR (the folder to grade), or --autograder OUT.zip")
    if args.out and args.out != "-":
        _writable(args.out, "--out")
    config = load_config(args.config)
    if not os.path.isdir(args.submission):
        raise UsageError(f"--submission {args.submission!r} is not a folder")
    from ..check.job import fresh_seed
    from .runner import print_progress

    seed = args.seed if getattr(args, "seed", None) is not None else fresh_seed()
    if any(c.options.get("seed") is None for c in config.checks):  # printed first: a killed run can be replayed
        print(f"crosscheck grade: seed {seed} (--seed {seed} replays this run)", file=sys.stderr, flush=True)
    progress = print_progress
    # Gradescope shows the log to students when stdout_visibility is "visible": then it says nothing of a
    # part they may not see yet, nor a total that counts one
    public_log = args.format == "gradescope" and config.autograder.get("stdout_visibility") == "visible"
    if public_log:
        def progress(part: PartResult) -> None:
            if part.visibility == "visible":
                print_progress(part)
    report = grade_submission(config, args.submission, progress=progress, seed=seed)
    from ..terminal import use_colour, width

    to_file = bool(args.out and args.out != "-")  # a file keeps whole lines (grep, diff); a screen is fitted
    text = render(report, args.format, colour=not to_file and use_colour(sys.stdout),
                  columns=0 if to_file else width(sys.stdout))
    if args.out and args.out != "-":
        _write_atomically(args.out, text)
        total = f"{report.score:g} / {report.max_score:g} points; "
        if public_log and any(p.visibility != "visible" for p in report.parts):
            total = ""
        print(f"crosscheck grade: {total}{args.format} results in {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def visible_only(config: GradeConfig) -> GradeConfig:
    """``config`` with only the checks students see now (``visibility = "visible"``)."""
    from dataclasses import replace

    checks = tuple(c for c in config.checks if c.visibility == "visible")
    if not checks:
        raise UsageError(f"{config.path}: no check is visible to students (every one has a visibility other "
                         "than 'visible'): nothing to self-check")
    return replace(config, checks=checks)


def _self_check(args: Any) -> int:
    """A student runs the teacher's visible checks on their own folder: exit 0 when all pass, 1 otherwise."""
    if args.out or args.install:
        raise UsageError("--self-check prints its report; it takes no --out or --install")
    config = visible_only(load_config(args.config))
    submission = args.submission or "."
    if not os.path.isdir(submission):
        raise UsageError(f"--submission {submission!r} is not a folder")
    from .runner import print_progress

    report = grade_submission(config, submission, progress=print_progress)
    from ..terminal import use_colour, width

    sys.stdout.write(render(report, args.format, colour=use_colour(sys.stdout), columns=width(sys.stdout)))
    sys.stdout.flush()
    hidden = len(load_config(args.config).checks) - len(config.checks)
    if hidden:
        print(f"crosscheck grade --self-check: {hidden} check(s) of the config are not visible to students and "
              "were not run", file=sys.stderr)
    return 0 if all(p.verdict == "pass" for p in report.parts) else 1
