"""Reporting: the sweep's terminal summary, its failure report and JSON output.

Computation happens elsewhere; this module only turns results into text and files.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np

from .. import terminal
from ..output import format_array, plural

__all__ = ["sweep_report", "print_sweep", "write_json", "summary_table"]

_AXES = (("batch", ("rows", "columns", "single")), ("weights", ("out_in", "in_out")),
         ("bias", ("none", "vector", "column", "row", "augmented")))


def _fmt_err(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return "inf"
    return f"{x:.0e}"


# shorter row labels, so the table fits 100 columns (--json keeps the full names)
_WHO = {"formula routes": "routes", "numeric oracles": "oracles"}


def summary_table(table: dict) -> str:
    """activation x backend rows, one column per convention axis value: worst relative error.
    Within 100 columns: ``routes`` are the formula routes, ``oracles`` the numeric ones."""
    cols = [v for _, vals in _AXES for v in vals]
    head = ["activation", "checked by"] + cols
    rows = []
    for (act, who), cells in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        rows.append([act, _WHO.get(who, who)] + [_fmt_err(cells.get(c)) for c in cols])
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]

    def line(r: list) -> str:  # two spaces after the labels, one between the right-aligned values
        return (f"{str(r[0]).ljust(widths[0])}  {str(r[1]).ljust(widths[1])}  "
                + " ".join(str(c).rjust(w) for c, w in zip(r[2:], widths[2:])))

    group = " " * (sum(widths[:2]) + 4)
    spans = []
    i = 2
    for axis, vals in _AXES:
        w = sum(widths[i:i + len(vals)]) + (len(vals) - 1)
        spans.append(f"{axis:-^{w}}")
        i += len(vals)
    out = [group + " ".join(spans), line(head)] + [line(r) for r in rows]
    return "\n".join(out)


def _case_lines(case: dict | None) -> list[str]:
    if not case:
        return []
    from ..model.case import Case

    c = Case.from_dict(case)
    params, X, Y = c.user_inputs()
    lines = [f"  minimal case: {c.describe()}"]
    lines.append("  " + format_array(X, "X").replace("\n", "\n  "))
    if Y is not None:
        lines.append("  " + format_array(Y, "Y").replace("\n", "\n  "))
    items = params.items() if isinstance(params, dict) else (
        (f"layer {i}", p) for i, p in enumerate(params, start=1))
    for key, value in items:
        if isinstance(value, tuple):
            lines.append("  " + format_array(value[0], f"W ({key})").replace("\n", "\n  "))
            lines.append("  " + format_array(value[1], f"b ({key})").replace("\n", "\n  "))
        else:
            lines.append("  " + format_array(value, str(key)).replace("\n", "\n  "))
    return lines


def _precision_line(env: dict) -> str:
    """The settings that decide float32 matmul precision, as the backends reported them."""
    parts = []
    t = env.get("torch") or {}
    if "effective_allow_tf32" in t:
        parts.append(f"torch {t.get('version')} allow_tf32={t['effective_allow_tf32']} "
                     f"float32_matmul_precision={t.get('effective_float32_matmul_precision')}")
    j = env.get("jax") or {}
    if "effective_matmul_precision" in j:
        parts.append(f"jax {j.get('version')} default_matmul_precision={j['effective_matmul_precision']} "
                     f"x64={j.get('x64', j.get('x64_enabled'))}")
    if any((env.get(b) or {}).get("tf32_like") for b in ("torch", "jax")):
        parts.append("TF32-like float32 matmuls ACTIVE (see notes)")
    return "; ".join(parts)


def sweep_report(result) -> str:
    r = result
    out = []
    verdict = "PASSED" if r.passed else "FAILED"
    shard = f" (shard {r.config.shard[0]}/{r.config.shard[1]})" if r.config.shard else ""
    # one counting noun; draws, architectures, examples and route checks are in --json
    counted = plural(r.cases, "case") if r.cases else \
        f"{plural(r.route_checks, 'route check')} (no framework compared: the reference's routes only)"
    jobs = r.environment.get("jobs", 1)
    out.append(f"crosscheck sweep {verdict}{shard}: {counted} in {r.elapsed_s:.1f} s"
               + (f" ({jobs} jobs)" if jobs > 1 else "") + f" [{r.config.dtype}, {r.config.device}]")
    cov = r.coverage
    cols = terminal.width()
    facts = [f"backends: {', '.join(cov.get('backends', [])) or '-'}"
             + "".join(f"   ({n} skipped: {why})" for n, why in r.skipped_backends.items()),
             f"routes: {', '.join(cov.get('routes', []))}"]
    precision = _precision_line(r.environment)
    if precision:
        facts.append(f"precision: {precision}")
    facts += [f"activations: {', '.join(cov.get('activations', []))}",
              f"losses: {', '.join(cov.get('losses', []))}; batch: {', '.join(cov.get('batch', []))}; "
              f"weights: {', '.join(cov.get('weights', []))}; bias: {', '.join(cov.get('bias', []))}"]
    for fact in facts:  # wrapped to the terminal (100 columns in a log)
        out += terminal.wrap(fact, cols, indent="  ", subsequent="    ")
    if r.table:
        out.append("")
        out.append("worst relative error (activation x checker x convention):")
        out.append(summary_table(r.table))
    for note in r.notes:
        out.append("")
        out.append(f"note [{note['kind']}] {note['backend']} on {note['network']}: {note['detail']}")
        if "count" in note:  # float32 rounding: how many draws, how large, against what
            out.append(f"  {note['count']} draw(s); worst {note['size']:.1e} on the network above, where the "
                       f"reference's own float32 error is {note['reference_error']:.1e} (bound {note['bound']:.1e})")
        for fix in note.get("fix") or []:
            out.append(f"  fix: {fix}")
    for f in r.failures:
        out.append("")
        out.append("FAILURE (minimal network after shrinking):")
        for p in f.get("problems", []):
            other = p.get("other", "the float64 recursive reference")
            out.append(f"  {p['who']} disagrees with {other}: {p['summary']}")
            for pc in (p.get("comparison") or {}).get("parameters", []):
                if not pc.get("passed", True):
                    hint = f"  hint: {pc['hint']}" if pc.get("hint") else ""
                    out.append(f"    layer {pc['layer']} d{pc['name']}{pc['layer']}: expected shape "
                               f"{tuple(pc['expected_shape'])}, got {tuple(pc['got_shape'])}, relative error "
                               f"{_fmt_err(pc['rel_error'])} (tolerance {_fmt_err(pc['tolerance'])}){hint}")
        out.extend(_case_lines(f.get("minimal_case")))
        out.append(f"  reproduce: {f.get('reproduce')}")
    return "\n".join(out)


def print_sweep(result, file=None) -> None:
    """The report; on a colour terminal (not with NO_COLOR) the verdict word in green or red."""
    stream = file or sys.stdout
    text = sweep_report(result)
    head, _, rest = text.partition("\n")
    for word, name in (("PASSED", "green"), ("FAILED", "red")):
        head = head.replace(f"sweep {word}", f"sweep {terminal.colour(word, name, stream)}", 1)
    print(head + ("\n" + rest if rest else ""), file=stream)


def write_json(data: dict, path: str) -> None:
    """``data`` as JSON to ``path`` (atomically: a reader sees the old file or the whole new one), or stdout
    for ``-``."""
    from ..output import write_text

    write_text(path, json.dumps(data, indent=2, default=_json_default))


def _json_default(o: Any):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)
