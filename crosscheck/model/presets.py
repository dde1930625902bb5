"""Convention presets (``--preset NAME``) and the resolution of ``crosscheck check`` options.

A preset names how a course, a library or a seed document lays out a network (the
convention axes) and, where that source fixes them, the network it uses (activations, loss,
reduction, target form, depth, penalty form). Explicit options always override the preset.
Each preset says in one line which real code it matches (``matches``); the presets from the
literature crosscheck was built on are named for their source (``mishachev``, ``qa-thread``,
``wen-sun``, ``phunc20``); earlier names (``homogeneous`` ..., ``seed000`` ...) stay as aliases.
``crosscheck conventions`` lists the presets. Adding a preset means adding one entry to ``_TABLE``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..errors import UsageError
from .activations import get_activation
from .conventions import BATCH, BIAS, PARAMS, WEIGHTS, Convention
from .losses import get_loss
from .network import PENALTY_FORMS, REDUCTIONS, TARGETS

__all__ = ["Preset", "PRESETS", "CheckOptions", "resolve_options", "preset_names", "run_from_args", "width_range",
           "EDGE_BIAS", "EDGE_PARAMS", "FLAT_ORDERS"]

MIN_WIDTH = 2  # every generated width is >= 2 so a transpose is never a no-op (unless --max-width is 1)

# layouts met at the edge only (a way into the case, ``crosscheck.check.packing``): the parameters are
# packed from, and the gradients unpacked to, the convention each maps to (``CheckOptions.convention``)
EDGE_BIAS = {"first_column": "vector"}  # Ng's Theta = [b | W], the bias its first column (first row in_out)
EDGE_PARAMS = {"flat": "pairs"}  # one unrolled vector of every array, in --flat-order
FLAT_ORDERS = ("C", "F")  # row order (NumPy's ravel) or column order (Octave's Theta(:), ravel(order="F"))


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
    min_depth: int | None = None
    max_depth: int | None = None
    max_width: int | None = None
    output_width: int | None = None
    targets: str | None = None
    l2: float | None = None
    l1: float | None = None
    penalty_form: str | None = None
    penalty_bias: bool | None = None
    flat_order: str | None = None  # with params "flat": C (row order, the default) or F (Octave's column order)

    def convention(self) -> Convention:
        """The declared convention; unset axes take ``Convention``'s defaults (columns/out_in/vector/pairs).
        An edge layout (bias ``first_column``, params ``flat``) gives the convention it is packed from."""
        given = {k: v for k, v in (("batch", self.batch), ("weights", self.weights),
                                   ("bias", EDGE_BIAS.get(self.bias or "", self.bias)),
                                   ("params", EDGE_PARAMS.get(self.params or "", self.params))) if v is not None}
        return Convention(**given)

    @property
    def packed(self) -> bool:
        """Whether the parameters cross the edge in a layout of their own (first-column bias, a flat vector)."""
        return self.bias in EDGE_BIAS or self.params in EDGE_PARAMS

    def describe_layout(self) -> str:
        """``batch/weights/bias/params`` as declared, edge layouts included (``rows/out_in/first_column/flat(F)``)."""
        if not self.packed:
            return self.convention().describe()
        c = self.convention()
        params = f"flat({self.flat_order or 'C'})" if self.params == "flat" else c.params
        return f"{c.batch}/{c.weights}/{self.bias or c.bias}/{params}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cli_flags(self) -> list[str]:
        """These options as command-line flags (for a reproduction command)."""
        out: list[str] = []
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool):  # a switch: --penalty-bias / --no-penalty-bias
                out.append(f"--{'' if v else 'no-'}{f.name.replace('_', '-')}")
            elif v is not None:
                out += [f"--{f.name.replace('_', '-')}", f"{v:g}" if isinstance(v, float) else str(v)]
        return out


@dataclass(frozen=True)
class Preset:
    """``matches``: in one line, the real code this preset reproduces; ``aliases``: old names."""

    name: str
    description: str
    options: CheckOptions
    matches: str = ""
    aliases: tuple[str, ...] = ()

    def summary(self) -> str:
        o = self.options
        conv = o.describe_layout()
        net = ", ".join(f"{k}={v}" for k, v in (("hidden", o.hidden), ("output", o.output), ("loss", o.loss),
                                                ("targets", o.targets), ("reduction", o.reduction),
                                                ("depth", o.depth), ("penalty", o.penalty_form)) if v is not None)
        alias = f" (alias {', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.name + alias:<30} {conv:<28} {net or '(any network)'}; matches {self.matches}"


_TABLE: tuple[Preset, ...] = (
    Preset("torch", "torch.nn.Linear style: X is (m, n_in), weight (n_out, n_in) used as X @ W.T + b",
           CheckOptions(batch="rows", weights="out_in", bias="vector", params="pairs"),
           matches="torch.nn.Linear / F.linear layers: x @ weight.T + bias, weight (out, in), bias (out,)"),
    Preset("cs231n", "CS231n TwoLayerNet: scores = relu(X @ W1 + b1) @ W2 + b2, softmax loss of integer labels "
           "y (N,) averaged over the batch, L2 0.5*reg*sum(W*W) on the weights; dict W1, b1, W2, b2",
           CheckOptions(batch="rows", weights="in_out", bias="vector", params="dict",
                        hidden="relu", output="identity", loss="softmax_ce", targets="labels", reduction="mean",
                        depth=2, penalty_form="half"),
           matches="CS231n TwoLayerNet.loss(X, y, reg) (fc_net.py; neural_net.py of 2017-19 writes reg*sum(W*W): "
                   "add --penalty-form full)"),
    Preset("cs231n-fc", "CS231n FullyConnectedNet: affine-relu layers of any depth, softmax loss of integer "
           "labels averaged, L2 0.5*reg*sum(W*W) on the weights; dict W1, b1, ...",
           CheckOptions(batch="rows", weights="in_out", bias="vector", params="dict",
                        hidden="relu", output="identity", loss="softmax_ce", targets="labels", reduction="mean",
                        penalty_form="half"),
           matches="CS231n FullyConnectedNet.loss(X, y) without dropout or normalisation (fc_net.py)"),
    Preset("deeplearning.ai", "deeplearning.ai course: X is (n_x, m), W (n_l, n_{l-1}), b (n_l, 1), "
           "relu hidden, sigmoid output, cross-entropy of 0/1 labels averaged, L2 lambd/(2m)*sum(W^2)",
           CheckOptions(batch="columns", weights="out_in", bias="column", params="dict",
                        hidden="relu", output="sigmoid", loss="bce", targets="binary", reduction="mean",
                        penalty_form="half_over_m"),
           matches="deeplearning.ai L_model_backward (dW1, db1, ... and dA0, dA1, ...) and "
                   "backward_propagation_with_regularization"),
    Preset("nielsen", "Nielsen's network.py: one sample as an (n, 1) column, sigmoid, 1/2 squared error",
           CheckOptions(batch="single", weights="out_in", bias="column", params="pairs",
                        hidden="sigmoid", output="sigmoid", loss="half_sse", reduction="sum"),
           matches="Nielsen's network.py Network.backprop(x, y) (chapter 1-2); network2.py's lmbda/(2n) with "
                   "n the training-set size is --l2 lmbda/n --penalty-form half"),
    Preset("mishachev", "Mishachev, 'Backpropagation in matrix notation': a homogeneous network with a "
           "constant-1 input, bias as the last column of W, gradient of the scalar network function f",
           CheckOptions(batch="columns", weights="out_in", bias="augmented", params="pairs",
                        output="identity", loss="output", reduction="sum"),
           matches="Mishachev's matrix-notation formulas (3)-(5) for f(X; W) of a homogeneous network",
           aliases=("homogeneous", "seed000")),
    Preset("qa-thread", "the Q&A thread on backprop in matrix notation (a 2-3-2 network): column vectors, "
           "sigmoid, 1/2 sum (y_hat - y)^2",
           CheckOptions(batch="single", weights="out_in", bias="column", params="pairs",
                        hidden="sigmoid", output="sigmoid", loss="half_sse", reduction="sum"),
           matches="the Q&A thread's hand derivation for the 2-3-2 sigmoid network, one (n, 1) sample at a time",
           aliases=("one-sample-sigmoid", "seed001")),
    Preset("wen-sun", "Wen Sun, 'The Backpropagation Algorithm': no biases, ReLU with relu'(0) = 1, "
           "read-out y_hat = alpha^T z",
           CheckOptions(batch="single", weights="out_in", bias="none", params="pairs",
                        hidden="relu:1", output="relu:1", loss="readout", reduction="sum"),
           matches="Wen Sun's lecture-note recursion: a bias-free ReLU net read out by alpha",
           aliases=("relu-readout", "seed002")),
    Preset("phunc20", "phunc20, 'Backprop: a simple case': X is (m, n), Z = X W + b with b (1, n), tanh, "
           "sigmoid, binary cross-entropy averaged",
           CheckOptions(batch="rows", weights="in_out", bias="row", params="dict",
                        hidden="tanh", output="sigmoid", loss="bce", reduction="mean"),
           matches="phunc20's row-layout derivation: Z = X W + b, tanh hidden, sigmoid + BCE",
           aliases=("rows-tanh-bce", "seed003")),
    Preset("ng-ex4", "Andrew Ng's ML course, ex4 nnCostFunction: one unrolled vector of Theta1, Theta2 (bias "
           "the first column) in Octave's column order, X (m, n), sigmoid hidden and output, cross-entropy "
           "over one-hot targets summed over outputs and averaged, lambda/(2m) * sum of Theta^2 without the bias",
           CheckOptions(batch="rows", weights="out_in", bias="first_column", params="flat", flat_order="F",
                        hidden="sigmoid", output="sigmoid", loss="bce", targets="onehot", reduction="mean",
                        depth=2, l2=1.0, penalty_form="half_over_m"),
           matches="ex4's nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, "
                   "lambda_) -> (J, grad) (NumPy ports that unroll with ravel() in row order: add --flat-order C; "
                   "labels 1..K as in Octave: --label-base 1)"),
)

# every name a preset answers to, old aliases included (homogeneous ..., seed000 ... seed003)
PRESETS: dict[str, Preset] = {name: p for p in _TABLE for name in (p.name, *p.aliases)}


def preset_names() -> tuple[str, ...]:
    """The presets' own names (aliases left out)."""
    return tuple(p.name for p in _TABLE)


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
    _check_choice("bias", o.bias, BIAS + tuple(EDGE_BIAS))
    _check_choice("params", o.params, PARAMS + tuple(EDGE_PARAMS))
    _check_choice("flat-order", o.flat_order, FLAT_ORDERS)
    if o.flat_order is not None and o.params != "flat":
        raise UsageError(f"--flat-order {o.flat_order} orders a flat parameter vector: add --params flat")
    _check_choice("reduction", o.reduction, REDUCTIONS)
    _check_choice("targets", o.targets, TARGETS)
    _check_choice("penalty-form", o.penalty_form, PENALTY_FORMS)
    for name in ("l2", "l1"):
        v = getattr(o, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < float("inf")):
            raise UsageError(f"--{name} must be a number >= 0; got {v!r}")
    if o.penalty_bias is not None and not isinstance(o.penalty_bias, bool):
        raise UsageError(f"penalty_bias must be True or False; got {o.penalty_bias!r}")
    for name in ("hidden", "output"):
        act = getattr(o, name)
        if act is not None and act.partition(":")[0] == "softmax":
            raise UsageError(f"--{name} softmax: softmax is not an element-wise activation; crosscheck applies it "
                             "inside the loss: use --output identity --loss softmax_ce")
        if act is not None:
            try:
                get_activation(act)
            except ValueError as e:
                raise UsageError(f"--{name}: {e}") from None
    _check_positive("depth", o.depth)
    _check_positive("min_depth", o.min_depth)
    _check_positive("max_depth", o.max_depth)
    _check_positive("max_width", o.max_width)
    _check_positive("output_width", o.output_width)
    if o.depth is not None and o.max_depth is not None:
        raise UsageError("give --depth or --max-depth, not both")
    if o.depth is not None and o.min_depth is not None:
        raise UsageError("give --depth or --min-depth, not both")
    if o.min_depth is not None and o.max_depth is not None and o.min_depth > o.max_depth:
        raise UsageError(f"--min-depth {o.min_depth} exceeds --max-depth {o.max_depth}")
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
        if o.max_width is not None and o.max_width < max(loss.min_output_width, loss.output_width or 1):
            raise UsageError(f"loss {loss.name!r} needs output width >= {loss.min_output_width}; got --max-width "
                             f"{o.max_width}")
        if loss.output_activation is not None and o.output not in (None, loss.output_activation):
            raise UsageError(f"loss {loss.name!r} needs --output {loss.output_activation}; got {o.output!r}")
        if o.targets is not None and o.targets not in loss.targets:
            raise UsageError(f"loss {loss.name!r} takes --targets {' or '.join(loss.targets)}; got {o.targets!r}")
        if o.reduction == "mean_all" and not loss.elementwise:
            raise UsageError(f"--reduction mean_all averages over samples and output units; loss {loss.name!r} is "
                             "not a sum of one term per output unit"
                             + (" (torch's nn.CrossEntropyLoss averages over samples: --reduction mean)"
                                if loss.name == "softmax_ce" else ""))
    elif o.targets in ("onehot", "labels", "binary"):
        needs = "bce" if o.targets == "binary" else "softmax_ce"
        raise UsageError(f"--targets {o.targets} needs --loss {needs}")
    if o.max_width is not None and o.output_width is not None and o.output_width > o.max_width:
        raise UsageError(f"--output-width {o.output_width} exceeds --max-width {o.max_width}")
    return o


