"""Code that is not a module file, sent to the worker as text: a notebook's function, or a function
defined in ``__main__`` (a notebook kernel, a script).

Parent side (the worker never imports this). A notebook target ``assignment.ipynb:fn`` runs only
what ``fn`` needs: the top-level statements, in document order, that bind ``fn`` and, transitively,
every global name it reads (imports, helper functions, classes, constants), found by name with
``symtable``. Nothing else runs: no training loop, no plotting cell, no test call. IPython magics
(``%matplotlib``, ``!pip``, ``x = !ls``, ``obj?``) are blanked; a ``%%`` cell other than
``%%time``/``%%capture`` is skipped. Each kept statement is compiled under its cell's name
(``assignment.ipynb, cell 4``) with the cell's own line numbers, so a traceback names the cell.

A function defined in ``__main__`` goes the same way: its source (``inspect.getsource``, which
IPython's cells support) and the definitions it reads from its globals: modules as ``import``
lines, functions and classes of ``__main__`` as their source, functions of other modules as
``from module import name``, and plain constants (numbers, strings, tuples, lists and dicts of them)
as their ``repr``.

A chunk is ``(filename, source, cell_text)``: ``source`` is one statement padded with blank lines to
its line in the cell, ``cell_text`` the whole cell (for tracebacks' source lines).
"""

from __future__ import annotations

import ast
import builtins
import inspect
import json
import os
import re
import symtable
import textwrap
import types
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError

__all__ = ["Cell", "read_cells", "notebook_chunks", "function_chunks", "Chunk"]

Chunk = tuple[str, str, str]  # (filename, padded statement source, the whole cell's text)

_LINE_MAGIC = re.compile(r"^\s*(?:[%!]|[A-Za-z_][\w, ]*=\s*[%!])")  # %magic, !shell, x = !ls, x = %time f()
_HELP = re.compile(r"^\s*[\w.]+\s*\?\??\s*$")  # np.dot?  np.dot??
_PYTHON_CELL_MAGICS = ("time", "capture")  # %%time and %%capture run their body as Python, once
_BUILTINS = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__", "get_ipython", "display"}
_CONSTANT_TYPES = (int, float, complex, str, bytes, bool, type(None))


@dataclass
class _Stmt:
    cell: int  # index into the cells
    start: int  # first line in the cell (1-based, decorators included)
    end: int
    binds: frozenset[str]
    reads: frozenset[str]
    star: bool = False  # `from module import *`: binds names we cannot see


@dataclass
class Cell:
    """One code cell: its label (``assignment.ipynb, cell 4``), its text with magics blanked."""

    label: str
    text: str
    problem: str | None = None  # not valid Python: why
    statements: list[_Stmt] = field(default_factory=list)


def _cell_source(raw: dict) -> str:
    src = raw.get("source", raw.get("input", ""))
    return "".join(src) if isinstance(src, list) else str(src)


def _clean(text: str) -> str | None:
    """The cell with IPython's syntax blanked (line numbers kept); None for a cell magic that is not Python."""
    lines = text.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].lstrip()[2:].split()[0] if lines[first].strip() != "%%" else ""
        if magic not in _PYTHON_CELL_MAGICS:
            return None
        lines[first] = ""
    return "\n".join("" if _LINE_MAGIC.match(ln) or _HELP.match(ln) else ln for ln in lines)


def _scan(source: str) -> tuple[frozenset[str], frozenset[str]]:
    """(names a top-level statement binds, global names it reads), exactly as Python resolves them."""
    top = symtable.symtable(source, "<cell>", "exec")
    binds = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    reads = {s.get_name() for s in top.get_symbols() if s.is_referenced() and s.get_name() not in binds}

    def walk(table: symtable.SymbolTable) -> None:
        for child in table.get_children():
            for s in child.get_symbols():
                if s.is_referenced() and s.is_global() and not s.is_local():
                    reads.add(s.get_name())
                elif s.is_declared_global() and s.is_assigned():  # `global x; x = ...` binds at module level
                    binds.add(s.get_name())
            walk(child)

    walk(top)
    return frozenset(binds), frozenset(reads - _BUILTINS)


