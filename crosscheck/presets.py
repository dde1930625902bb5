"""Convention presets (``--preset NAME``) and the resolution of ``crosscheck check`` options.

A preset names how a course, a library or a seed document lays out a network (the
convention axes) and, where that source fixes them, the network it uses (activations, loss,
reduction). Explicit options always override the preset. ``crosscheck conventions`` lists
the presets, one line each. Adding a preset means adding one entry to ``_TABLE``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .activations import get_activation
from .conventions import BATCH, BIAS, PARAMS, WEIGHTS, Convention
from .errors import UsageError
from .losses import get_loss
from .network import REDUCTIONS

__all__ = ["Preset", "PRESETS", "CheckOptions", "resolve_options", "preset_names", "run_from_args"]

MIN_WIDTH = 2  # every generated width is >= 2 so a transpose is never a no-op


@dataclass(frozen=True)
class CheckOptions:
    """What ``crosscheck check`` generates. ``None`` means "not fixed": crosscheck's default
    for a function without a ``spec`` keyword, and every choice for one with it."""

    batch: str | None = None
    weights: str | None = None
    bias: str | None = None
    params: str | None = None
    hidden: str | None = None
    output: str | None = None
    loss: str | None = None
    reduction: str | None = None
    depth: int | None = None
    max_depth: int | None = None
    max_width: int | None = None
    output_width: int | None = None

    def convention(self) -> Convention:
        """The declared convention; unset axes take ``Convention``'s defaults (columns/out_in/vector/pairs)."""
        given = {k: v for k, v in (("batch", self.batch), ("weights", self.weights), ("bias", self.bias),
                                   ("params", self.params)) if v is not None}
        return Convention(**given)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cli_flags(self) -> list[str]:
        """These options as command-line flags (for a reproduction command)."""
        out: list[str] = []
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                out += [f"--{f.name.replace('_', '-')}", str(v)]
        return out


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    options: CheckOptions

    def summary(self) -> str:
        o = self.options
        conv = o.convention().describe()
        net = ", ".join(f"{k}={v}" for k, v in (("hidden", o.hidden), ("output", o.output), ("loss", o.loss),
                                                ("reduction", o.reduction)) if v is not None)
        return f"{self.name:<16} {conv:<30} {net or '(any network)'}  - {self.description}"


_TABLE: tuple[Preset, ...] = (
    Preset("torch", "torch.nn.Linear style: X is (m, n_in), weight (n_out, n_in) used as X @ W.T + b",
           CheckOptions(batch="rows", weights="out_in", bias="vector", params="pairs")),
    Preset("cs231n", "CS231n two-layer net: X @ W1 + b1, relu, softmax loss averaged over the batch, dict W1, b1",
           CheckOptions(batch="rows", weights="in_out", bias="vector", params="dict",
                        hidden="relu", output="identity", loss="softmax_ce", reduction="mean")),
    Preset("deeplearning.ai", "deeplearning.ai course: X is (n_x, m), W (n_l, n_{l-1}), b (n_l, 1), "
           "relu hidden, sigmoid output, cross-entropy averaged",
           CheckOptions(batch="columns", weights="out_in", bias="column", params="dict",
                        hidden="relu", output="sigmoid", loss="bce", reduction="mean")),
    Preset("nielsen", "Nielsen's network.py: one sample as an (n, 1) column, sigmoid, 1/2 squared error",
           CheckOptions(batch="single", weights="out_in", bias="column", params="pairs",
                        hidden="sigmoid", output="sigmoid", loss="half_sse", reduction="sum")),
    Preset("seed000", "seed 000 (homogeneous): constant-1 input, bias as the last column of W, "
           "gradient of the scalar network function f",
           CheckOptions(batch="columns", weights="out_in", bias="augmented", params="pairs",
                        output="identity", loss="output", reduction="sum")),
    Preset("seed001", "seed 001 (the 2-3-2 Q&A): column vectors, sigmoid, 1/2 sum (y_hat - y)^2",
           CheckOptions(batch="single", weights="out_in", bias="column", params="pairs",
                        hidden="sigmoid", output="sigmoid", loss="half_sse", reduction="sum")),
    Preset("seed002", "seed 002 (Wen Sun): no biases, ReLU with relu'(0) = 1, read-out y_hat = alpha^T z",
           CheckOptions(batch="single", weights="out_in", bias="none", params="pairs",
                        hidden="relu:1", output="relu:1", loss="readout", reduction="sum")),
    Preset("seed003", "seed 003 (phunc20): X is (m, n), Z = X W + b with b (1, n), tanh, sigmoid, "
           "binary cross-entropy averaged",
           CheckOptions(batch="rows", weights="in_out", bias="row", params="dict",
                        hidden="tanh", output="sigmoid", loss="bce", reduction="mean")),
)

