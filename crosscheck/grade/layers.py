"""Layer checks (a ``[[check]]`` with ``api``): one part per layer, graded by ``crosscheck.layers``.

The layers to grade come from the config (``layers = [...]``, or the one layer of
``target = "layers.py:batchnorm_backward"``), else every layer of the API, so the parts never
depend on what the submission happens to define: a layer it lacks is a part that scores 0.
All layers of a check run in one ``check_layers`` call: one worker, restarted after any layer
that raises, hangs or crashes, so the next layer is still graded.
"""

from __future__ import annotations

import os

from ..errors import UsageError
from .parts import Part
from .results import FORBIDDEN, set_error
from .spec import CheckSpec

__all__ = ["layer_names", "layer_parts", "validate_layer_check", "grade_layers"]


def layer_names(spec: CheckSpec) -> list[str]:
    """The layers a layer check grades, in order; raises ``UsageError`` naming a bad value."""
    from ..layers.api import ALIASES, LAYER_NAMES, LAYERS, layer_for_function

    if spec.options.get("api") == "module":  # layer classes (nnfs, Module/Sequential), by class name
        from ..layers.target import select_layers

        chosen = spec.options.get("layers")
        if chosen is not None and len(set(chosen)) != len(chosen):
            raise UsageError(f"a layer class is listed twice in {list(chosen)}")
        return select_layers(None if chosen is None else list(chosen), spec.attr, "module")
    if spec.attr:
        name = layer_for_function(spec.attr)
        if name is None:
            raise UsageError(f"{spec.attr!r} is not a function of the {spec.options['api']} layer API")
        return [name]
    chosen = spec.options.get("layers")
    if chosen is None:
        return list(LAYER_NAMES)
    out = []
    for name in chosen:
        key = ALIASES.get(name, name)
        if key not in LAYERS:
            raise UsageError(f"unknown layer {name!r}; choose from {', '.join(LAYER_NAMES)}")
        if key in out:
            raise UsageError(f"layer {name!r} is listed twice")
        out.append(key)
    return out


def validate_layer_check(spec: CheckSpec) -> tuple[str, str] | None:
    """(key, message) for the first bad layer option, or None."""
    from ..layers.target import APIS, DROPOUT_P

    o = spec.options
    if o["api"] not in APIS:
        return "api", f"unknown api {o['api']!r}; choose from {', '.join(APIS)}"
    if o.get("dropout_p") is not None and o["dropout_p"] not in DROPOUT_P:
        return "dropout_p", f"must be one of {', '.join(DROPOUT_P)} (p as the keep or the drop probability)"
    if spec.attr and o.get("layers") is not None:
        return "layers", "give one function in 'target' (layers.py:name) or 'layers', not both"
    try:
        layer_names(spec)
    except UsageError as e:
        return ("target" if spec.attr else "layers"), str(e)
    return None


def layer_parts(spec: CheckSpec) -> list[Part]:
    return [Part(name, {"layer": name}) for name in layer_names(spec)]


def _text(report, verdict, paths) -> str:
    """One layer's part of the layer report: the diagnosis, the minimal case, the reproduce line."""
    from ..layers.report import LayersReport

    if verdict.verdict == "pass":
        return (f"PASS: {verdict.name} ({', '.join(verdict.functions)}) matched the reference on all "
                f"{verdict.examples} examples\nrun it yourself: {paths.rel(verdict.reproduce)}")
    if verdict.verdict == "missing":
        return f"MISSING: {paths.rel(verdict.detail)}"
    one = LayersReport(report.target, report.api, [verdict], report.dtype, report.seed, report.dropout_p)
    lines = "\n".join(one.lines()).splitlines()  # unwrapped (a JSON field)
    # drop the header (the whole module's) and the closing counts line (it carries a timing)
    body = [ln for ln in lines[1:-1]]
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    return paths.rel("\n".join(body))


def grade_layers(spec: CheckSpec, paths, parts: list) -> None:
    """Fill ``parts`` (one ``PartResult`` per layer, in ``layer_names`` order)."""
    from ..layers import check_layers

    names = layer_names(spec)
    if not os.path.isfile(paths.abs(spec.path)):
        for p in parts:
            set_error(p, "missing", f"the submission has no file {spec.path} (expected at the top of the "
                       "submission, as the assignment names it)")
            p.verdict = "missing"
        return
    o = spec.options
    target = paths.abs(spec.path) + (f":{spec.attr}" if spec.attr else "")
    kw = {k: o[k] for k in ("examples", "seed", "timeout", "memory", "dtype", "profile")}
    kw["budget"] = o.get("budget")
    kw["forbid_imports"] = list(o["forbid_imports"])
    try:
        report = check_layers(target, api=o["api"], layers=None if spec.attr else names,
                              dropout_p=o.get("dropout_p") or "keep", grads=o.get("grads"), **kw)
    except UsageError as e:
        for p in parts:
            set_error(p, "usage", paths.rel(str(e)))
        return
    by_name = {v.name: v for v in report.layers}
    for name, p in zip(names, parts):
        v = by_name.get(name)
        if v is None:  # pragma: no cover - check_layers reports every layer it was given
            set_error(p, "internal", f"crosscheck reported no verdict for layer {name}; tell your instructor")
            continue
        p.reproduce = paths.rel(v.reproduce)
        p.diagnosis = [dict(d) for d in v.diagnosis]
        p.output = _text(report, v, paths)
        if v.verdict == "pass":
            p.verdict = "pass"
        elif v.verdict == "fail":
            p.verdict = "fail"
            d = v.diagnosis[0] if v.diagnosis else None
            p.reason = f"{d['id']} at {d['parameter']}: {d['detail']}" if d else "wrong values"
        elif v.verdict == "missing":
            p.verdict, p.error_kind, p.reason = "missing", "missing", paths.rel(v.detail)
        else:
            detail = paths.rel(v.detail)
            m = FORBIDDEN.search(detail)
            kind = detail[1:].partition("]")[0] if detail.startswith("[") else "error"
            p.verdict, p.error_kind = "error", "forbidden_import" if m else kind
            p.reason = f"forbidden import: {m.group(1)}" if m else detail.splitlines()[0]
