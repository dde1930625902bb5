"""The check's report: its verdict, diagnosis, minimal case and reproduce line, for the terminal and ``--json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import terminal
from ..diagnosis.diagnose import Diagnosis, user_arrays
from ..errors import ImplementationError
from ..model.case import Case
from ..model.presets import CheckOptions
from ..output import plural, stamp
from ..sandbox.verdicts import trim_output

__all__ = ["CheckReport", "EXIT", "quoted"]

EXIT = {"pass": 0, "fail": 1, "error": 3}


@dataclass
class CheckReport:
    """The verdict on one implementation. ``case`` is the minimal failing case (or the case
    that made the implementation fail to run); ``expected``/``got`` are in the user's layout."""

    verdict: str  # "pass", "fail" or "error"
    target: str
    options: CheckOptions
    examples: int
    seed: int
    dtype: str
    profile: str
    max_examples: int
    elapsed: float
    accepts_spec: bool = False
    diagnosis: list[Diagnosis] = field(default_factory=list)
    case: Case | None = None
    expected: dict[str, np.ndarray] | None = None
    got: dict[str, np.ndarray] | None = None
    comparison: Any = None
    mutated: tuple[str, ...] = ()
    error: ImplementationError | None = None
    output: str = ""
    reproduce: str = ""
    coverage: dict = field(default_factory=dict)
    shrunk: Case | None = None  # the case hypothesis shrank to, when the diagnosis used a re-drawn one
    note: str = ""
    environment: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    kink_notes: list = field(default_factory=list)  # kink-convention differences that were not failures
    strict_kinks: bool = False
    diagnosis_s: float | None = None  # time spent diagnosing a failure (re-draws, probes, the search)
    detected: str = ""  # the declaration found by probing (no convention flags, or --detect), as flags
    detect_s: float | None = None  # time spent probing for that declaration
    probe_convention: Any = None  # with --detect: the convention the code follows where it is not the declared one

    @property
    def exit_code(self) -> int:
        return EXIT[self.verdict]

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict:
        failing = None
        if self.case is not None:
            failing = self.case.to_dict()
            failing["description"] = self.case.describe()
            failing["batch_size"] = self.case.batch_size
            named = lambda d: None if d is None else {k: v.tolist() for k, v in d.items()}  # noqa: E731
            failing["expected"] = named(self.expected)
            failing["got"] = named(self.got)
            failing["comparison"] = None if self.comparison is None else self.comparison.to_dict()
            failing["mutated"] = list(self.mutated)
            failing["shrunk"] = None if self.shrunk is None else self.shrunk.describe()
        return stamp("check", {
            "verdict": self.verdict,
            "examples": self.examples,
            "seed": self.seed,
            "target": self.target,
            "options": self.options.to_dict(),
            "dtype": self.dtype,
            "diagnosis": [d.to_dict() for d in self.diagnosis],
            "failing_case": failing,
            "error": None if self.error is None else {"kind": self.error.kind, "message": str(self.error)},
            "output": self.output,
            "reproduce": self.reproduce,
            "coverage": self.coverage,
            "notes": ([self.note] if self.note else []) + list(self.notes),  # one key for every note
            "kink_notes": self.kink_notes,
            "strict_kinks": self.strict_kinks,
            "elapsed_s": round(self.elapsed, 3),
            "diagnosis_s": None if self.diagnosis_s is None else round(self.diagnosis_s, 4),
            "detected": self.detected,
            "detect_s": None if self.detect_s is None else round(self.detect_s, 4),
            "environment": self.environment,
        })

    def summary(self, columns: int | None = None, *, colour: bool = False) -> str:
        """The terminal report: verdict, diagnosis, minimal case, captured output, reproduction.

        Fitted to ``columns`` (default: the terminal's width, 100 in a log; 0: unwrapped): prose
        wrapped with an indent, the reproduce command with shell continuations. ``colour`` paints
        the verdict word (the CLI passes ``terminal.use_colour()``)."""
        lines = self.lines()
        head = 1 if self.detected else 0
        return "\n".join(terminal.fit_lines(lines, terminal.width() if columns is None else columns,
                                            heads=(head,), colour=colour))

    def lines(self) -> list[str]:
        """The report's logical lines, unwrapped (what :meth:`summary` fits to a width)."""
        from ..output import format_array

        conv = self.options.describe_layout()
        lines = [f"detected: {self.detected}"] if self.detected else []
        if self.verdict == "pass":
            lines.append(f"PASS: {self.target} returned the reference gradients on all "
                         f"{plural(self.examples, 'example')} "
                         f"({conv}, {self.dtype}, seed {self.seed}, {self.elapsed:.1f} s)")
            cov = self.coverage
            if cov:
                lines.append("  covered: " + "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in cov.items()
                                                      if v))
            lines += [f"  note: {n}" for n in self.notes]
            lines += [f"  note [{k['kind']}] on {k['network']}: {k['detail']} (not a failure; --strict-kinks makes "
                      "it one)" for k in self.kink_notes]
            if self.output.strip():
                lines.append("implementation output on the last example (trimmed):")
                lines += quoted(trim_output(self.output, 600))
            return lines
        if self.verdict == "error":
            assert self.error is not None
            lines.append(f"ERROR [{self.error.kind}]: {self.target} failed to run (exit 3): {self.error}")
        else:
            ids = ", ".join(d.id for d in self.diagnosis)
            lines.append(f"FAIL: {self.target} returned wrong gradients (exit 1) [{ids}]")
            if self.note:  # it crashed on distinct dimensions: nothing was shrunk
                lines.append(f"after {plural(self.examples, 'example')} ({conv}, {self.dtype}): {self.note}")
            else:
                lines.append(f"after {plural(self.examples, 'example')}, shrunk to a minimal case "
                             f"({conv}, {self.dtype})")
            if self.shrunk is not None and self.case is not None and self.shrunk is not self.case:
                lines.append(f"hypothesis shrank it to {self.shrunk.describe()}; diagnosed on the case below, "
                             "re-drawn around it where the mistake is identifiable")
            lines.append("diagnosis, most likely first:")
            for n, d in enumerate(self.diagnosis, start=1):
                lines.append(f"  {n}. {d.id} at {d.parameter} (layer {d.layer}): {d.detail}")
        if self.case is not None:
            if self.options.packed:  # the edge layout (crosscheck.check.packing) is unpacked for the report
                lines.append(f"(shown as W_l and b_l in {self.case.convention.describe()}; your code takes them as "
                             f"{self.options.describe_layout()})")
            lines.append(f"case: {self.case.describe()}")
            params, X, Y = self.case.user_inputs()
            arrays = [("X", X)] + ([("Y", Y)] if Y is not None else [])
            arrays += list(user_arrays(self.case.convention, self.case.network, params).items())
            for name, a in arrays:
                label = name[1:] if name.startswith("d") else name
                lines.append("  " + format_array(a, label).replace("\n", "\n  "))
        if self.comparison is not None:
            for p in self.comparison.parameters:
                if not p.passed:
                    lines.append(f"  {p.describe()}")
        if self.expected is not None and self.got is not None:
            for name in self.expected:
                e, g = self.expected[name], self.got.get(name)
                if g is not None and g.shape == e.shape and np.allclose(g, e, rtol=1e-7, atol=0):
                    continue
                lines.append("  " + format_array(e, f"expected {name}").replace("\n", "\n  "))
                lines.append("  " + format_array(g, f"got {name}").replace("\n", "\n  "))
        if self.output.strip():
            lines.append("implementation output (trimmed):")
            lines += quoted(self.output)
        lines.append(f"reproduce: {self.reproduce}")
        return lines


def quoted(text: str, *, width: int = 160, max_lines: int = 60) -> list[str]:
    """Captured output for the terminal: each line cut at ``width``, at most ``max_lines`` lines."""
    lines = text.rstrip().splitlines()
    if len(lines) > max_lines:
        half = max_lines // 2
        lines = lines[:half] + [f"... [{len(lines) - 2 * half} lines omitted] ..."] + lines[-half:]
    return ["  | " + (ln if len(ln) <= width else ln[:width] + f" ... [+{len(ln) - width} characters]")
            for ln in lines]
