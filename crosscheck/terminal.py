"""What crosscheck prints to a terminal: tables that fit its width, colour and progress only on a TTY.

- Width: the terminal's on a TTY (``$COLUMNS`` wins), else 100 columns, so a CI log stays readable.
  A table shrinks its flexible columns first, then elides cells with ``...``; the full text is
  in ``--json`` and ``--markdown``.
- Colour: only on a TTY, never with ``NO_COLOR`` set (https://no-color.org) or ``TERM=dumb``.
- Progress: one line on stderr, redrawn in place, with an ETA once the run has taken 2 s; nothing
  at all when stderr is not a TTY or under ``CI``.
- Short failure messages: what a failing ``check_implementation`` raises. A CI log is read top down, and
  pytest prints an exception's whole message (twice under ``CI=true``: in the traceback and in the short
  summary). So the raised message is a few lines: the verdict with the first diagnosis, the minimal case in
  one line and the reproduce command. The full report stays on ``error.report`` and, under pytest, in the
  test's "crosscheck report" section (``crosscheck.pytest_plugin``), minus the lines already shown.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import textwrap
import time
from collections.abc import Sequence
from typing import IO, Any

__all__ = ["width", "fit_table", "wrap", "elide", "colour", "use_colour", "Progress", "LOG_WIDTH", "short_message",
           "headline", "details", "shell_wrap", "fit_lines", "paint_verdict"]

LOG_WIDTH = 100  # columns when the output is not a terminal (a CI log, a file, a pipe)
_MIN_WIDTH = 60


def _isatty(stream: IO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def width(stream: IO | None = None) -> int:
    """Columns to fit: ``$COLUMNS``, else the terminal's on a TTY, else :data:`LOG_WIDTH`."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return max(int(env), _MIN_WIDTH)
    if _isatty(stream if stream is not None else sys.stdout):
        return max(shutil.get_terminal_size((LOG_WIDTH, 24)).columns, _MIN_WIDTH)
    return LOG_WIDTH


def elide(text: str, n: int) -> str:
    """``text`` cut to ``n`` characters, ending in ``...`` when cut."""
    return text if len(text) <= n else (text[: max(n - 3, 0)] + "...")[:n]


def wrap(text: str, columns: int, indent: str = "", subsequent: str | None = None) -> list[str]:
    """``text`` wrapped to ``columns``, words kept whole where they fit (long ones broken)."""
    return textwrap.wrap(text, columns, initial_indent=indent,
                         subsequent_indent=indent if subsequent is None else subsequent,
                         break_on_hyphens=False) or [indent.rstrip()]


def shell_wrap(command: str, columns: int, prefix: str = "", indent: str = "    ") -> list[str]:
    """A shell command as lines of at most ``columns`` characters, continued with `` \\`` at argument
    boundaries (an option stays with its value), so the lines pasted into a shell run the same argv:
    joined (each `` \\`` + newline removed), they ``shlex.split`` to what ``command`` splits to. A
    single argument longer than a line keeps its line to itself. A command that does not split (an
    unmatched quote) is one line, as given."""
    try:
        words = [shlex.quote(w) for w in shlex.split(command)]
    except ValueError:
        return [prefix + command]
    groups: list[str] = []
    for w in words:  # "--seed 12": an option and its value on one line where they fit on one
        if (groups and groups[-1].startswith("-") and " " not in groups[-1] and not w.startswith("-")
                and len(indent) + len(groups[-1]) + len(w) + 3 <= columns):
            groups[-1] += " " + w
        else:
            groups.append(w)
    lines: list[str] = []
    line = prefix
    while groups:
        g = groups.pop(0)
        lead = line if line == prefix else line + " "
        if len(lead + g) + 2 <= columns:  # room for " \\" on the line it may end
            line = lead + g
        elif " " in g and (line == prefix or len(indent + g) + 2 > columns):  # option and value: apart
            groups[:0] = g.split(" ")
        elif line == prefix:  # the first argument stays beside the prefix, however long
            line = lead + g
        else:
            lines.append(line + " \\")
            line = indent + g
    return lines + [line]


def _continuation(line: str) -> tuple[str, str]:
    """(first-line indent, next-lines indent) for a prose line: its own indent, then four more, or
    the quoted-output mark ``  | `` repeated."""
    lead = line[: len(line) - len(line.lstrip(" "))]
    if line.startswith(lead + "| "):
        return lead, lead + "|   "
    # "  1. transposed at dW1 ..." and "  [FAIL] depth 2: ...": continued under the text, past the mark
    numbered = re.match(r"\d+\. |\[[A-Z]+\] ", line[len(lead):])
    return lead, lead + " " * (len(numbered.group(0)) if numbered else 4)


