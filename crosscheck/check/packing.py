"""Parent side of the edge layouts: what the worker's ``packed_function`` is told, checked here first.

A function may take its parameters in a layout of its own and be called with a signature of its own,
as Andrew Ng's ex4 ``nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y,
lambda_) -> (J, grad)`` is: one unrolled vector (``--params flat``, ``--flat-order C|F``) of Thetas
carrying the bias as their first column (``--bias first-column``), positional sizes and lambda
(``--args``), labels counted from 1 in Octave (``--label-base 1``), a ``(J, grad)`` return
(``--returns loss,grads``). These are ways into the case, at the edge: the check runs in the convention
``CheckOptions.convention()`` maps them to (pairs, a vector bias), and the worker packs the parameters
and unpacks the gradients (``crosscheck.sandbox.adapters``), so the reference, the comparison and the
diagnosis see a layout they know. Raises ``UsageError`` for declarations no call can satisfy.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..model.presets import CheckOptions

__all__ = ["TOKENS", "pack_spec", "pack_flags", "parse_list", "other_packs", "probe_packs"]

# what --args may name: the parameters, the data, the class of each sample, the sizes, lambda
TOKENS = {"params": "the parameters (a flat vector with --params flat)", "X": "the inputs",
          "Y": "the targets as declared by --targets", "y": "the class of each sample, from --label-base",
          "y_column": "y as an (m, 1) column, as Octave's and loadmat's y",
          "n_in": "the input width", "n_hidden": "the hidden width (one hidden layer)", "n_out": "the output width",
          "m": "the batch size", "l2": "lambda, the --l2 value"}


def parse_list(value: Any) -> tuple[str, ...]:
    """``"a,b"`` or a list -> a tuple of stripped names (None -> ())."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(v).strip() for v in items if str(v).strip())


def pack_spec(options: CheckOptions, *, args: Any = None, returns: Any = None, label_base: Any = None
              ) -> dict | None:
    """The worker's ``pack`` for a function target, or None when the function is plain ``fn(params, X, Y)``."""
    tokens, rets = parse_list(args), parse_list(returns)
    if label_base is not None and (isinstance(label_base, bool) or not isinstance(label_base, int)
                                   or label_base < 0):
        raise UsageError(f"--label-base must be an integer >= 0 (0 for Python, 1 for Octave's labels); got "
                         f"{label_base!r}")
    if not (options.packed or tokens or rets or label_base):
        return None
    unknown = [t for t in tokens if t not in TOKENS]
    if unknown:
        raise UsageError(f"--args: unknown {', '.join(map(repr, unknown))}; each argument is one of "
                         + "; ".join(f"{k} ({v})" for k, v in TOKENS.items()))
    if tokens and "params" not in tokens:
        raise UsageError(f"--args {','.join(tokens)} names no 'params' (where the parameters go)")
    if rets and "grads" not in rets:
        raise UsageError(f"--returns {','.join(rets)} names no 'grads' entry (e.g. --returns loss,grads)")
    if {"y", "y_column"} & set(tokens) and options.targets not in ("onehot", "labels"):
        raise UsageError("--args y passes the class of each sample: declare --targets onehot (or labels)")
    if "n_hidden" in tokens and options.depth != 2:
        raise UsageError("--args n_hidden passes the one hidden layer's width: declare --depth 2")
    if options.bias == "first_column" and options.params == "dict":
        raise UsageError("--bias first_column lays each layer out as one Theta: use --params pairs (a list of "
                         "Thetas) or --params flat")
    return {"flat": options.params == "flat", "order": options.flat_order or "C",
            "bias_first": options.bias == "first_column", "weights": options.convention().weights,
            "rows": options.convention().batch == "rows", "args": list(tokens), "returns": list(rets),
            "label_base": int(label_base or 0), "l2": float(options.l2 or 0.0)}


def pack_flags(pack: dict | None) -> list[str]:
    """The flags a ``pack`` adds to a reproduction command (the layout's own are ``CheckOptions.cli_flags``)."""
    if not pack:
        return []
    out: list[str] = []
    if pack["args"]:
        out += ["--args", ",".join(pack["args"])]
    if pack["returns"]:
        out += ["--returns", ",".join(pack["returns"])]
    if pack["label_base"]:
        out += ["--label-base", str(pack["label_base"])]
    return out


def other_packs(pack: dict, targets: str | None) -> list[tuple[dict, str]]:
    """The declarations a function with a failing pack may follow instead, each with the flags that say so:
    the other unrolling order of a flat vector, the other label base, and both."""
    orders = [pack["order"]] + ([{"C": "F", "F": "C"}[pack["order"]]] if pack["flat"] else [])
    # the two bases code uses (Python's 0, Octave's 1), whichever was declared
    bases = [pack["label_base"]] + ([b for b in (0, 1) if b != pack["label_base"]]
                                    if targets in ("onehot", "labels") else [])
    out = []
    for order in orders:
        for base in bases:
            if (order, base) == (pack["order"], pack["label_base"]):
                continue
            words, flags = [], []
            if order != pack["order"]:
                how = "column (F, Octave's)" if order == "F" else "row (C, NumPy's)"
                words.append(f"unrolls the parameter vector in {how} order")
                flags.append(f"--flat-order {order}")
            if base != pack["label_base"]:
                words.append(f"counts the class labels from {base}")
                flags.append(f"--label-base {base}")
            out.append((dict(pack, order=order, label_base=base),
                        f"your code {' and '.join(words)}: declare {' '.join(flags)}"))
    return out


def probe_packs(pack: dict | None, targets: str | None, passes: Any) -> str | None:
    """The first of ``other_packs`` under which ``passes(pack)`` holds (the failing case re-run with it), as
    its sentence; None when none does."""
    if not pack:
        return None
    for other, sentence in other_packs(pack, targets):
        try:
            if passes(other):
                return sentence
        except Exception:  # noqa: BLE001 - it fails under this declaration too: try the next
            continue
    return None
