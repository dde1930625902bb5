"""The audit's faces: a terminal table, JSON, and the README's markdown table.

Rows that differ are grouped: one line per (function, aspect, conventions), with the points and
dtypes where it shows, so gelu's many differing points read as one line with its fix.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from .. import terminal
from ..output import stamp
from .results import AuditResult, DefaultRow, Row

__all__ = ["groups", "format_table", "format_markdown", "to_json", "jsonable", "summary_line"]


def jsonable(v: Any) -> Any:
    """Floats, arrays and nested lists as JSON values; nan and inf as the strings "nan", "inf", "-inf"."""
    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, np.ndarray) or isinstance(v, np.generic):
        return jsonable(np.asarray(v).tolist())
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return str(v)


def _num(v: Any, width: int = 28, digits: int = 6) -> str:
    if v is None:
        return "-"
    if isinstance(v, (str, bool)):
        v = str(v)
        return v if len(v) <= width else v[: width - 3] + "..."
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        return f"{float(a):.{digits}g}"
    text = "[" + ", ".join(f"{x:.{max(4, digits - 2)}g}" for x in a.ravel()) + "]"
    return text if len(text) <= width else text[: width - 4] + "...]"


def _cells(g: dict, width: int = 28) -> list[str]:
    """torch, jax and reference with enough digits that answers which differ read differently."""
    values = [g["torch"], g["jax"], g["reference"]]
    for digits in (6, 9, 12, 17):
        cells = [_num(v, width, digits) for v in values]
        if g["status"] == "agree" or len(set(cells)) > 1:
            return cells
    return cells


def groups(result: AuditResult, *, include_agree: bool = False) -> list[dict]:
    """Rows grouped for display: function, aspect text, representative answers, status, fixes."""
    out: dict[tuple, dict] = {}
    for r in result.rows:
        if r.status == "agree" and not include_agree:
            continue
        key = (r.function, r.aspect, r.point if r.status != "agree" else r.point + r.inputs,
               tuple(r.conventions), r.status)
        g = out.get(key)
        if g is None:
            out[key] = g = {"row": r, "dtypes": [], "inputs": []}
        if r.dtype not in g["dtypes"]:
            g["dtypes"].append(r.dtype)
        if r.inputs not in g["inputs"]:
            g["inputs"].append(r.inputs)
        if r.dtype == "float64":  # float64 shows a convention most clearly
            g["row"] = r
    lines = []
    for g in out.values():
        r: Row = g["row"]
        where = r.point + (f" {g['inputs'][0]}" if len(g["inputs"]) == 1 and len(g["inputs"][0]) < 24 else "")
        n = len(g["inputs"]) - 1
        more = f" (+{n} point{'s' if n > 1 else ''})" if n else ""
        lines.append({"function": r.function, "spelling": f"{r.torch_expr} vs {r.jax_expr}",
                      "aspect": f"{r.aspect} at {where}{more} ({', '.join(g['dtypes'])})",
                      "torch": r.torch, "jax": r.jax, "reference": r.reference, "status": r.status,
                      "conventions": list(r.conventions), "detail": r.detail})
    for d in result.defaults:
        if d.status == "agree" and not include_agree:
            continue
        lines.append({"function": d.function, "spelling": f"{d.torch_where} vs {d.jax_where}",
                      "aspect": f"default {d.parameter}", "torch": d.torch, "jax": d.jax,
                      "reference": d.reference, "status": d.status, "conventions": list(d.conventions),
                      "detail": d.detail, "meaning": (d.torch_meaning, d.jax_meaning)})
    return lines


def _same(a: Any, b: Any) -> bool:
    """torch's and JAX's answers are the same (to float64 rounding; nan equals nan)."""
    if isinstance(a, (str, bool)) or isinstance(b, (str, bool)) or a is None or b is None:
        return str(a) == str(b)
    try:
        x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=1e-12, atol=0, equal_nan=True))


def _agree(g: dict, short: bool = False) -> str:
    """yes; no (torch and JAX differ); or, where they agree with each other and only the reference
    differs, says so: that is a difference from crosscheck's reference, not between the frameworks."""
    if g["status"] == "agree":
        return "yes"
    if g["status"] != "known":
        return "FINDING"
    if _same(g["torch"], g["jax"]):
        word = "ref differs" if short else "torch = jax, reference differs"
    else:
        word = "no"
    return word if short else f"{word}: " + ", ".join(g["conventions"])


def _fix(g: dict, result: AuditResult) -> str:
    if g["status"] == "finding":
        return g["detail"]
    return "; ".join(result.conventions[c].fix for c in g["conventions"])