def _statements(cell_index: int, text: str) -> list[_Stmt]:
    tree = ast.parse(text)
    lines = text.split("\n")
    out = []
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        end = node.end_lineno or node.lineno
        binds, reads = _scan(textwrap.dedent("\n".join(lines[start - 1:end])))
        star = isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
        out.append(_Stmt(cell_index, start, end, binds, reads, star))
    return out


def read_cells(path: str) -> list[Cell]:
    """The notebook's code cells, numbered as they are counted in the notebook (code cells, from 1).
    Raises ``UsageError`` when the file is not a notebook."""
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as e:
        raise UsageError(f"cannot read the notebook {path} ({e.strerror or e})") from None
    except ValueError as e:
        raise UsageError(f"{path} is not a notebook (not JSON: {e})") from None
    raw_cells = data.get("cells") if isinstance(data, dict) else None
    if raw_cells is None and isinstance(data, dict) and data.get("worksheets"):  # nbformat 3
        raw_cells = data["worksheets"][0].get("cells")
    if not isinstance(raw_cells, list):
        raise UsageError(f"{path} is not a Jupyter notebook (no 'cells' list)")
    cells: list[Cell] = []
    for raw in raw_cells:
        if not isinstance(raw, dict) or raw.get("cell_type") != "code":
            continue
        label = f"{name}, cell {len(cells) + 1}"
        text = _clean(_cell_source(raw))
        cell = Cell(label, text if text is not None else "")
        if text is None:
            cell.problem = "a cell magic (skipped)"
        else:
            try:
                cell.statements = _statements(len(cells), text)
            except SyntaxError as e:
                cell.problem = f"not valid Python (line {e.lineno}: {e.msg})"
        cells.append(cell)
    return cells


def _select(cells: list[Cell], roots: list[str]) -> list[_Stmt]:
    """The statements that bind ``roots`` and everything they read, in document order."""
    stmts = [s for c in cells for s in c.statements]
    last: dict[str, _Stmt] = {}
    for s in stmts:  # a later definition wins, as after "Run All"
        for n in s.binds:
            last[n] = s
    chosen: set[int] = set()
    todo, seen = list(roots), set()
    unresolved = []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        s = last.get(name)
        if s is None:
            unresolved.append(name)
            continue
        if id(s) not in chosen:
            chosen.add(id(s))
            todo.extend(s.reads)
    if unresolved:  # names a `from module import *` may provide
        for s in stmts:
            if s.star and id(s) not in chosen:
                chosen.add(id(s))
                todo.extend(s.reads)
    return [s for s in stmts if id(s) in chosen]


def notebook_chunks(path: str, names: list[str] | None) -> tuple[Chunk, ...]:
    """What the worker runs for ``path`` (a notebook): the statements ``names`` need; ``names=None``
    takes every public top-level function (the layer API's whole-module target). Raises ``UsageError``
    naming the cells when a name is not defined by any cell."""
    cells = read_cells(path)
    defined = {n: c for c in cells for s in c.statements for n in s.binds}
    if names is None:
        names = sorted(n for c in cells for s in c.statements for n in s.binds
                       if not n.startswith("_") and _is_def(c, s))
    for n in names:
        if n not in defined:
            bad = [f"{c.label}: {c.problem}" for c in cells if c.problem and c.problem != "a cell magic (skipped)"]
            funcs = sorted({n2 for c in cells for s in c.statements for n2 in s.binds if _is_def(c, s)})
            hint = f"; functions defined there: {', '.join(funcs)}" if funcs else ""
            extra = f" ({'; '.join(bad)})" if bad else ""
            raise UsageError(f"no cell of {path} defines {n!r}{hint}{extra}")
    out = []
    for s in _select(cells, list(names)):
        cell = cells[s.cell]
        lines = cell.text.split("\n")
        body = "\n" * (s.start - 1) + "\n".join(lines[s.start - 1:s.end]) + "\n"
        out.append((cell.label, body, cell.text))
    return tuple(out)


