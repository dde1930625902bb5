"""``crosscheck audit``: torch and JAX under the same name, different math.

For every function pair in the table (``crosscheck.audit.table``) the audit runs torch's and JAX's
spellings at representative points (kinks, thresholds, saturating tails, ties) in float32 and
float64, compares values and autodiff derivatives with the reference's definition and with each
other, and reads every default argument from the installed libraries' signatures. A difference the
table documents is a known convention, printed with its fix; one it does not is a finding (exit 1).
A baseline (``--save-baseline`` / ``--baseline``) tells CI which answers an upgrade changed.

Importing this package imports neither torch nor JAX; ``run_audit`` does.

May import: ``crosscheck.model`` (activation and loss tables, kink conventions), ``crosscheck.backends``
(JAX's cache settings), ``crosscheck.errors``; never another job. The port check reads this table, not the reverse.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from ..model.kinks import KINK_CONVENTIONS, kink_subgradients, spellings_using

if TYPE_CHECKING:  # pragma: no cover
    from .results import AuditResult

__all__ = ["run_audit", "run_from_args", "KINK_CONVENTIONS", "kink_subgradients", "spellings_using",
           "OPTIONAL"]

OPTIONAL = ("optax", "flax")  # compared when installed; "not installed" otherwise


def run_audit(*, flax: bool = True, optax: bool = True, functions: list[str] | None = None,
              dtypes: tuple[str, ...] = ("float32", "float64"), progress: Any = None) -> AuditResult:
    """Probe the table on the installed libraries (flax and optax when installed and not switched
    off; only ``functions``, e.g. ``["gelu"]``, when given): an ``AuditResult`` whose ``findings``
    are the differences the table cannot explain. Raises ``UsageError`` without torch or JAX."""
    from .probes import run_audit as run

    return run(flax=flax, optax=optax, functions=functions, dtypes=dtypes, progress=progress)


def _write_json(data: dict, path: str) -> None:
    from ..errors import UsageError

    text = json.dumps(data, indent=1)
    if path == "-":
        print(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None


def run_from_args(args: Any) -> int:
    """``crosscheck audit``: exit 0 when every difference is a documented convention; 1 on a finding,
    on any difference with ``--strict``, or when an answer changed since ``--baseline``."""
    from ..errors import UsageError
    from . import baseline as bl
    from .report import format_markdown, format_table, to_json

    without = [w.strip() for w in (args.without or "").split(",") if w.strip()]
    for w in without:
        if w not in OPTIONAL:
            raise UsageError(f"--without: {w!r} is not an optional library of the audit; choose from "
                             f"{', '.join(OPTIONAL)}")
    if args.markdown and args.json == "-":
        raise UsageError("--markdown and --json - both write to stdout; give --json a file")
    functions = [f.strip() for f in (args.functions or "").split(",") if f.strip()] or None
    before = bl.load(args.baseline) if args.baseline else None  # a bad file fails before the work
    from .. import terminal
    from ..terminal import Progress

    progress = Progress("crosscheck audit: probing")  # on a TTY only, after 2 s
    try:
        result = run_audit(flax="flax" not in without, optax="optax" not in without, functions=functions,
                           progress=progress)
    finally:
        progress.close()
    if not result.all_rows:  # never a green verdict on nothing compared
        raise UsageError("nothing to compare: " + "; ".join(result.unavailable))
    to_stdout = args.json == "-"
    if args.markdown:
        print(format_markdown(result))
    elif not to_stdout:
        print(format_table(result, include_agree=args.all, colour=terminal.use_colour(sys.stdout)))
    if args.json:
        _write_json(to_json(result), args.json)
    if args.save_baseline:
        bl.save(result, args.save_baseline)
        if not to_stdout:
            print(f"\nbaseline written to {args.save_baseline} ({len(result.all_rows)} answers)")
    code = 0
    if result.findings or (args.strict and result.known):
        code = 1
    if before is not None:
        comparison = bl.compare(result, before)
        print("\n" + comparison.report(), file=sys.stderr if to_stdout else sys.stdout)
        if comparison.changed:
            code = 1
    return code