PRESETS: dict[str, Preset] = {p.name: p for p in _TABLE}


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise UsageError(f"--{name} must be one of {', '.join(allowed)}; got {value!r}")


def _check_positive(name: str, value: Any, minimum: int = 1) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"--{name.replace('_', '-')} must be an integer >= {minimum}; got {value!r}")


def validate(o: CheckOptions) -> CheckOptions:
    """Raise ``UsageError`` for any option, or combination, that no network can satisfy."""
    _check_choice("batch", o.batch, BATCH)
    _check_choice("weights", o.weights, WEIGHTS)
    _check_choice("bias", o.bias, BIAS)
    _check_choice("params", o.params, PARAMS)
    _check_choice("reduction", o.reduction, REDUCTIONS)
    for name in ("hidden", "output"):
        act = getattr(o, name)
        if act is not None:
            try:
                get_activation(act)
            except ValueError as e:
                raise UsageError(f"--{name}: {e}") from None
    _check_positive("depth", o.depth)
    _check_positive("max_depth", o.max_depth)
    _check_positive("max_width", o.max_width, MIN_WIDTH)
    _check_positive("output_width", o.output_width)
    if o.depth is not None and o.max_depth is not None:
        raise UsageError("give --depth or --max-depth, not both")
    if o.loss is not None:
        try:
            loss = get_loss(o.loss)
        except ValueError as e:
            raise UsageError(f"--loss: {e}") from None
        if loss.output_width is not None and o.output_width not in (None, loss.output_width):
            raise UsageError(f"loss {loss.name!r} needs output width {loss.output_width}; got --output-width "
                             f"{o.output_width}")
        if o.output_width is not None and o.output_width < loss.min_output_width:
            raise UsageError(f"loss {loss.name!r} needs output width >= {loss.min_output_width}")
        if loss.output_activation is not None and o.output not in (None, loss.output_activation):
            raise UsageError(f"loss {loss.name!r} needs --output {loss.output_activation}; got {o.output!r}")
    if o.max_width is not None and o.output_width is not None and o.output_width > o.max_width:
        raise UsageError(f"--output-width {o.output_width} exceeds --max-width {o.max_width}")
    deepest = o.depth or o.max_depth
    if o.max_width is not None and deepest is not None and o.max_width - MIN_WIDTH + 1 < deepest + 1:
        raise UsageError(f"--max-width {o.max_width} leaves too few distinct widths for {deepest} layers "
                         f"(every width differs so transposes show); use --max-width >= {deepest + MIN_WIDTH}")
    return o


def resolve_options(preset: str | None = None, **overrides: Any) -> CheckOptions:
    """The preset's options with every non-None override applied on top, validated."""
    names = {f.name for f in fields(CheckOptions)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    if preset is None:
        base = CheckOptions()
    elif preset in PRESETS:
        base = PRESETS[preset].options
    else:
        raise UsageError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)} (see `crosscheck conventions`)")
    given = {k: v for k, v in overrides.items() if v is not None}
    if given.get("depth") is not None:  # an explicit depth replaces a preset's range, and vice versa
        base = replace(base, max_depth=None)
    if given.get("max_depth") is not None:
        base = replace(base, depth=None)
    return validate(replace(base, **given))


def run_from_args(args: Any) -> int:
    """``crosscheck conventions``: one line per preset."""
    print("presets for `crosscheck check --preset NAME` (batch/weights/bias/params, network):")
    for p in _TABLE:
        print("  " + p.summary())
    return 0