def _is_def(cell: Cell, s: _Stmt) -> bool:
    text = "\n".join(cell.text.split("\n")[s.start - 1:s.end]).lstrip()
    return text.startswith(("def ", "async def ", "class ", "@"))


# ---- functions of __main__ ----------------------------------------------------------------------

def _constant(value: Any, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if isinstance(value, _CONSTANT_TYPES):
        return True
    if isinstance(value, (tuple, list)):
        return len(value) <= 1000 and all(_constant(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= 1000 and all(_constant(k, depth + 1) and _constant(v, depth + 1) for k, v in value.items())
    return False


def _definition(name: str, value: Any, main: str) -> tuple[str, bool] | None:
    """(source defining ``name`` as ``value``, whether it is code of ``main`` to scan further)."""
    if isinstance(value, types.ModuleType):
        mod = value.__name__
        if mod == name:
            return f"import {mod}\n", False
        if "." in mod and mod.rsplit(".", 1)[1] == name:
            return f"from {mod.rsplit('.', 1)[0]} import {name}\n", False
        return f"import {mod} as {name}\n", False
    module = getattr(value, "__module__", None)
    if isinstance(value, (types.FunctionType, type)):
        if module == main:
            try:
                source = textwrap.dedent(inspect.getsource(value))
            except (OSError, TypeError):
                return None
            if getattr(value, "__name__", None) != name:
                source += f"{name} = {value.__name__}\n"
            return source, True
        qual = getattr(value, "__qualname__", "")
        if isinstance(module, str) and qual and "<" not in qual and "." not in qual:
            alias = "" if qual == name else f" as {name}"
            return f"from {module} import {qual}{alias}\n", False
        return None
    if isinstance(value, types.BuiltinFunctionType) and isinstance(module, str):
        return f"from {module} import {value.__name__} as {name}\n", False
    if _constant(value):
        return f"{name} = {value!r}\n", False
    return None


def function_chunks(fn: Any) -> tuple[Chunk, ...]:
    """The source of ``fn`` (defined in ``__main__``) and of the globals it reads, for the worker.
    Raises ``UsageError`` for a global it reads that cannot be sent as text (an array, an object)."""
    main = fn.__module__
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        raise UsageError(f"the source of {fn.__qualname__!r} cannot be found (defined with exec or typed at a bare "
                         "interpreter prompt); put it in a notebook cell or a file") from None
    label = f"{main}:{fn.__qualname__}"
    g = fn.__globals__
    pieces: list[tuple[str, str]] = []  # (name, source), dependencies first
    seen: set[str] = {fn.__name__}
    problems: list[str] = []

    def visit(src: str, owner: str) -> None:
        try:
            _, reads = _scan(src)
        except SyntaxError:
            return
        for name in sorted(reads):
            if name in seen:
                continue
            seen.add(name)
            if name not in g:
                continue  # a builtin, or undefined: the call says so (NameError) as it would in the notebook
            found = _definition(name, g[name], main)
            if found is None:
                problems.append(f"{name} ({type(g[name]).__name__}, read by {owner})")
                continue
            text, scan = found
            if scan:
                visit(text, name)
            pieces.append((name, text))

    visit(source, fn.__qualname__)
    if problems:
        raise UsageError(f"{label} reads globals that cannot be sent to the sandbox as source: "
                         f"{', '.join(problems)}; pass them as arguments, or define them inside the function")
    chunks = [(f"{main}:{name}", text, text) for name, text in pieces]
    chunks.append((label, source, source))
    return tuple(chunks)
