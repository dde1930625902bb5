"""What grading produces: a result per part, per check and for the whole submission.

Shared by the runner (which fills them), the layer grading (which sets a layer part's verdict)
and the formats (which write them for Gradescope, JSON and the terminal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .spec import CheckSpec

__all__ = ["PartResult", "CheckResult", "GradeReport", "FORBIDDEN", "set_error"]

# a forbidden import, as the sandbox reports it: its module name is group 1
FORBIDDEN = re.compile(r"forbidden import: ([A-Za-z_][\w.]*)")


@dataclass
class PartResult:
    """One part: one test in the results."""

    number: str  # "2.3": check 2, part 3
    check: str  # the check's name
    label: str  # "depth 2, hidden relu"; "" for a check of one part
    target: str  # relative to the submission
    max_score: float
    score: float
    verdict: str  # pass, fail, error or missing
    reason: str = ""  # one line: why the points were lost ("" when passed)
    output: str = ""  # what the student reads: diagnosis, minimal case, reproduce command
    reproduce: str = ""
    diagnosis: list[dict] = field(default_factory=list)
    error_kind: str | None = None
    visibility: str = "visible"
    elapsed: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.check}: {self.label}" if self.label else self.check

    @property
    def status(self) -> str:
        return "passed" if self.verdict == "pass" else "failed"

    def to_dict(self) -> dict:
        return {"number": self.number, "name": self.name, "part": self.label, "target": self.target,
                "score": self.score, "max_score": self.max_score, "status": self.status, "verdict": self.verdict,
                "reason": self.reason, "diagnosis": self.diagnosis, "error_kind": self.error_kind,
                "reproduce": self.reproduce, "output": self.output, "elapsed_s": round(self.elapsed, 3)}


@dataclass
class CheckResult:
    spec: CheckSpec
    parts: list[PartResult]

    @property
    def score(self) -> float:
        return round(sum(p.score for p in self.parts), 6)

    def to_dict(self) -> dict:
        return {"name": self.spec.name, "target": self.spec.target, "kind": self.spec.kind,
                "points": self.spec.points, "score": self.score, "parts": [p.to_dict() for p in self.parts]}


@dataclass
class GradeReport:
    config: str
    submission: str
    checks: list[CheckResult]
    elapsed: float = 0.0
    autograder: dict = field(default_factory=dict)  # the config's [autograder] table (results.json visibility)
    seed: int | None = None  # the run's seed (fresh unless given): checks whose config pins none used it

    @property
    def parts(self) -> list[PartResult]:
        return [p for c in self.checks for p in c.parts]

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 6)

    @property
    def max_score(self) -> float:
        return round(sum(c.spec.points for c in self.checks), 6)

    def to_dict(self) -> dict:
        from ..version import __version__

        return {"crosscheck": __version__, "config": self.config, "submission": self.submission,
                "score": self.score, "max_score": self.max_score, "elapsed_s": round(self.elapsed, 3),
                "seed": self.seed,
                "checks": [c.to_dict() for c in self.checks]}


def set_error(part: PartResult, kind: str, message: str, output: str | None = None) -> None:
    """An error verdict: ``kind`` (missing, usage, internal, ...), the first line of ``message`` as the reason."""
    part.verdict, part.error_kind = "error", kind
    part.reason = message.splitlines()[0] if message else kind
    part.output = output if output is not None else message
