"""A grade report as Gradescope's results.json, crosscheck's own JSON, JUnit XML or text.

Gradescope's format is the one its autograder documentation specifies
(https://gradescope-autograders.readthedocs.io/en/latest/specs/, "Output format"): a top-level
``score`` and ``execution_time``, and ``tests[]`` with ``name``, ``number``, ``score``,
``max_score``, ``status`` ("passed"/"failed"), ``output``, ``output_format`` and ``visibility``.
Outputs are ``text`` (rendered in a ``<pre>``, never as HTML): they quote what the submission printed.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from ..terminal import fit_lines
from .results import GradeReport

__all__ = ["FORMATS", "render", "gradescope", "own_json", "junit", "text"]

FORMATS = ("text", "gradescope", "json", "junit")


def _num(x: float) -> float | int:
    """2.0 -> 2, 3.33 -> 3.33 (what a person would write)."""
    return int(x) if float(x).is_integer() else round(x, 6)


def gradescope(report: GradeReport) -> dict:
    from ..version import __version__

    tests = []
    for p in report.parts:
        tests.append({
            "name": p.name,
            "number": p.number,
            "score": _num(p.score),
            "max_score": _num(p.max_score),
            "status": p.status,
            "output": p.output,
            "output_format": "text",
            "visibility": p.visibility,
            "tags": [p.check],
            "extra_data": {"verdict": p.verdict, "diagnosis": [d.get("id") for d in p.diagnosis],
                           "error_kind": p.error_kind, "reproduce": p.reproduce},
        })
    # the summary counts only what a student may see now: a hidden or after-due-date part leaks neither
    # through its verdict nor through a total (Gradescope hides the score itself while such tests exist)
    shown = [p for p in report.parts if p.visibility == "visible"]
    lost = [p for p in shown if p.verdict != "pass"]
    summary = f"crosscheck {__version__}: "
    if len(shown) == len(report.parts):
        summary += (f"{_num(report.score)} / {_num(report.max_score)} points over {len(report.checks)} check(s), "
                    f"{len(report.parts)} part(s). ")
    else:
        summary += (f"{sum(p.verdict == 'pass' for p in shown)} of the {len(shown)} part(s) shown here passed "
                    f"({_num(sum(p.score for p in shown))} / {_num(sum(p.max_score for p in shown))} points). ")
    summary += (("Every part passed." if len(shown) == len(report.parts) else "Every part shown passed.")
                if not lost else
                "Each failed part shows the mistake, the smallest network that shows it, and a `crosscheck "
                "check` command that reproduces it on your machine.")
    return {
        "score": _num(report.score),
        "execution_time": round(report.elapsed, 2),
        "output": summary + (f" Seed {report.seed}." if report.seed is not None else ""),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": report.autograder.get("visibility", "visible"),
        "stdout_visibility": report.autograder.get("stdout_visibility", "hidden"),
        "tests": tests,
    }


def own_json(report: GradeReport) -> dict:
    from ..output import stamp

    return stamp("grade", report.to_dict())


_XML_BAD = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: str) -> str:
    """Text XML 1.0 can hold (student output may contain any byte)."""
    return _XML_BAD.sub("\ufffd", text)


def junit(report: GradeReport) -> str:
    root = ET.Element("testsuites", name="crosscheck grade", tests=str(len(report.parts)),
                      failures=str(sum(p.verdict == "fail" for p in report.parts)),
                      errors=str(sum(p.verdict in ("error", "missing") for p in report.parts)),
                      time=f"{report.elapsed:.3f}")
    if report.seed is not None:  # the run's seed: `crosscheck grade --seed S` replays it
        root.set("seed", str(report.seed))
    for check in report.checks:
        suite = ET.SubElement(root, "testsuite", name=_x(check.spec.name), tests=str(len(check.parts)),
                              failures=str(sum(p.verdict == "fail" for p in check.parts)),
                              errors=str(sum(p.verdict in ("error", "missing") for p in check.parts)),
                              skipped="0", time=f"{sum(p.elapsed for p in check.parts):.3f}")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="points", value=f"{_num(check.spec.points)}")
        ET.SubElement(props, "property", name="score", value=f"{_num(check.score)}")
        for p in check.parts:
            case = ET.SubElement(suite, "testcase", classname=_x(check.spec.name), name=_x(p.label or p.name),
                                 time=f"{p.elapsed:.3f}")
            cprops = ET.SubElement(case, "properties")
            ET.SubElement(cprops, "property", name="score", value=f"{_num(p.score)}")
            ET.SubElement(cprops, "property", name="max_score", value=f"{_num(p.max_score)}")
            if p.verdict == "fail":
                kind = p.diagnosis[0]["id"] if p.diagnosis else "wrong_gradients"
                el = ET.SubElement(case, "failure", message=_x(p.reason), type=kind)
                el.text = _x(p.output)
            elif p.verdict != "pass":
                el = ET.SubElement(case, "error", message=_x(p.reason), type=p.error_kind or p.verdict)
                el.text = _x(p.output)
            else:
                ET.SubElement(case, "system-out").text = _x(p.output)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def text(report: GradeReport, *, colour: bool = False, columns: int = 0) -> str:
    """The terminal report, fitted to ``columns`` (0: unwrapped, for a file): a reason wrapped under
    its part, a ``reproduce:`` line wrapped as a shell command that still pastes. ``colour`` paints each
    part's verdict mark (the CLI passes ``use_colour()`` and ``terminal.width()``)."""
    lines = [f"crosscheck grade: {_num(report.score)} / {_num(report.max_score)} points "
             f"({report.submission}, {report.config}" + (f", seed {report.seed})" if report.seed is not None else ")")]
    heads: list[int] = []
    for check in report.checks:
        lines.append("")
        lines.append(f"{check.spec.name} ({check.spec.target}): {_num(check.score)} / {_num(check.spec.points)}")
        for p in check.parts:
            mark = {"pass": "PASS", "fail": "FAIL", "missing": "MISSING"}.get(p.verdict, "ERROR")
            label = p.label or check.spec.name
            heads.append(len(lines))
            lines.append(f"  [{mark}] {label}: {_num(p.score)} / {_num(p.max_score)}"
                         + (f": {p.reason}" if p.reason else ""))
            if p.verdict != "pass" and p.reproduce:
                lines.append(f"         reproduce: {p.reproduce}")
    return "\n".join(fit_lines(lines, columns, heads=heads, colour=colour)) + "\n"


def render(report: GradeReport, fmt: str, *, colour: bool = False, columns: int = 0) -> str:
    if fmt == "gradescope":
        return json.dumps(gradescope(report), indent=2) + "\n"
    if fmt == "json":
        return json.dumps(own_json(report), indent=2) + "\n"
    if fmt == "junit":
        return junit(report)
    if fmt == "text":
        return text(report, colour=colour, columns=columns)
    raise ValueError(f"unknown format {fmt!r}")
