"""One case through the implementation: the reference first, then the sandboxed call, then the comparison.

The outcome carries both sides in the user's layout, the comparison, any mutated input and the
implementation's output; a difference only at a kink that another subgradient explains is a note
(``crosscheck.sweep.triage.kink_note``), unless ``strict_kinks``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..diagnosis.container import container_diagnosis
from ..diagnosis.diagnose import Diagnosis, expected_user_arrays, user_arrays
from ..errors import ConventionError, ImplementationError
from ..model.case import Case
from ..sandbox.client import Sandbox
from .extras import check_extras, split_extras

__all__ = ["Outcome", "cover", "evaluate", "extra_diagnoses", "note_extras"]


@dataclass
class Outcome:
    case: Case
    passed: bool
    got_raw: Any
    expected: dict[str, np.ndarray]
    got: dict[str, np.ndarray]
    comparison: Any
    mutated: tuple[str, ...]
    output: str
    extras: list = field(default_factory=list)  # extras.ExtraCheck per dA{l} entry
    ignored: list = field(default_factory=list)  # other extra keys
    kink: dict | None = None  # the kink note when a kink convention explained the difference


def _kink_explained(case: Case, got_canonical: Any, dtype: str, who: str) -> dict | None:
    """The kink note when ``case`` has a pre-activation exactly on a kink and another
    subgradient there explains ``got`` (``triage.kink_note``, the sweep's test); else None."""
    from ..draws import on_kink
    from ..model.penalties import penalised_arrays
    from ..reference.forward import forward
    from ..sweep.triage import kink_note

    case64 = case.astype("float64")
    net = case.network
    stacked = tuple((W[None], None if b is None else b[None]) for W, b in case64.params)
    Z, _ = forward(net, stacked, case64.X[None])
    # a pre-activation on an activation's kink, or (L1 penalty) a penalised weight exactly at 0
    at_l1_kink = bool(net.l1) and any(np.any(a == 0) for a in penalised_arrays(net, case64.params))
    if not (bool(on_kink(net, Z)[0]) or at_l1_kink):
        return None
    return kink_note(who, case64, got_canonical, dtype=dtype)


def _reference(case: Case) -> tuple:
    from ..reference.recursive import gradients

    f = lambda a: None if a is None else np.asarray(a, dtype=np.float64)  # noqa: E731
    return gradients(case.network, tuple((f(W), f(b)) for W, b in case.params), f(case.X), f(case.Y))


def evaluate(sandbox: Sandbox, case: Case, dtype: str, strict_kinks: bool = False) -> Outcome:
    from ..compare import compare_gradients

    params, X, Y = case.user_inputs()
    spec = None
    if sandbox.accepts_spec:
        spec = {"network": case.network.to_dict(), "convention": case.convention.to_dict(), "dtype": dtype}
    expected_canonical = _reference(case)  # before the implementation runs on this case
    expected = expected_user_arrays(case, expected_canonical)
    result = sandbox.call(params, X, Y, spec=spec)
    # entries that are not parameters: dA{l} is checked, others are named in a note (extras.py)
    value, activations, ignored = split_extras(case.convention, case.network, result.value)
    try:
        got = user_arrays(case.convention, case.network, value)
    except ConventionError as e:
        if container_diagnosis(case, result.value) is not None:  # a named container slip: a wrong answer (exit 1)
            return Outcome(case, False, result.value, expected, {}, None, result.mutated, result.output)
        raise ImplementationError(f"the implementation returned something other than the declared gradients "
                                  f"({case.convention.describe()}): {e}", kind="bad_output",
                                  output=result.output) from None
    comparison = kink = None
    passed = all(got[p].shape == expected[p].shape for p in expected)
    if passed:
        got_canonical = case.convention.params_from_user(value, case.network, gradient=True)
        comparison = compare_gradients(expected_canonical, got_canonical, dtype=dtype)
        passed = comparison.passed
        if not passed and not strict_kinks and not result.mutated:
            kink = _kink_explained(case, got_canonical, dtype, sandbox.target.display)
            passed = kink is not None
    extras = check_extras(case, activations, dtype=dtype)
    for c in extras:
        expected[c.key], got[c.key] = c.expected, c.got
    passed = passed and all(c.passed for c in extras) and not result.mutated
    return Outcome(case, passed, value, expected, got, comparison, result.mutated, result.output, extras, ignored,
                    kink)


def note_extras(state: dict, outcome: Outcome) -> None:
    notes = state.setdefault("notes", set())
    if outcome.ignored:
        notes.add(f"ignored entries that are not parameters: {', '.join(outcome.ignored)}")
    checked = [c for c in outcome.extras if c.passed]
    if checked:
        scaling = {c.scaling for c in checked}.pop()
        how = ("dL/dA^l of the declared loss" if scaling == "reduced" else
               "the gradient of the summed per-sample losses (without the reduction's 1/m, as deeplearning.ai "
               "writes dA)")
        notes.add(f"checked activation gradients {', '.join(c.key for c in checked)} as {how}")


def extra_diagnoses(extras: list, comparison: Any, mutated: Any) -> list[Diagnosis]:
    """Wrong dA{l} entries named, when they are the only thing wrong (the parameters agree)."""
    wrong = [c for c in extras if not c.passed]
    if not wrong or mutated or comparison is None or not comparison.passed:
        return []
    return [Diagnosis("activation_gradient", c.key, c.layer, c.detail) for c in reversed(wrong)]


def cover(coverage: dict, case: Case) -> None:
    """What the examples that ran were made of (only those that completed)."""
    net = case.network
    penalty = (f"{net.penalty_form}{'+bias' if net.penalty_bias else ''}",) if net.has_penalty else ()
    for key, values in (("activations", net.activation_names()), ("losses", (net.loss,)),
                        ("reductions", (net.reduction,)), ("targets", (net.targets,)), ("penalties", penalty),
                        ("depths", (net.depth,)), ("batch sizes", (case.batch_size,))):
        coverage.setdefault(key, set()).update(values)
