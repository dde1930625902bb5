"""A baseline of the audit's answers, for CI: save it on the pinned versions, compare on an upgrade.

The file records, per aspect (``Row.key``), torch's and JAX's answers and the verdict, with the
library versions. ``compare`` names each aspect whose answer changed, before and after, with the
versions on both sides; an aspect present on one side only (an optional library installed or
not) is listed but is not a change of an answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError
from .report import jsonable
from .results import AuditResult, close

__all__ = ["FORMAT", "answers", "save", "load", "compare", "Change", "Comparison"]

FORMAT = "crosscheck-audit-baseline/1"


def answers(result: AuditResult) -> dict[str, dict]:
    out = {}
    for r in result.rows:
        out[r.key] = {"torch": jsonable(r.torch), "jax": jsonable(r.jax), "status": r.status, "dtype": r.dtype}
    for d in result.defaults:
        out[d.key] = {"torch": jsonable(d.torch), "jax": jsonable(d.jax), "status": d.status, "dtype": "-"}
    return out


def save(result: AuditResult, path: str) -> None:
    data = {"format": FORMAT, "versions": result.versions, "answers": answers(result)}
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
    except OSError as e:
        raise UsageError(f"cannot write the baseline {path}: {e.strerror}") from None


def load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise UsageError(f"cannot read the baseline {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path} is not JSON ({e.msg}, line {e.lineno}): not a crosscheck audit baseline") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("answers"), dict):
        raise UsageError(f"{path} is not a crosscheck audit baseline (expected format {FORMAT!r}; "
                         "write one with crosscheck audit --save-baseline)")
    return data


@dataclass
class Change:
    key: str
    before: dict
    after: dict

    def describe(self, versions_before: dict, versions_after: dict) -> str:
        def side(a: dict) -> str:
            return f"torch {_short(a['torch'])}, jax {_short(a['jax'])} ({a['status']})"
        libs = [k for k in ("torch", "jax", "optax", "flax") if versions_before.get(k) != versions_after.get(k)] \
            or ["torch", "jax"]
        vb = ", ".join(f"{k} {versions_before.get(k, '?')}" for k in libs)
        va = ", ".join(f"{k} {versions_after.get(k, '?')}" for k in libs)
        return f"{self.key}: was {side(self.before)} on {vb}; now {side(self.after)} on {va}"


def _short(v: Any) -> str:
    text = json.dumps(v)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Comparison:
    changes: list[Change]
    versions_before: dict
    versions_after: dict
    only_before: list[str] = field(default_factory=list)
    only_after: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def report(self) -> str:
        if not self.changes:
            head = "baseline: every answer is as recorded"
        else:
            head = f"baseline: {len(self.changes)} answer(s) changed since the baseline"
        lines = [head]
        lines += [f"  CHANGED {c.describe(self.versions_before, self.versions_after)}" for c in self.changes]
        if self.only_before:
            lines.append(f"  {len(self.only_before)} aspect(s) of the baseline not compared now, e.g. "
                         f"{self.only_before[0]}")
        if self.only_after:
            lines.append(f"  {len(self.only_after)} aspect(s) new since the baseline, e.g. {self.only_after[0]}")
        return "\n".join(lines)


def _same(a: Any, b: Any, dtype: str) -> bool:
    if isinstance(a, list) or isinstance(b, list) or isinstance(a, float) or isinstance(b, float):
        try:
            fa = np.asarray(a, dtype=np.float64)
            fb = np.asarray(b, dtype=np.float64)
        except (TypeError, ValueError):
            return a == b
        return close(fa, fb, dtype if dtype in ("float32", "float64") else "float64")
    return a == b


def compare(result: AuditResult, baseline: dict) -> Comparison:
    """Every aspect whose torch or JAX answer, or verdict, differs from the baseline's."""
    now = answers(result)
    before = baseline["answers"]
    changes = []
    for key in before.keys() & now.keys():
        b, a = before[key], now[key]
        dtype = a.get("dtype", "float64")
        if b.get("status") != a["status"] or not _same(b.get("torch"), a["torch"], dtype) or \
                not _same(b.get("jax"), a["jax"], dtype):
            changes.append(Change(key, b, a))
    changes.sort(key=lambda c: c.key)
    return Comparison(changes, baseline.get("versions", {}), result.versions,
                      sorted(before.keys() - now.keys()), sorted(now.keys() - before.keys()))
