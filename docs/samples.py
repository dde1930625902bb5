"""Every sample output in README.md and docs/*.md comes from a real run of its command.

A sample is written in the page as::

    <!-- sample: crosscheck shapes --batch rows --widths 2,3,2 -->
    ```text
    $ crosscheck shapes --batch rows --widths 2,3,2
    ... the output ...
    ```
    <!-- end sample -->

(``sample slow:`` marks one the default test run leaves to ``-m slow``; a command may end in
``| head -n N`` to show its first N lines.) Commands run from the
repository root as ``python -m crosscheck ...``, as a newcomer runs them: no ``CI``, no
``CROSSCHECK_PROFILE`` (the dev profile), ``COLUMNS=100``, ``NO_COLOR=1``.

    python docs/samples.py            # rewrite every sample from a fresh run
    python docs/samples.py --check    # exit 1 naming each sample that differs (tests/test_docs_samples.py)

Compared after normalising what honestly varies between runs and machines: durations (``12.3 s``),
rates (``2,905 draws/s``) and rounding-level errors (below 1e-6, which depend on the BLAS), and line
breaks (a wrapped line moves a word when a duration is a digit longer); every other character, and so
every word in its order, must match.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"<!-- sample(?P<slow> slow)?: (?P<command>.+?) -->\n```text\n(?P<body>.*?)```\n"
                    r"<!-- end sample -->", re.S)


@dataclass(frozen=True)
class Sample:
    page: Path
    command: str
    body: str
    slow: bool

    @property
    def name(self) -> str:
        return f"{self.page.name}: {self.command}"


def samples(pages: list[Path] = PAGES) -> list[Sample]:
    return [Sample(p, m["command"], m["body"], bool(m["slow"])) for p in pages if p.exists()
            for m in _BLOCK.finditer(p.read_text(encoding="utf-8"))]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "CROSSCHECK_PROFILE", "PYTEST_ADDOPTS")}
    env.update(COLUMNS="100", NO_COLOR="1", PYTHONPATH=str(ROOT))
    return env


def run(command: str, timeout: float = 600) -> str:
    """The page's text for ``command``: the prompt line, then stdout and stderr as a terminal shows them."""
    import shlex

    line, _, head = command.partition(" | head -n ")  # the one pipe a sample may use: its first lines
    words = shlex.split(line)
    if words[0] != "crosscheck":
        raise ValueError(f"a sample command starts with 'crosscheck': {command!r}")
    proc = subprocess.run([sys.executable, "-m", "crosscheck", *words[1:]], cwd=ROOT,
                          env=environment(), capture_output=True, text=True, timeout=timeout)
    out = (proc.stdout + proc.stderr).rstrip("\n")
    if head:
        out = "\n".join(out.splitlines()[: int(head)])
    return f"$ {command}\n{out}\n"


def normalise(text: str) -> str:
    text = re.sub(r"\b\d+(\.\d+)? s\b", "<t> s", text)
    text = re.sub(r"[\d,]+ draws/s", "<n> draws/s", text)
    text = re.sub(r"\b\d(\.\d+)?e-(0[7-9]|[1-9]\d)\b", "<rounding>", text)
    # a report wraps its prose to the width, so a duration one digit longer can move a word to the next
    # line: line breaks and indents are compared as one space (the words and their order still must match)
    return re.sub(r"\s*\n\s*", " ", text).strip()


def rewrite(page: Path) -> int:
    text = page.read_text(encoding="utf-8")
    count = 0

    def fresh(m: re.Match) -> str:
        nonlocal count
        count += 1
        return (f"<!-- sample{m['slow'] or ''}: {m['command']} -->\n```text\n{run(m['command'])}```\n"
                "<!-- end sample -->")

    page.write_text(_BLOCK.sub(fresh, text), encoding="utf-8")
    return count


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = [s.name for s in samples() if normalise(run(s.command)) != normalise(s.body)]
        for name in stale:
            print(f"stale sample: {name}")
        return 1 if stale else 0
    for page in PAGES:
        if page.exists() and (n := rewrite(page)):
            print(f"{page.relative_to(ROOT)}: {n} sample(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
