"""The porting table of ``docs/layouts-and-porting.md``, generated from the audit's own output.

    python -m crosscheck.audit.readme docs/layouts-and-porting.md   # rewrite the block between the markers

``tests/test_audit_readme.py`` checks that every row of the page's table is what the installed
libraries produce, and that the tool finds no difference the page leaves out.
"""

from __future__ import annotations

import re
import sys

from .report import format_markdown
from .results import AuditResult

__all__ = ["START", "END", "block", "table_rows", "rewrite"]

START = "<!-- crosscheck audit --markdown: start -->"
END = "<!-- crosscheck audit --markdown: end -->"


def block(result: AuditResult) -> str:
    v = result.versions
    libs = ", ".join(f"{k} {v[k]}" for k in ("torch", "jax", "optax", "flax") if k in v)
    return "\n".join([START, "", f"On {libs}:", "", format_markdown(result), "", END])


def table_rows(text: str) -> list[str]:
    """The table rows (not header or rule) of the generated block in ``text``."""
    m = re.search(re.escape(START) + r"(.*?)" + re.escape(END), text, re.S)
    if not m:
        return []
    lines = [ln for ln in m.group(1).splitlines() if ln.startswith("| ")]
    return lines[1:]  # without the header


def rewrite(path: str, result: AuditResult) -> None:
    text = open(path, encoding="utf-8").read()
    if START not in text or END not in text:
        raise SystemExit(f"{path}: no {START} ... {END} block to rewrite")
    a, b = text.index(START), text.index(END) + len(END)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:a] + block(result) + text[b:])


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool, exercised by the README test
    from .probes import run_audit

    rewrite(sys.argv[1] if len(sys.argv) > 1 else "docs/layouts-and-porting.md", run_audit())
