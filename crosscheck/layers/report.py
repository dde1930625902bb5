"""The layer check's verdicts: one ``LayerVerdict`` per layer, gathered in a ``LayersReport``.

Exit codes (``LayersReport.exit_code``): 1 when any layer fails; else 3 when one could not run;
else 2 when no layer was compared at all (the module defines none of the API: nothing is ever
reported passing that was not compared); else 0. A ``missing`` layer alone changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import terminal
from ..output import plural, stamp

__all__ = ["LayerVerdict", "LayersReport", "Part", "VERDICTS"]

VERDICTS = ("pass", "fail", "error", "missing")
_LIMIT = 6  # arrays of more than 36 entries are summarised by their shape in the text report


@dataclass
class Part:
    """One compared output of a layer (``out``, ``dx``, ``running_mean``, ...)."""

    name: str
    expected_shape: tuple[int, ...]
    got_shape: tuple[int, ...] | None
    rel_error: float
    tolerance: float
    passed: bool
    reason: str = ""  # "", "shape", "nan", "value"
    # where the expected array is all zeros a relative error means nothing: (absolute error, allowed)
    absolute: tuple[float, float] | None = None

    def describe(self) -> str:
        if self.absolute is not None:
            err, allowed = self.absolute
            verdict = "ok, " if self.passed else ""
            return f"{self.name}: {verdict}absolute error {err:.2e} (expected all zeros; allowed {allowed:.1e})"
        if self.passed:
            return f"{self.name}: ok (relative error {self.rel_error:.1e})"
        if self.reason == "shape":
            if self.got_shape is None:
                return f"{self.name}: nothing came back (expected shape {self.expected_shape})"
            return f"{self.name}: shape {self.got_shape}, expected {self.expected_shape}"
        if self.reason == "nan":
            return f"{self.name}: contains NaN or infinity"
        return f"{self.name}: relative error {self.rel_error:.2e} > {self.tolerance:.0e}"

    def to_dict(self) -> dict:
        rel = self.rel_error if np.isfinite(self.rel_error) else str(self.rel_error)
        return {"name": self.name, "expected_shape": list(self.expected_shape),
                "got_shape": None if self.got_shape is None else list(self.got_shape), "rel_error": rel,
                "tolerance": self.tolerance, "passed": self.passed, "reason": self.reason,
                **({"absolute_error": self.absolute[0], "absolute_allowed": self.absolute[1]} if self.absolute
                   else {})}


@dataclass
class LayerVerdict:
    """The verdict on one layer. ``diagnosis`` is a list of ``{id, parameter, detail}``, most likely first;
    ``failing_case`` the minimal failing (or erroring) case with its inputs, expected and got arrays."""

    name: str
    verdict: str  # one of VERDICTS
    diagnosis: list[dict] = field(default_factory=list)
    failing_case: dict | None = None
    reproduce: str = ""
    functions: tuple[str, ...] = ()
    examples: int = 0
    detail: str = ""  # the error message, or what is missing
    parts: list[Part] = field(default_factory=list)
    output: str = ""
    notes: list[str] = field(default_factory=list)  # kink conventions the implementation uses (accepted)

    def to_dict(self) -> dict:
        return {"name": self.name, "verdict": self.verdict, "diagnosis": list(self.diagnosis),
                "failing_case": self.failing_case, "reproduce": self.reproduce, "functions": list(self.functions),
                "examples": self.examples, "detail": self.detail, "output": self.output, "notes": list(self.notes)}

    def headline(self) -> str:
        if self.verdict == "pass":
            return f"PASS     {self.name}: {plural(self.examples, 'example')}"
        if self.verdict == "missing":
            return f"MISSING  {self.name}: {self.detail}"
        if self.verdict == "error":
            return f"ERROR    {self.name}: {self.detail}"
        ids = ", ".join(d["id"] for d in self.diagnosis) or "wrong values"
        return f"FAIL     {self.name}: [{ids}]"


@dataclass
class LayersReport:
    """Every layer's verdict on one module. ``to_dict()`` is the JSON report; ``summary()`` the text."""

    target: str
    api: str
    layers: list[LayerVerdict]
    dtype: str
    seed: int
    dropout_p: str
    elapsed: float = 0.0
    environment: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        verdicts = {v.verdict for v in self.layers}
        if "fail" in verdicts:
            return 1
        if "error" in verdicts:
            return 3
        if "pass" not in verdicts:
            return 2
        return 0

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def layer(self, name: str) -> LayerVerdict:
        for v in self.layers:
            if v.name == name:
                return v
        raise KeyError(name)

    def to_dict(self) -> dict:
        counts = {k: sum(v.verdict == k for v in self.layers) for k in ("pass", "fail", "error", "missing")}
        return stamp("layers", {"target": self.target, "api": self.api, "dtype": self.dtype, "seed": self.seed,
                "dropout_p": self.dropout_p, "exit_code": self.exit_code, "counts": counts,
                "layers": [v.to_dict() for v in self.layers], "elapsed_s": round(self.elapsed, 3),
                "environment": self.environment})

    def summary(self, columns: int | None = None, *, colour: bool = False) -> str:
        """The text report, fitted to ``columns`` (default: the terminal's width, 100 in a log; 0:
        unwrapped) as ``terminal.fit_lines`` does; ``colour`` paints each layer's verdict word."""
        lines = self.lines()
        own = {"  " + v.headline() for v in self.layers}  # the verdict list under the title
        heads = [i for i, line in enumerate(lines) if line in own]
        return "\n".join(terminal.fit_lines(lines, terminal.width() if columns is None else columns,
                                            heads=heads, colour=colour))

    def lines(self) -> list[str]:
        """The report's logical lines, unwrapped."""
        from ..output import format_array

        counts = {k: sum(v.verdict == k for v in self.layers) for k in ("pass", "fail", "error", "missing")}
        lines = [f"crosscheck layers: {self.target} (api {self.api}, {self.dtype}, dropout p = "
                 f"{self.dropout_p} probability, seed {self.seed})"]
        for v in self.layers:
            lines.append("  " + v.headline())
            lines += [f"           note: {n}" for n in v.notes]
        for v in self.layers:
            if v.verdict not in ("fail", "error"):
                continue
            lines.append("")
            lines.append(f"{v.name}: {v.verdict.upper()}")
            if v.verdict == "fail" and v.diagnosis:
                lines.append("  diagnosis, most likely first:")
                for n, d in enumerate(v.diagnosis, start=1):
                    lines.append(f"    {n}. {d['id']} at {d['parameter']}: {d['detail']}")
            case = v.failing_case or {}
            if case.get("description"):
                which = "case re-drawn where causes differ" if "re-drawn" in str(case.get("mode")) else "minimal case"
                lines.append(f"  {which}: {case['description']}")
            for p in v.parts:
                if not p.passed:
                    lines.append(f"    {p.describe()}")
            for name, a in (case.get("inputs") or {}).items():
                if np.ndim(a) == 0:
                    lines.append(f"    {name} = {a}")
                    continue
                lines.append("    " + format_array(np.asarray(a), name, limit=_LIMIT).replace("\n", "\n    "))
            for name in [p.name for p in v.parts if not p.passed]:
                for label in ("expected", "got"):
                    a = (case.get(label) or {}).get(name)
                    if a is not None:
                        text = format_array(np.asarray(a), f"{label} {name}", limit=_LIMIT)
                        lines.append("    " + text.replace("\n", "\n    "))
            if v.output.strip():
                lines.append("  implementation output (trimmed):")
                lines += ["    | " + ln for ln in v.output.rstrip().splitlines()[:30]]
            lines.append(f"  reproduce: {v.reproduce}")
        lines.append("")
        lines.append(f"{counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors, "
                     f"{counts['missing']} missing ({self.elapsed:.1f} s); exit {self.exit_code}")
        return lines


def jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
