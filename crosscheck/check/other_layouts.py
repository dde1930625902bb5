"""After a failure under a declared convention: does the code follow another layout?

The same network and values are handed to the implementation in each convention one or more fields
away from the declared one (batch x weights x bias x container; the bias kept present or absent as
declared), fewest changes first. A convention under which it returns the reference gradients on the
failing case and on a second draw is the diagnosis ``convention``: "your code behaves like
rows/in_out/vector/dict; you declared columns/in_out/vector/dict". Nothing here compares values
itself: ``evaluate`` is the check's own (sandboxed call, reference, comparison).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..draws import draw
from ..errors import ImplementationError
from ..model.case import Case
from ..model.conventions import BATCH, BIAS, PARAMS, WEIGHTS, Convention

__all__ = ["probe_conventions", "convention_sentence"]

_FIELDS = ("batch", "weights", "bias", "params")


def _alternatives(declared: Convention) -> list[Convention]:
    biases = [b for b in BIAS if (b != "none") == declared.has_bias and (b == "augmented") == declared.augmented]
    out = []
    for batch in BATCH:
        for weights in WEIGHTS:
            for bias in biases:
                for params in PARAMS:
                    c = Convention(batch, weights, bias, params)
                    if c != declared:
                        out.append(c)
    changed = lambda c: sum(getattr(c, f) != getattr(declared, f) for f in ("batch", "weights", "bias", "params"))  # noqa: E731
    return sorted(out, key=changed)


def _in(case: Case, conv: Convention, seed: int) -> Case | None:
    """``case``'s network and values in ``conv`` (one sample re-drawn for ``single``)."""
    try:
        if conv.batch == "single" and case.batch_size != 1:
            params, X, Y = draw(case.network, seed, batch_size=1).one(0)
            return Case(case.network, conv, params, X, Y)
        return Case(case.network, conv, case.params, case.X, case.Y)
    except (ValueError, TypeError):
        return None


def probe_conventions(case: Case, evaluate: Callable[[Case], Any], *, seed: int = 0,
                      budget: int = 48, fields: int = 4) -> Convention | None:
    """The convention, other than ``case``'s and at most ``fields`` fields from it, under which
    ``evaluate(case)`` passes on two draws; else None."""
    tried = 0
    declared = case.convention
    for conv in _alternatives(declared):
        if sum(getattr(conv, f) != getattr(declared, f) for f in _FIELDS) > fields:
            break  # sorted by the number of changed fields
        if tried >= budget:
            break
        c = _in(case, conv, seed)
        if c is None:
            continue
        tried += 1
        try:
            if not evaluate(c).passed:
                continue
        except ImplementationError as e:
            if e.kind not in ("raised", "bad_output"):
                return None  # a hang or crash: probing on would repeat it in every layout
            continue
        try:
            params, X, Y = draw(case.network, seed + 7, batch_size=1 if conv.batch == "single" else
                                max(case.batch_size, 3)).one(0)
            if evaluate(Case(case.network, conv, params, X, Y)).passed:
                return conv
        except Exception:  # noqa: BLE001 - the implementation failed to run in this layout: not it
            continue
    return None


def convention_sentence(declared: Convention, found: Convention) -> str:
    flags = " ".join(f"--{f} {getattr(found, f)}" for f in ("batch", "weights", "bias", "params")
                     if getattr(found, f) != getattr(declared, f))
    return (f"your code behaves like {found.describe()}; you declared {declared.describe()}: it returns the "
            f"reference gradients when called in that layout ({flags})")
