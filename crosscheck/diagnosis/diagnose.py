"""Name the mistakes that explain what an implementation returned: ``diagnose(case, got)``.

The steps, each in its own module:

1. whole-array symptoms (``crosscheck.diagnosis.symptoms``): ``dtype``, ``returns_parameters``,
   ``unreached_layer``; ``mutates_inputs`` comes from the sandbox, ``stateful`` from the check;
2. candidates, each the gradient a program with one mistake would return: *mechanisms* in the
   delta recursion (``crosscheck.diagnosis.mistakes``: wrong or missing sigma', generated from the
   activation table by ``crosscheck.diagnosis.implied`` and solved per unit from the returned gradients,
   no transpose, a single sample, a kink convention) and other declarations
   (``crosscheck.diagnosis.alternatives``: ``loss``, ``regularization``);
3. the matcher (``crosscheck.diagnosis.matcher``): each candidate, or none, with the cheapest *slips* per
   parameter in the user's layout (transposed, reshaped, reordered, scaled, moved, unsummed
   bias), the simplest complete explanation first, ties to the catalogue's order; two
   mechanisms together when no single one explains everything.

Candidate gradients are canonical (``dW_l: (n_l, n_{l-1})``, ``delta_l: (n_l, m)``) and are
converted to the user's layout with the convention's exact conversions before matching.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConventionError
from ..model.case import Case
from .alternatives import loss_candidates, penalty_candidates
from .catalogue import CATALOGUE, Diagnosis, expected_user_arrays, masks, parameter_names, user_arrays
from .container import container_diagnosis, hardcoded_batch_size, swapped
from .locate import locate
from .matcher import (
    Explanation,
    Matcher,
    backprop_order,
    close,
    explain,
    layer_of,
    nice_factors,
    pairs,
    reduction_for_factor,
    sentences,
)
from .mistakes import Candidate, as_float64, backprop, candidates, implied_candidates
from .neighbourhood import exact_neighbours
from .operands import cached_operand, weight_gradient_terms
from .symptoms import dtype_symptoms, returned_parameters, unreached_layers

__all__ = ["CATALOGUE", "Diagnosis", "diagnose", "user_arrays", "expected_user_arrays", "backprop", "Candidate",
           "candidates"]


_INPUT_PATH = (
    (r"^params\[(\d+)\]\[0\]$", lambda m: f"W{int(m.group(1)) + 1}"),
    (r"^params\[(\d+)\]\[1\]$", lambda m: f"b{int(m.group(1)) + 1}"),
    (r"^params\[(\d+)\]$", lambda m: f"W{int(m.group(1)) + 1}"),
    (r"^params\['(\w+)'\]$", lambda m: m.group(1)),
)


def _input_label(path: str) -> tuple[str, int]:
    for pattern, name in _INPUT_PATH:
        match = re.match(pattern, path)
        if match:
            label = name(match)
            digits = "".join(ch for ch in label if ch.isdigit())
            return label, int(digits) if digits else 0
    return path, 0


def diagnose(case: Case, got_user_layout: Any, *, mutated: bool | Sequence[str] = False) -> list[Diagnosis]:
    """Name the mistakes that explain ``got_user_layout`` (what the implementation returned for
    ``case``, in its convention), most likely first.

    ``mutated``: True, or the inputs (sandbox paths such as ``"params[0][0]"``, ``"X"``) the
    implementation changed in place. Raises ``ConventionError`` if ``got_user_layout`` is not
    the declared container of finite arrays."""
    try:
        got = user_arrays(case.convention, case.network, got_user_layout)
    except ConventionError:
        found = container_diagnosis(case, got_user_layout)
        if found is None:
            raise
        return [Diagnosis(*found)]
    out: list[Diagnosis] = []
    if mutated:
        paths = [mutated] if isinstance(mutated, str) else (list(mutated) if not isinstance(mutated, bool) else [])
        labels = [_input_label(p) for p in paths] or [("the inputs", 0)]
        names = ", ".join(label for label, _ in labels)
        out.append(Diagnosis("mutates_inputs", labels[0][0], labels[0][1],
                             f"the implementation changed its inputs in place ({names}): computing gradients must "
                             "leave the caller's parameters and data as they were (copy before modifying, no "
                             "in-place updates such as W -= ...)"))
    params, X, Y = as_float64(case)
    net = case.network
    labels = [label for label, _, _ in parameter_names(net, case.convention)]
    dtype_found = [Diagnosis(*f) for f in dtype_symptoms(got_user_layout, labels, case.dtype)]
    out += dtype_found
    expected_grads, expected_deltas = backprop(net, params, X, Y)
    expected = expected_user_arrays(case, expected_grads)
    total = math.sqrt(sum(float(np.sum(a * a)) for a in expected.values()))
    tol = 2e-3 if case.dtype == np.float32 else 1e-6
    entry_masks = masks(case)
    floor = max(1e-3 * total, 1e-300)
    if dtype_found and all(got[p].shape == expected[p].shape and close(got[p], expected[p], tol, floor)
                           for p in expected):
        return out  # right up to the precision that came back: the dtype is the whole story
    given = user_arrays(case.convention, net, case.convention.params_to_user(params, net))
    step = returned_parameters(got, given, expected, entry_masks, tol)
    if step is not None:
        return out + [Diagnosis(*step)]
    swap = swapped(case, got_user_layout)
    if swap is not None:
        return out + [Diagnosis(*swap)]
    matcher = Matcher(case, got, entry_masks, tol, floor, nice_factors(case), expected_grads, expected_deltas)
    truncated = any(np.dtype(d.detail.split()[0]).kind in "iub" for d in dtype_found)
    if not truncated:  # truncation makes zeros too
        for found in unreached_layers(got, expected, entry_masks, floor):
            out.append(Diagnosis(*found))
            matcher.skip |= {p for p in expected if layer_of(p) <= found[2] and not np.any(got[p])}
    explanations = []
    base = explain(matcher, case, None, 0, None)
    if base is not None:
        explanations.append(base)
    order = {i: n for n, i in enumerate(CATALOGUE)}
    try:
        got_canonical = case.convention.params_from_user(got_user_layout, net, gradient=True)
    except (ConventionError, ValueError):
        got_canonical = None  # shapes off: no sigma' or penalty to solve for
    cands = candidates(case) + loss_candidates(case) + penalty_candidates(case, got_canonical)
    cands = sorted(cands, key=lambda c: order[c.id])
    if got_canonical is not None:
        cands += implied_candidates(case, got_canonical)
    for n, cand in enumerate(cands, start=1):
        e = explain(matcher, case, cand, n, expected)
        if e is not None:
            explanations.append(e)
    explanations.sort(key=Explanation.key)
    if explanations[0].unexplained:  # no one mechanism explains it all: two of them, at different layers?
        explanations += pairs(matcher, case, explanations, cands, expected)
        explanations.sort(key=Explanation.key)
    best = explanations[0]
    if best.unexplained and got_canonical is not None and not truncated:  # another declaration, exactly?
        exact = exact_neighbours(case, got_canonical)
        if exact:
            cost = exact[0].cost
            return out + [Diagnosis(n.id, "dW1", 1, n.sentence()) for n in exact if n.cost == cost]
    if best.candidate is None and best.cost == 0 and not best.unexplained:
        if not out:
            first = backprop_order(list(got))[0]
            out.append(Diagnosis("unknown", first, layer_of(first),
                                 "the gradients agree with the reference to about the matcher's precision "
                                 f"({tol:g}) but not within the comparison's tolerance: rounding, or a tiny error"))
        return out
    named = sentences(case, best, expected, got, matcher)
    named = _with_reduction(case, best, labels, named)
    # equally simple alternatives, after the best one; a shape slip only after every value-level name
    later: list[Diagnosis] = []
    for e in explanations[1:]:
        if e.key()[:2] != best.key()[:2]:
            break
        for d in sentences(case, e, expected, got, matcher):
            if d.id not in {x.id for x in named + later}:
                later.append(d)
    ordered = named + later
    ordered = [d for d in ordered if d.id != "shape"] + [d for d in ordered if d.id == "shape"]
    if got_canonical is not None and not best.unexplained and ordered and ordered[0].id in ("scale", "loss"):
        M = hardcoded_batch_size(case, got_canonical)
        if M is not None:
            ordered.insert(0, Diagnosis("batch_size", ordered[0].parameter, ordered[0].layer,
                                        f"every gradient is m/{M} = {case.batch_size}/{M} times the expected one: "
                                        f"your code divides by a hard-coded batch size {M} instead of m = X's number "
                                        "of samples"))
    unexplained = backprop_order(best.unexplained)
    if unexplained and not truncated:  # one ingredient of a weight gradient wrong, exactly?
        made = None if got_canonical is None else weight_gradient_terms(case, got_canonical, unexplained)
        made = made or cached_operand(case, got, unexplained, user_layout=True)
        if made is not None:
            ordered = [Diagnosis(*made)] + [d for d in ordered if d.id != made[0]]
            unexplained = [p for p in unexplained if p != made[1]]  # its values are explained now
            while made is not None and made[0] == "cached_activation":  # the same slip in other layers
                made = cached_operand(case, got, unexplained, user_layout=True)
                if made is not None:
                    ordered.insert(1, Diagnosis(*made))
                    unexplained = [p for p in unexplained if p != made[1]]
    out += [d for d in ordered if d.id not in {x.id for x in out}]
    if unexplained and got_canonical is not None and not truncated:  # the first quantity that departs
        where = locate(case, got_canonical)
        if where is not None:
            return out + [Diagnosis(*where)]
    for p in unexplained:
        if got[p].shape != expected[p].shape:
            out.append(Diagnosis("shape", p, layer_of(p), f"{p} has shape {got[p].shape}, expected "
                                 f"{expected[p].shape}, and no mistake in the catalogue explains its values"))
        elif truncated:
            continue  # integer arrays: the truncation is the explanation
        else:
            err = float(np.linalg.norm(got[p] - expected[p]))
            size = float(np.linalg.norm(expected[p]))
            what = (f"relative error {err / size:.3g}" if size > 0 else
                    f"absolute error {err:.3g}; the expected is all zero")
            out.append(Diagnosis("unknown", p, layer_of(p), f"{p} differs from the expected gradient ({what}) and no "
                                 "mistake in the catalogue explains it"))
    return out


def _with_reduction(case: Case, best: Explanation, labels: list[str], named: list[Diagnosis]) -> list[Diagnosis]:
    """A whole gradient off by the factor between two reductions is also the gradient of the other
    reduction: ``loss`` names it, first when the outputs are involved (mean_all), after ``scale`` otherwise."""
    chosen = best.chosen
    if best.candidate is not None or set(chosen) != set(labels) or not chosen:
        return named
    factors = {o.factor for o in chosen.values()}
    if len(factors) != 1 or any(o.transform != "identity" or o.moved or o.source != "grad" for o in chosen.values()):
        return named
    r = reduction_for_factor(case, factors.pop())
    if r is None:
        return named
    first = backprop_order(labels)[0]
    d = Diagnosis("loss", first, layer_of(first), f"this is the gradient of --reduction {r} (declared: "
                  f"--reduction {case.network.reduction}); if {r} is what you mean, declare it")
    if "mean_all" in (r, case.network.reduction):
        return [d] + named
    return named + [d]