def fit_lines(lines: Sequence[str], columns: int, *, heads: Sequence[int] = (), colour: bool = False) -> list[str]:
    """A report's lines fitted to ``columns`` (0: as they are): prose wrapped with an indent, a
    ``reproduce:`` line wrapped as a shell command (:func:`shell_wrap`); a line that fits is left
    alone. With ``colour``, the verdict word that starts each of the lines ``heads`` indexes is
    painted (:func:`paint_verdict`): only lines the report wrote itself, never quoted output."""
    out: list[str] = []
    for i, logical in enumerate(lines):
        for j, line in enumerate(logical.split("\n")):  # an array's rows are lines of their own
            out += _fit_line(line, columns, paint=colour and i in heads and j == 0)
    return out


def _fit_line(line: str, columns: int, *, paint: bool) -> list[str]:
    """One physical line as the lines that fit ``columns`` (see :func:`fit_lines`)."""
    if columns <= 0 or len(line) <= columns:
        fitted = [line]
    elif line.lstrip().startswith("reproduce: "):
        lead = line[: len(line) - len(line.lstrip())]
        fitted = shell_wrap(line.lstrip()[len("reproduce: "):], columns, prefix=lead + "reproduce: ",
                            indent=lead + "    ")
    else:
        first, rest = _continuation(line)
        fitted = textwrap.wrap(line[len(first):], columns, initial_indent=first, subsequent_indent=rest,
                               break_on_hyphens=False, break_long_words=False) or [line]
    if paint:
        fitted[0] = paint_verdict(fitted[0])
    return fitted


_VERDICT_COLOURS = {"PASS": "green", "FAIL": "red", "ERROR": "red", "MISSING": "yellow", "UNEXPLAINED": "red"}
_VERDICT = re.compile(r"(\s*\[?)(PASS|FAIL|ERROR|MISSING|UNEXPLAINED)\b")


def paint_verdict(line: str) -> str:
    """``line`` with the verdict word that starts it (after spaces or ``[``) in its colour. The caller
    decides whether colour is on (:func:`use_colour`) and that the line is its own, not quoted text."""
    m = _VERDICT.match(line)
    if not m:
        return line
    word = m.group(2)
    return f"{line[:m.start(2)]}\033[{_CODES[_VERDICT_COLOURS[word]]}m{word}\033[0m{line[m.end(2):]}"


def fit_table(rows: Sequence[Sequence[str]], columns: int, *, flexible: Sequence[int] = (),
              minimum: int = 6, indent: str = "", gap: str = "  ") -> list[str]:
    """Rows (the first is the header) as aligned lines of at most ``columns`` characters.

    Each column is as wide as its widest cell; when the table is too wide, the ``flexible``
    columns shrink first (in the order given, each down to ``minimum``), then the widest of the
    others, until the table fits; a cell wider than its column is elided with ``...``."""
    if not rows:
        return []
    n = len(rows[0])
    widths = [max(len(str(r[i])) for r in rows) for i in range(n)]
    budget = columns - len(indent) - len(gap) * (n - 1)
    order = list(flexible) + sorted((i for i in range(n) if i not in flexible), key=lambda i: -widths[i])
    for i in order:
        excess = sum(widths) - budget
        if excess <= 0:
            break
        widths[i] = max(minimum, widths[i] - excess)
    while sum(widths) > budget and max(widths) > 1:  # even the minimums do not fit: shrink the widest
        widths[widths.index(max(widths))] -= 1
    out = []
    for r in rows:
        cells = [elide(str(c), w).ljust(w) for c, w in zip(r, widths)]
        out.append((indent + gap.join(cells)).rstrip())
    return out


def use_colour(stream: IO | None = None) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return _isatty(stream if stream is not None else sys.stdout)


_CODES = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}


def colour(text: str, name: str, stream: IO | None = None) -> str:
    """``text`` in ``name`` (red, green, yellow, bold, dim) on a colour terminal; else unchanged."""
    return f"\033[{_CODES[name]}m{text}\033[0m" if use_colour(stream) else text


