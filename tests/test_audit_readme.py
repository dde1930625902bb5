"""The porting table (docs/layouts-and-porting.md) is the audit's own output: every row of it is
produced by the installed libraries (rows that need optax or flax only where those are installed),
and the page leaves out no difference the audit finds."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("jax")

from crosscheck.audit.probes import run_audit  # noqa: E402
from crosscheck.audit.readme import table_rows  # noqa: E402
from crosscheck.audit.report import format_markdown  # noqa: E402

README = Path(__file__).resolve().parent.parent / "docs" / "layouts-and-porting.md"
REGENERATE = "regenerate it with: python -m crosscheck.audit.readme docs/layouts-and-porting.md"


@pytest.fixture(scope="module")
def produced():
    result = run_audit()
    return result, format_markdown(result).splitlines()[2:]


def _needs_missing(row: str, result) -> bool:
    missing = [u.split(": ")[-1].split()[0] for u in result.unavailable]
    return any(f"{lib}." in row for lib in missing)


def test_every_readme_row_is_what_the_libraries_do(produced):
    result, rows = produced
    documented = table_rows(README.read_text())
    assert documented, "docs/layouts-and-porting.md has no generated audit table"
    stale = [r for r in documented if r not in rows and not _needs_missing(r, result)]
    assert not stale, f"README rows these versions do not produce ({REGENERATE}):\n" + "\n".join(stale)


def test_the_readme_leaves_out_no_difference(produced):
    result, rows = produced
    documented = set(table_rows(README.read_text()))
    missing = [r for r in rows if r not in documented]
    assert not missing, f"differences missing from docs/layouts-and-porting.md ({REGENERATE}):\n" + "\n".join(missing)


def test_the_readme_names_the_versions_it_was_made_on():
    text = README.read_text()
    assert "On torch 2.13.0" in text and "jax 0.10.2" in text
    pins = (Path(__file__).resolve().parent.parent / "ci" / "constraints.txt").read_text()
    assert "torch==2.13.0" in pins and "jax==0.10.2" in pins