def summary_line(result: AuditResult) -> str:
    v = result.versions
    libs = ", ".join(f"{k} {v[k]}" for k in ("torch", "jax", "optax", "flax") if k in v)
    n = len(result.all_rows)
    return (f"crosscheck audit: {libs}; {n} aspects compared, {len(result.known)} differ by a known "
            f"convention, {len(result.findings)} unexplained ({result.elapsed_s:.1f} s)")


def format_table(result: AuditResult, *, include_agree: bool = False, columns: int | None = None,
                 colour: bool = False) -> str:
    """The terminal report, ``columns`` wide (default: the terminal's, 100 in a log): one block per
    convention (what differs, the fix), then its rows: function | aspect | torch | jax | reference |
    agree?. Cells that do not fit are elided; ``--json`` and ``--markdown`` hold the full text."""
    cols = terminal.width() if columns is None else columns
    gs = groups(result, include_agree=include_agree)
    lines = terminal.wrap(summary_line(result), cols, subsequent="  ")
    if not gs:
        lines += ["", "every aspect agrees"]
    head = ["function", "aspect", "dtype", "torch", "jax", "reference", "agree?"]
    blocks: dict[tuple, list[dict]] = {}
    for g in gs:
        blocks.setdefault((g["status"], tuple(g["conventions"])), []).append(g)
    described: set[str] = set()
    for (status, conventions), members in blocks.items():
        lines.append("")
        if status == "finding":
            found = terminal.wrap("UNEXPLAINED (no known convention explains these rows): "
                                  + members[0]["detail"], cols, subsequent="  ")
            lines += [terminal.paint_verdict(found[0]) if colour else found[0], *found[1:]]
        elif status == "agree":
            lines.append("agree:")
        for c in conventions:
            if c in described:  # each convention is explained once, where it first shows
                lines.append(f"{c}: see above")
                continue
            described.add(c)
            conv = result.conventions[c]
            lines += terminal.wrap(f"{c}: {conv.note}", cols, subsequent="  ")
            lines += terminal.wrap(f"fix: {conv.fix}", cols, indent="  ", subsequent="    ")
        body = [[g["function"], *_split_dtypes(g["aspect"]), *_cells(g, 24), _agree(g, short=True)] for g in members]
        lines += terminal.fit_table([head] + body, cols, flexible=(1, 0, 3, 4, 5), minimum=8, indent="  ")
    spellings = list(dict.fromkeys(f"{g['function']}: {g['spelling']}" for g in gs))
    if spellings:
        lines += ["", "spellings compared:"]
        lines += [x for s in spellings for x in terminal.wrap(s, cols, indent="  ", subsequent="    ")]
    if result.unavailable:
        lines += ["", "not compared:"]
        lines += [x for u in result.unavailable for x in terminal.wrap(u, cols, indent="  ", subsequent="    ")]
    return "\n".join(lines)


def _split_dtypes(aspect: str) -> tuple[str, str]:
    """``"value at x = 0 (float32, float64)"`` -> ``("value at x = 0", "f32 f64")``: a narrow column."""
    m = re.search(r" \(((?:float32|float64)(?:, (?:float32|float64))*)\)$", aspect)
    if not m:
        return aspect, ""
    return aspect[: m.start()], " ".join("f" + t[-2:] for t in m.group(1).split(", "))


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|")


def format_markdown(result: AuditResult) -> str:
    """The README's table: every difference, with the spelling in the function column."""
    gs = groups(result)
    lines = ["| function | aspect | torch | jax | reference | agree? | how to make them agree |",
             "|---|---|---|---|---|---|---|"]
    for g in gs:
        lines.append("| " + " | ".join(_md(c) for c in (
            f"{g['function']}: `{g['spelling'].replace(' vs ', '` vs `')}`", g["aspect"], *_cells(g, 40),
            _agree(g), _fix(g, result))) + " |")
    return "\n".join(lines)


def to_json(result: AuditResult) -> dict:
    def row(r: Row | DefaultRow) -> dict:
        d = {k: jsonable(v) for k, v in vars(r).items()}
        d["key"] = r.key
        return d

    return stamp("audit", {
        "versions": result.versions,
        "elapsed_s": round(result.elapsed_s, 3),
        "summary": {"aspects": len(result.all_rows), "known": len(result.known), "findings": len(result.findings)},
        "conventions": {c.id: {"note": c.note, "fix": c.fix} for c in result.conventions.values()},
        "rows": [row(r) for r in result.rows],
        "defaults": [row(d) for d in result.defaults],
        "unavailable": result.unavailable,
    })
