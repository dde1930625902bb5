"""The layout debugger: ``crosscheck shapes``.

For one convention and one set of widths, every quantity of the forward and backward pass
(X, W_l, b_l, Z_l, A_l, delta_l, dW_l, db_l) with its shape, and each formula written in that
convention's order, both as mathematics and as the NumPy line that computes it in the
user's own layout (rows: ``dW_l = A_{l-1}^T delta_l``; columns: ``dW_l = delta_l A_{l-1}^T``;
in_out transposes; the bias reduction follows the bias layout; augmented carries the bias
in W). The NumPy lines are executed by the tests against the reference, so what is
printed is what works.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from .errors import UsageError
from .model.conventions import Convention
from .model.network import Network

__all__ = ["Step", "layout_steps", "format_layout", "format_targets_and_penalty", "run_from_args", "parse_widths",
           "packing_steps", "format_packing"]


@dataclass(frozen=True)
class Step:
    """One quantity: ``name`` (``"dW2"``), its ``shape`` in the user's layout, the ``math``
    formula, the NumPy ``code`` (statements run in order; see ``layout_steps``) and a ``note``."""

    phase: str  # "input", "parameter", "forward", "backward"
    name: str
    shape: tuple[int, ...]
    math: str
    code: str
    note: str = ""


def _sub(n: int) -> str:
    return "".join("₀₁₂₃₄₅₆₇₈₉"[int(d)] for d in str(n))


def layout_steps(convention: Convention, widths: tuple[int, ...], batch_size: int) -> list[Step]:
    """The steps of one forward and backward pass in ``convention``.

    The code runs in a namespace holding ``params`` (the user's container), ``X``, ``sigma{l}``
    and ``sigma_prime{l}`` (elementwise), and ``dL_dA(A)``, the loss gradient with respect to
    the output in the user's batch orientation (the 1/m of a mean included)."""
    c = convention
    net = Network(tuple(widths), ("identity",) * (len(widths) - 1), bias=c.has_bias)
    k = net.depth
    m = 1 if c.batch == "single" else batch_size
    rows = c.batch == "rows"
    out_in = c.weights == "out_in"
    aug = c.augmented

    def width(layer: int) -> int:  # neurons of layer l in the user's arrays (plus the formal one)
        return widths[layer] + (1 if aug and layer < k else 0)

    def act_shape(layer: int) -> tuple[int, int]:
        return (m, width(layer)) if rows else (width(layer), m)

    steps: list[Step] = []
    x_note = {"rows": "one sample per row", "columns": "one sample per column",
              "single": "one sample, a column"}[c.batch]
    if aug:
        x_note += ", with a constant 1 appended (seed 000 section 3)"
    steps.append(Step("input", "X", act_shape(0), "A" + _sub(0) + " = X", "A0 = X", x_note))
    for layer in range(1, k + 1):
        if c.params == "dict":
            w_code, b_code = f"W{layer} = params['W{layer}']", f"b{layer} = params['b{layer}']"
        elif c.has_bias and not aug:
            w_code, b_code = f"W{layer}, b{layer} = params[{layer - 1}]", ""
        else:
            w_code, b_code = f"W{layer} = params[{layer - 1}]", ""
        w_note = "(n_out, n_in)" if out_in else "(n_in, n_out)"
        if aug:
            w_note += ": the bias is its last " + ("column" if out_in else "row")
            if layer < k:
                w_note += "; the fixed " + ("last row" if out_in else "last column") + " [0 ... 0 1] is not a parameter"
        steps.append(Step("parameter", f"W{layer}", c.user_weight_shape(net, layer), "", w_code, w_note))
        if c.has_bias and not aug:
            steps.append(Step("parameter", f"b{layer}", c.user_bias_shape(net, layer), "", b_code,
                              {"vector": "a vector", "column": "a column", "row": "a row"}[c.bias]))
    for layer in range(1, k + 1):
        prev, L = layer - 1, layer
        W = f"W{L}" if (out_in != rows) else f"W{L}.T"
        Wm = f"W{_sub(L)}" + ("" if out_in != rows else "ᵀ")
        if rows:
            prod, prod_m = f"A{prev} @ {W}", f"A{_sub(prev)}·{Wm}"
        else:
            prod, prod_m = f"{W} @ A{prev}", f"{Wm}·A{_sub(prev)}"
        bias, bias_m = "", ""
        if c.has_bias and not aug:
            bias = {("rows", "vector"): f" + b{L}", ("rows", "row"): f" + b{L}", ("rows", "column"): f" + b{L}.T",
                    ("cols", "vector"): f" + b{L}[:, None]", ("cols", "column"): f" + b{L}",
                    ("cols", "row"): f" + b{L}.T"}[("rows" if rows else "cols", c.bias)]
            bias_m = f" + b{_sub(L)}" + ("ᵀ" if bias.endswith(".T") else "")
        steps.append(Step("forward", f"Z{L}", act_shape(L), f"Z{_sub(L)} = {prod_m}{bias_m}", f"Z{L} = {prod}{bias}"))
        code = f"A{L} = sigma{L}(Z{L})"
        note = "the output" if L == k else ""
        if aug and L < k:
            code += f"; A{L}[{':, -1' if rows else '-1, :'}] = 1"
            note = "the formal last neuron stays 1 (identity on the constant)"
        steps.append(Step("forward", f"A{L}", act_shape(L), f"A{_sub(L)} = σ{_sub(L)}(Z{_sub(L)})", code, note))
    for layer in range(k, 0, -1):
        L, prev = layer, layer - 1
        if L == k:
            d_code = f"D{L} = dL_dA(A{L}) * sigma_prime{L}(Z{L})"
            d_math = f"δ{_sub(L)} = ∂L/∂A{_sub(L)} ⊙ σ′{_sub(L)}(Z{_sub(L)})"
            d_note = "∂L/∂A includes the 1/m of a mean"
        else:
            nxt = L + 1
            if rows:
                W = f"W{nxt}" if out_in else f"W{nxt}.T"
                back, back_m = f"D{nxt} @ {W}", f"δ{_sub(nxt)}·W{_sub(nxt)}" + ("" if out_in else "ᵀ")
            else:
                W = f"W{nxt}.T" if out_in else f"W{nxt}"
                back, back_m = f"{W} @ D{nxt}", f"W{_sub(nxt)}" + ("ᵀ" if out_in else "") + f"·δ{_sub(nxt)}"
            d_code = f"D{L} = ({back}) * sigma_prime{L}(Z{L})"
            d_math = f"δ{_sub(L)} = ({back_m}) ⊙ σ′{_sub(L)}(Z{_sub(L)})"
            d_note = ""
            if aug:
                d_code += f"; D{L}[{':, -1' if rows else '-1, :'}] = 0"
                d_note = "the formal neuron carries no gradient"
        steps.append(Step("backward", f"δ{L}", act_shape(L), d_math, d_code, d_note))
        if rows:
            g, g_m = (f"D{L}.T @ A{prev}", f"δ{_sub(L)}ᵀ·A{_sub(prev)}") if out_in else \
                (f"A{prev}.T @ D{L}", f"A{_sub(prev)}ᵀ·δ{_sub(L)}")
        else:
            g, g_m = (f"D{L} @ A{prev}.T", f"δ{_sub(L)}·A{_sub(prev)}ᵀ") if out_in else \
                (f"A{prev} @ D{L}.T", f"A{_sub(prev)}·δ{_sub(L)}ᵀ")
        steps.append(Step("backward", f"dW{L}", c.user_weight_shape(net, L), f"dW{_sub(L)} = {g_m}",
                          f"dW{L} = {g}", "the last column is the bias gradient" if aug else ""))
        if c.has_bias and not aug:
            axis = 0 if rows else 1
            tail = {("rows", "vector"): "", ("rows", "row"): "", ("rows", "column"): "[:, None]",
                    ("cols", "vector"): "", ("cols", "column"): "", ("cols", "row"): "[None, :]"}[
                ("rows" if rows else "cols", c.bias)]
            keep = ", keepdims=True" if (rows and c.bias == "row") or (not rows and c.bias == "column") else ""
            what = "rows" if rows else "columns"
            steps.append(Step("backward", f"db{L}", c.user_bias_shape(net, L),
                              f"db{_sub(L)} = Σ over the {what} (samples) of δ{_sub(L)}",
                              f"db{L} = D{L}.sum(axis={axis}{keep}){tail}"))
    return steps


def format_layout(convention: Convention, widths: tuple[int, ...], batch_size: int) -> str:
    c = convention
    m = 1 if c.batch == "single" else batch_size
    steps = layout_steps(c, widths, batch_size)
    head = (f"convention {c.describe()}: widths {'-'.join(map(str, widths))} ({widths[0]} inputs, "
            f"{len(widths) - 1} layers), batch m = {m}")
    lines = [head]
    if c.batch == "single" and batch_size != 1:
        lines.append("(batch layout 'single' holds one sample, so m = 1)")
    titles = {"input": "input", "parameter": "parameters", "forward": "forward pass",
              "backward": "backward pass (δ is D in the code)"}
    name_w = max(len(s.name) for s in steps)
    shape_w = max(len(str(s.shape)) for s in steps)
    math_w = max(len(s.math) for s in steps)
    phase = None
    for s in steps:
        if s.phase != phase:
            phase = s.phase
            lines.append("")
            lines.append(titles[phase])
        note = f"   # {s.note}" if s.note else ""
        lines.append(f"  {s.name:<{name_w}}  {str(s.shape):<{shape_w}}  {s.math:<{math_w}}  {s.code}{note}")
    return "\n".join(lines)


def format_targets_and_penalty(options: Any, widths: tuple[int, ...], batch_size: int) -> str:
    """The targets' shape for the declared form, and the penalty's term in every dW (and db)."""
    c = options.convention()
    m = 1 if c.batch == "single" else batch_size
    n_out, rows = widths[-1], c.batch == "rows"
    targets = options.targets or "soft"
    shape = (m,) if targets == "labels" else ((m, n_out) if rows else (n_out, m))
    what = {"soft": "real targets (probability " + ("rows" if rows else "columns") + " for softmax_ce)",
            "onehot": "one 1 per sample", "binary": "entries 0 or 1 (bce)",
            "labels": "one integer class per sample, 0 .. n_out - 1, in every layout (softmax_ce)"}[targets]
    lines = ["", f"targets ({targets})", f"  Y    {shape}  {what}"]
    l2, l1 = options.l2 or 0.0, options.l1 or 0.0
    if l2 or l1:
        from .model.penalties import PENALTY_FORMS

        form = options.penalty_form or "half"
        c_text = {"half": "1/2", "full": "1", "half_over_m": f"1/(2m) = 1/{2 * m}", "over_m": f"1/m = 1/{m}"}[form]
        terms = " + ".join(t for t in (f"{2 * l2:g} W" if l2 else "", f"{l1:g} sign(W)" if l1 else "") if t)
        who = "dW_l and db_l" if options.penalty_bias else "dW_l (biases not penalised)"
        lines += ["", f"penalty ({form}: {PENALTY_FORMS[form][1]} of l2 Σw² + l1 Σ|w|)",
                  f"  every {who} gains c(m) ({terms}), c(m) = {c_text}; sign(0) = 0"]
    return "\n" + "\n".join(lines)


def format_extras(convention: Any, widths: tuple[int, ...], batch_size: int) -> str:
    """The entries a dict of gradients may add, checked when present (``crosscheck.check.extras``)."""
    if convention.params != "dict":
        return ""
    m = 1 if convention.batch == "single" else batch_size
    rows = convention.batch == "rows"
    shape = lambda n: (m, n) if rows else (n, m)  # noqa: E731
    lines = ["", "optional entries of the returned dict (checked when present)",
             f"  dX   {shape(widths[0])}  ∂L/∂X, the gradient with respect to the input (also dx, dA0)"]
    lines += [f"  dA{layer:<2} {shape(n)}  ∂L/∂A{_sub(layer)}" for layer, n in enumerate(widths[1:], start=1)]
    return "\n" + "\n".join(lines)


def packing_steps(options: Any, widths: tuple[int, ...]) -> list[Step]:
    """How the parameters cross to code that takes them packed (``--bias first_column``, ``--params flat``):
    each step's ``code`` runs after ``layout_steps``' parameter lines (W1, b1, ...) and builds the user's
    arrays from them; the gradients come back the same way. Empty for the other layouts."""
    if not options.packed:
        return []
    c = options.convention()
    k, out_in = len(widths) - 1, c.weights == "out_in"
    first, flat = options.bias == "first_column", options.params == "flat"
    order = options.flat_order or "C"
    steps, names, offset = [], [], 0
    for layer in range(1, k + 1):
        shape = (widths[layer], widths[layer - 1] + 1) if out_in else (widths[layer - 1] + 1, widths[layer])
        if first and c.has_bias:
            code = (f"Theta{layer} = np.concatenate([b{layer}[:, None], W{layer}], axis=1)" if out_in else
                    f"Theta{layer} = np.concatenate([b{layer}[None, :], W{layer}], axis=0)")
            where = "column" if out_in else "row"
            steps.append(Step("packed", f"Theta{layer}", shape, f"Θ{_sub(layer)} = [b{_sub(layer)} | W{_sub(layer)}]",
                              code, f"the bias is its first {where}: W{layer} = Theta{layer}"
                              + (f"[:, 1:], b{layer} = Theta{layer}[:, 0]" if out_in else
                                 f"[1:, :], b{layer} = Theta{layer}[0, :]")))
            names.append((f"Theta{layer}", shape))
        else:
            names.append((f"W{layer}", c.user_weight_shape(Network(tuple(widths), ("identity",) * k), layer)))
            if c.has_bias:
                names.append((f"b{layer}", (widths[layer],)))
    if flat:
        parts, spans = [], []
        for name, shape in names:
            size = 1
            for d in shape:
                size *= d
            parts.append(f"{name}.ravel(order={order!r})")
            spans.append(f"{name} = params[{offset}:{offset + size}]")
            offset += size
        steps.append(Step("packed", "params", (offset,), "the arrays unrolled, layer after layer",
                          f"params = np.concatenate([{', '.join(parts)}])",
                          f"{'row' if order == 'C' else 'column'} order ({order}); " + ", ".join(spans)))
        steps.append(Step("packed", "grad", (offset,), "∂L/∂params, unrolled the same way", "",
                          "" if not first else "dTheta_l = [db_l | dW_l]"))
    else:
        steps.append(Step("packed", "params", (len(names),), "a list of the Thetas",
                          f"params = [{', '.join(n for n, _ in names)}]", "gradients: the list of dTheta_l = "
                          "[db_l | dW_l]"))
    return steps


def format_packing(options: Any, widths: tuple[int, ...]) -> str:
    """The ``packed`` steps as ``format_layout`` prints its own (empty for the other layouts)."""
    steps = packing_steps(options, widths)
    if not steps:
        return ""
    name_w = max(len(s.name) for s in steps)
    shape_w = max(len(str(s.shape)) for s in steps)
    lines = ["", f"as your code takes them ({options.describe_layout()})"]
    for s in steps:
        note = f"   # {s.note}" if s.note else ""
        lines.append(f"  {s.name:<{name_w}}  {str(s.shape):<{shape_w}}  {s.code or s.math}{note}")
    return "\n" + "\n".join(lines)


def parse_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise UsageError(f"--widths must be comma-separated integers such as 2,3,2; got {text!r}") from None
    if len(widths) < 2 or any(w < 1 for w in widths):
        raise UsageError(f"--widths needs an input width and at least one layer, each >= 1; got {text!r}")
    return widths


_ASCII = str.maketrans({"ᵀ": "^T", "δ": "delta", "σ": "sigma", "′": "'", "⊙": " o ", "·": " ", "∂": "d",
                        "Σ": "sum", **{ch: str(i) for i, ch in enumerate("₀₁₂₃₄₅₆₇₈₉")}})


def run_from_args(args: Any) -> int:
    """``crosscheck shapes [--preset P] [--batch ...] --widths 2,3,2 --batch-size 4``."""
    from .model.presets import resolve_options

    # shapes takes no --loss: a target form implies the loss that reads it
    implied = {"labels": "softmax_ce", "onehot": "softmax_ce", "binary": "bce"}.get(args.targets or "")
    preset_loss = resolve_options(args.preset).loss
    options = resolve_options(args.preset, batch=args.batch, weights=args.weights, bias=args.bias,
                              params=args.params, loss=None if preset_loss else implied, targets=args.targets,
                              l2=args.l2, l1=args.l1, flat_order=args.flat_order,
                              penalty_form=args.penalty_form, penalty_bias=args.penalty_bias)
    widths = parse_widths(args.widths)
    text = format_layout(options.convention(), widths, args.batch_size)
    if options.packed:  # computed unpacked; the packing is printed at the end
        head, _, rest = text.partition("\n")
        text = (head.replace(options.convention().describe(), f"{options.describe_layout()} (computed as "
                             f"{options.convention().describe()}, packed at the end)", 1) + "\n" + rest)
    text += format_targets_and_penalty(options, widths, args.batch_size)
    text += format_extras(options.convention(), widths, args.batch_size)
    text += format_packing(options, widths)
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        text = text.translate(_ASCII)
    print(text)
    return 0
