"""``crosscheck sweep`` from the command line: options, the memory limit, and ``--replay``.

Everything here is refused with a one-line ``UsageError`` (exit 2) before any work: unknown
names, a sweep whose memory estimate is far past the machine's, and a ``--replay`` argument
that is not a failure (a passing report, a list, garbage).
"""

from __future__ import annotations

import json
import os
import sys

from ..errors import UsageError
from .config import DEFAULT_DRAWS, SweepConfig, parse_jobs, parse_shard
from .run import replay, run_sweep

__all__ = ["config_from_args", "run_from_args", "estimate_bytes", "machine_bytes", "load_replay",
           "BYTES_PER_VALUE_COPIES"]

# Live float64 copies of each (draw, value) at the peak of one example: the draws, their float64
# view, the reference's forward pass and deltas, each backend's inputs, tape and answer. Measured
# (docs/measurements.md, "sweep memory"): 25.6 KB of peak RSS per draw at depth 4, widths 5-9,
# batch 6 with numpy, torch and jax, i.e. 2.9 copies of the 1,116 values of the largest such
# network; 4 keeps the estimate above that, and only an estimate past the machine's whole memory
# is refused.
BYTES_PER_VALUE_COPIES = 4


def estimate_bytes(config: SweepConfig) -> int:
    """Peak memory of one example of the largest architecture ``config`` can draw: per draw,
    parameters ``depth * (w^2 + w)``, data ``2 w m``, forward pass and deltas ``3 depth w m``."""
    depth, w, m = config.depth[1], config.widths[1], config.batch_sizes[1]
    values = depth * (w * w + w) + 2 * w * m + 3 * depth * w * m
    return int(config.draws or DEFAULT_DRAWS) * values * 8 * BYTES_PER_VALUE_COPIES


def machine_bytes() -> int | None:
    """Physical memory of this machine, or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_memory(config: SweepConfig) -> None:
    need, have = estimate_bytes(config), machine_bytes()
    if have is not None and need > have:
        per_draw = need / (config.draws or DEFAULT_DRAWS)
        fit = max(1, int(have / 2 / per_draw))
        raise UsageError(f"--draws {config.draws or DEFAULT_DRAWS} needs about {_gib(need)} per example (depth "
                         f"{config.depth[1]}, width {config.widths[1]}, batch {config.batch_sizes[1]}), this machine "
                         f"has {_gib(have)}; use --draws {min(fit, 100_000)} or fewer")


def _split(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    if not items:
        raise UsageError("an empty list was given")
    return items


def config_from_args(args) -> SweepConfig:
    from ..model.activations import get_activation
    from ..model.losses import get_loss

    acts = _split(args.activations)
    losses = _split(args.losses)
    try:
        for a in acts or ():
            get_activation(a)
        for loss in losses or ():
            get_loss(loss)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return SweepConfig(
        backends=_split(args.backends), routes=_split(args.routes), dtype=args.dtype, device=args.device,
        precision=args.precision, examples=args.examples, draws=args.draws, seed=args.seed,
        profile=args.profile, kinks=args.kinks, strict_kinks=args.strict_kinks,
        shard=parse_shard(args.shard) if args.shard else None, activations=acts, losses=losses,
        jobs=parse_jobs(getattr(args, "jobs", "auto")),
    )


_REPLAY_KEYS = ("network", "convention", "batch_size", "seed")
_NOT_A_FAILURE = "--replay needs a failure: a sweep's JSON report that failed, or its reproduce JSON"


def load_replay(text: str) -> dict:
    """The failure spec in ``text`` (a JSON object or the path of a file holding one): a failure's
    reproduce JSON, or a failed sweep report (its first failure). Anything else is a UsageError."""
    if not text.lstrip().startswith(("{", "[")):
        try:
            with open(text) as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"cannot read --replay file: {e}") from None
    try:
        spec = json.loads(text)
    except ValueError as e:
        raise UsageError(f"{_NOT_A_FAILURE}; this is not JSON ({e})") from None
    if not isinstance(spec, dict):
        raise UsageError(f"{_NOT_A_FAILURE}; this JSON is a {type(spec).__name__}, not an object")
    if "failures" in spec:  # a whole report
        failures = spec["failures"]
        if not isinstance(failures, list) or not failures:
            verdict = "passed" if spec.get("passed") else "has no failures"
            raise UsageError(f"{_NOT_A_FAILURE}; this report {verdict}: there is nothing to replay")
        spec = failures[0]
        if not isinstance(spec, dict):
            raise UsageError(f"{_NOT_A_FAILURE}; its first failure is not an object")
    missing = [k for k in _REPLAY_KEYS if k not in spec]
    if missing:
        raise UsageError(f"{_NOT_A_FAILURE}; missing {', '.join(missing)}")
    return spec


def _require_a_backend(config: SweepConfig) -> None:
    """A sweep that would compare no framework with the reference because none is installed is a
    one-line exit 2, not a PASS on 0 cases. ``--backends numpy`` asks for the reference's routes
    alone, and its headline says so."""
    from ..backends import available_backends

    avail = available_backends()
    names = [n for n, why in avail.items() if why is None] if config.backends is None else list(config.backends)
    if any(n != "numpy" for n in names):
        return
    if config.backends is not None:  # asked for: the reference's routes checked against each other only
        return
    missing = "; ".join(f"{n}: {why}" for n, why in avail.items() if why is not None)
    raise UsageError(f"nothing to compare: torch and jax are not installed ({missing}); install one, "
                     "e.g. pip install -e '.[torch]'")


def run_from_args(args) -> int:
    from ..output import require_writable
    from .report import print_sweep, write_json

    require_writable(args.json, "--json")  # before any work: exit 2, not a traceback after the sweep
    config = config_from_args(args)
    show_progress = (not args.no_progress and sys.stderr.isatty() and not os.environ.get("CI"))
    if args.replay:
        spec = load_replay(args.replay)
        try:
            check_memory(SweepConfig(draws=int(spec.get("draws") or DEFAULT_DRAWS)))
            result = replay(config, spec)
        except UsageError:
            raise
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
            raise UsageError(f"{_NOT_A_FAILURE}; this one is malformed: {type(e).__name__}: {e}") from None
    else:
        _require_a_backend(config)
        check_memory(config)
        result = run_sweep(config, progress=show_progress)
    print_sweep(result, file=sys.stderr if args.json == "-" else None)  # with --json -, stdout is JSON alone
    if args.json:
        write_json(result.to_dict(), args.json)
    return 0 if result.passed else 1