class Progress:
    """One progress line on stderr: ``label  done/total  ETA 12 s``, shown only on a TTY (not under
    ``CI``), and only once the run has taken ``after`` seconds, so short runs print nothing.

    ``update(done, total, extra="")`` redraws at most ten times a second; ``close()`` clears the line."""

    def __init__(self, label: str, *, stream: IO | None = None, after: float = 2.0,
                 enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.after = after
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._shown = False
        if enabled is None:
            enabled = _isatty(self.stream) and not os.environ.get("CI")
        self.enabled = enabled

    def line(self, done: int, total: int | None, extra: str = "", now: float | None = None) -> str:
        """The text of the line (also for tests): count, share, ETA from the rate so far."""
        now = time.perf_counter() if now is None else now
        elapsed = now - self.t0
        text = f"{self.label}  {done}" + (f"/{total}" if total else "")
        if total and 0 < done < total:
            eta = elapsed / done * (total - done)
            text += f"  ETA {eta:.0f} s" if eta < 120 else f"  ETA {eta / 60:.0f} min"
        elif not total:
            text += f"  {elapsed:.0f} s"
        return text + (f"  {extra}" if extra else "")

    def update(self, done: int, total: int | None = None, extra: str = "") -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.t0 < self.after or now - self._last < 0.1:
            return
        self._last = now
        cols = width(self.stream) - 1
        self.stream.write("\r" + elide(self.line(done, total, extra, now), cols).ljust(cols))
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            cols = width(self.stream) - 1
            self.stream.write("\r" + " " * cols + "\r")
            self.stream.flush()
            self._shown = False


# ---- short failure messages -------------------------------------------------------------------
_OUTPUT_TAIL = 6  # lines of the implementation's own output kept in a short error message


def short_message(report: Any) -> str:
    """Verdict, first diagnosis (or the error and the tail of its output), case, reproduce line.

    report: a ``CheckReport`` (``verdict`` "fail" or "error") or a ``LayersReport``."""
    full = _logical(report)
    if not full:
        return ""
    lines = [full[0]]
    diagnosis = getattr(report, "diagnosis", None)
    if getattr(report, "verdict", None) == "fail" and diagnosis:
        # the verdict and the first diagnosis in one line: the first thing a CI log shows
        d = diagnosis[0]
        more = f" (+{len(diagnosis) - 1} more in the report)" if len(diagnosis) > 1 else ""
        ids = ", ".join(x.id for x in diagnosis)
        lines = [f"FAIL: {report.target} [{ids}]: {d.parameter} (layer {d.layer}): {d.detail}{more}"]
    elif getattr(report, "verdict", None) == "error":
        output = [line for line in str(getattr(report, "output", "")).splitlines() if line.strip()]
        if output:
            lines.append("implementation output (last lines):")
            lines += ["  | " + line for line in output[-_OUTPUT_TAIL:]]
    elif not diagnosis:  # a layer report: the failing layers' lines, their first diagnoses, one reproduce line
        rest = [line.strip() for line in full[1:]]
        lines += ["  " + line for line in rest if line.startswith(("FAIL ", "ERROR "))][:4]
        lines += ["  " + line for line in rest if line.startswith("1. ")][:4]
        lines += [line for line in rest if line.startswith("reproduce:")][:1]
    case = getattr(report, "case", None)
    if case is not None:
        lines.append(f"case: {case.describe()}")
    reproduce = getattr(report, "reproduce", "")
    if reproduce:
        lines.append(f"reproduce: {reproduce}")
    return "\n".join(lines)


def headline(report: Any) -> str:
    """The verdict with the diagnosis ids in one line: the test summary's line. A check report's first
    line is that; a layer report's failing layers are joined (``FAIL affine: [transposed_dw]; ...``)."""
    full = _logical(report)
    if not hasattr(report, "verdict"):
        failing = [" ".join(line.split()) for line in full[1:] if line.strip().startswith(("FAIL ", "ERROR "))]
        if failing:
            return "; ".join(failing)
    return full[0] if full else ""


def details(report: Any, shown: str) -> str:
    """The full report without the lines ``shown`` already holds (so nothing is printed twice)."""
    seen = {line.strip() for line in shown.splitlines() if line.strip()}
    seen.add(headline(report).strip())  # the test summary's line
    first = getattr(report, "diagnosis", None)
    if first:  # the short message rewrote the first diagnosis line; leave the original out too
        d = first[0]
        seen.add(f"1. {d.id} at {d.parameter} (layer {d.layer}): {d.detail}")
    if first is not None and len(first) == 1:  # its header would head nothing
        seen.add("diagnosis, most likely first:")
    rest = [line for line in _logical(report) if line.strip() not in seen]
    return "\n".join(fit_lines(rest, width()))


def _logical(report: Any) -> list[str]:
    """A report's unwrapped lines (``lines()`` where it has them): what is matched against, then fitted."""
    lines = report.lines() if hasattr(report, "lines") else report.summary().split("\n")
    return "\n".join(lines).splitlines()