def width_range(o: CheckOptions, deepest: int, default_max: int) -> tuple[int, int, bool]:
    """(lo, hi, distinct) of the generated widths: 2..max, pairwise distinct where the range holds
    ``deepest`` + 1 of them; a narrower --max-width (down to 1) is honoured with widths that may repeat."""
    hi = o.max_width or max(default_max, deepest + MIN_WIDTH)
    if o.output_width is not None and o.max_width is None:
        hi = max(hi, o.output_width)
    lo = min(MIN_WIDTH, hi)
    return lo, hi, hi - lo + 1 >= deepest + 1


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
        base = replace(base, min_depth=None, max_depth=None)
    if given.get("max_depth") is not None or given.get("min_depth") is not None:
        base = replace(base, depth=None)
    return validate(replace(base, **given))


def run_from_args(args: Any) -> int:
    """``crosscheck conventions``: each preset, its convention and network, and the code it matches,
    wrapped to the terminal's width."""
    import shutil
    import textwrap

    cols = max(shutil.get_terminal_size((100, 24)).columns, 60)  # the model wing imports no terminal module

    def wrap(text: str, width: int, indent: str = "", subsequent: str | None = None) -> list[str]:
        return textwrap.wrap(text, width, initial_indent=indent,
                             subsequent_indent=indent if subsequent is None else subsequent)

    print("presets for `crosscheck check --preset NAME`: convention (batch/weights/bias/params), network,")
    print("and the code each matches")
    for p in _TABLE:
        o = p.options
        net = ", ".join(f"{k}={v}" for k, v in (("hidden", o.hidden), ("output", o.output), ("loss", o.loss),
                                                ("targets", o.targets), ("reduction", o.reduction),
                                                ("depth", o.depth), ("penalty", o.penalty_form)) if v is not None)
        alias = f"  (also: {', '.join(p.aliases)})" if p.aliases else ""
        print()
        print(f"  {p.name}  {o.describe_layout()}{alias}")
        for line in wrap(net or "any network", cols, indent="    "):
            print(line)
        for line in wrap(f"matches {p.matches}", cols, indent="    ", subsequent="      "):
            print(line)
    return 0
