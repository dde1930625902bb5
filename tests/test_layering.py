"""The house stays standing: the package's import graph, read with ``ast``, against one table of layers.

``LAYERS`` below is the one statement of the intended layering. A module may import only modules of
a lower layer, or of its own wing. There are no circles, no private name crosses a module boundary,
the model wing imports nothing but NumPy, the sandbox's worker side imports nothing of crosscheck,
no backend calls the reference and no formula route calls another. The README's module map
("How it is built") is generated from the same table: ``python tests/test_layering.py --readme``
rewrites it, and ``test_readme_map_is_the_table`` keeps the two equal.

Every import counts, including those inside functions (a lazy import is still a dependency);
``cli`` and the package's ``__init__`` name their commands and lazy attributes as strings, which
is how the faces reach every job without importing them at start-up.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "crosscheck"

# (wing, layer, what it holds) -- lowest first. A wing is a module or a subpackage of crosscheck.
LAYERS: tuple[tuple[str, int, str], ...] = (
    ("errors", 0, "the exception classes every part raises"),
    ("version", 0, "the release number"),
    ("output", 1, "reports written atomically; arrays formatted for reading"),
    ("terminal", 1, "tables that fit the terminal, colour and progress only on a TTY"),
    ("tolerance", 1, "the tolerance policy and its reasoning"),
    ("profiles", 1, "hypothesis profiles: ci, dev, thorough"),
    ("model", 2, "network, activations, losses, penalties, conventions, case, presets, kink conventions: "
                 "the one description of a network and its layouts (NumPy only)"),
    ("reference", 3, "the seed formulas, one route per module (recursive, explicit, kronecker, jacobian), "
                     "numeric oracles, per-layer VJPs"),
    ("backends", 4, "torch and JAX building each network natively, imported lazily, never calling the reference"),
    ("compare", 4, "comparing two sets of gradients under the tolerance policy"),
    ("draws", 4, "NumPy value draws for a network, with kink margins"),
    ("layout", 4, "`crosscheck shapes`: every quantity's shape and formula in a convention"),
    ("plot", 4, "gradient heatmaps"),
    ("sandbox", 4, "untrusted code confined: client, targets, verdicts, isolation, boot, supervisor, worker, "
                 "protocol"),
    ("environment", 5, "versions and precision settings of the frameworks, `crosscheck env`"),
    ("strategies", 5, "public hypothesis strategies: networks, conventions, cases"),
    ("frameworks", 5, "a user's own torch or JAX model read into a convention: network_from_torch, "
                      "torch_gradients, jax_gradients"),
    ("diagnosis", 5, "explaining a mismatch: alternatives searched, intermediates reconstructed, "
                     "the catalogue named on top"),
    ("testing", 6, "`assert_grads_close` and friends for the user's own tests"),
    ("layers", 6, "the layer API check (`--api cs231n`) and the layer sweep"),
    ("sweep", 7, "the sweep job: routes and backends against the reference, triage, report"),
    ("check", 8, "the check job: an implementation run confined, compared, diagnosed"),
    ("grade", 9, "the grading job: configs, parts, scores, Gradescope output"),
    ("audit", 9, "the torch/JAX conventions table and its probes"),
    ("port", 10, "`crosscheck port`: a torch model against its JAX/Flax port, the mistake located and named "
                "(reads the audit's table)"),
    ("cli", 10, "the `crosscheck` command"),
    ("pytest_plugin", 10, "the pytest plugin (entry point `pytest11`)"),
    ("__main__", 11, "`python -m crosscheck`"),
    ("", 10, "the package face: the public surface in `__all__`"),
)
# the worker side of the sandbox: its sources run in a fresh interpreter where crosscheck is hidden
WORKER_SIDE = ("crosscheck.sandbox.worker", "crosscheck.sandbox.protocol", "crosscheck.sandbox.supervisor",
               "crosscheck.sandbox.filters", "crosscheck.sandbox.adapters", "crosscheck.sandbox.guard",
               "crosscheck.sandbox.loading", "crosscheck.sandbox.namespaces")
# the worker and the supervisor import their siblings only when tests load them from the package; in the
# sandbox one boot runs each one's files together (crosscheck.sandbox.isolation)
WORKER_SIDE_ALLOWED = {("crosscheck.sandbox.worker", f"crosscheck.sandbox.{sibling}")
                       for sibling in ("protocol", "filters", "adapters", "guard", "loading")} \
    | {("crosscheck.sandbox.supervisor", "crosscheck.sandbox.namespaces")}
# independence of oracles: these may not import the reference (the numpy backend *is* the reference)
INDEPENDENT_OF_REFERENCE = ("crosscheck.backends.base", "crosscheck.backends.torch", "crosscheck.backends.jax",
                            "crosscheck.backends.padded")
ROUTES = ("crosscheck.reference.recursive", "crosscheck.reference.explicit", "crosscheck.reference.kronecker",
          "crosscheck.reference.jacobian", "crosscheck.reference.numeric")
MODEL_THIRD_PARTY = {"numpy"}


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module
    names: tuple[str, ...]  # names taken from it ("" for `import x`)
    line: int


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_graph(package: Path) -> tuple[dict[str, list[Edge]], dict[str, set[str]]]:
    """Every module of ``package`` -> its imports of the package (edges) and the top-level names of
    everything else it imports (third-party and stdlib)."""
    top = package.name
    files = {module_name(p, package): p for p in package.rglob("*.py")}
    edges: dict[str, list[Edge]] = {m: [] for m in files}
    others: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        here = mod if is_pkg else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == top:
                        edges[mod].append(Edge(mod, alias.name, ("",), node.lineno))
                    else:
                        others[mod].add(alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != top:
                    others[mod].add(target.split(".")[0])
                    continue
                for alias in node.names:  # `from pkg import submodule` is an import of the submodule
                    sub = f"{target}.{alias.name}"
                    if sub in files:
                        edges[mod].append(Edge(mod, sub, ("",), node.lineno))
                    else:
                        edges[mod].append(Edge(mod, target, (alias.name,), node.lineno))
    return edges, others


def wing_of(module: str, top: str = "crosscheck") -> str:
    rest = module[len(top) + 1:] if module != top else ""
    return rest.split(".")[0]


def layer_table() -> dict[str, int]:
    return {wing: layer for wing, layer, _ in LAYERS}


def circles(edges: dict[str, list[Edge]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or a module importing itself."""
    graph = {m: sorted({e.target for e in es if e.target in edges}) for m, es in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                found.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return found


def violations(package: Path, layers: dict[str, int] | None = None) -> list[str]:
    """Every broken rule, one line each: ``module:line: what``."""
    layers = layer_table() if layers is None else layers
    top = package.name
    edges, others = read_graph(package)
    out = [f"import circle: {' <-> '.join(c)}" for c in circles(edges)]
    for mod, es in edges.items():
        src_wing = wing_of(mod, top)
        if src_wing not in layers:
            out.append(f"{mod}: wing {src_wing!r} is not in the layer table")
            continue
        for e in es:
            where = f"{mod}:{e.line}"
            dst_wing = wing_of(e.target, top)
            if dst_wing not in layers:
                out.append(f"{where}: imports {e.target}, whose wing {dst_wing!r} is not in the layer table")
                continue
            if dst_wing != src_wing and layers[dst_wing] >= layers[src_wing]:
                out.append(f"{where}: {src_wing!r} (layer {layers[src_wing]}) imports {e.target} "
                           f"({dst_wing!r}, layer {layers[dst_wing]}): only lower layers may be imported")
            private = [n for n in e.names if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))]
            if private:
                out.append(f"{where}: imports private {', '.join(private)} from {e.target}")
            if any(p.startswith("_") and not p.startswith("__") for p in e.target.split(".")) \
                    and e.target.rpartition(".")[0] != mod.rpartition(".")[0]:
                out.append(f"{where}: imports the private module {e.target}")
            if mod in WORKER_SIDE and (mod, e.target) not in WORKER_SIDE_ALLOWED:
                out.append(f"{where}: the sandbox's worker side imports {e.target}")
            if mod.startswith(INDEPENDENT_OF_REFERENCE) and wing_of(e.target, top) == "reference":
                out.append(f"{where}: a backend imports the reference ({e.target}): oracles must stay independent")
            if mod in ROUTES and e.target in ROUTES and e.target != mod:
                out.append(f"{where}: route {mod} calls route {e.target}: routes share only the forward pass")
        if src_wing == "model":
            for e in es:
                if wing_of(e.target, top) not in ("model", "errors"):
                    out.append(f"{mod}:{e.line}: the model wing imports {e.target}")
            foreign = sorted(n for n in others[mod] if n not in sys.stdlib_module_names and n not in MODEL_THIRD_PARTY
                             and n != "__future__")
            if foreign:
                out.append(f"{mod}: the model wing imports {', '.join(foreign)} (NumPy only)")
    return out


def test_the_package_keeps_its_layers():
    problems = violations(PACKAGE)
    assert not problems, "the layering is broken:\n" + "\n".join(problems)


def test_every_wing_on_disk_is_in_the_table():
    on_disk = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
               if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    on_disk = {("" if n == "__init__" else n) for n in on_disk}
    assert on_disk == set(layer_table()), f"table and package differ: {on_disk ^ set(layer_table())}"


def test_every_subpackage_says_what_it_owns_and_may_import():
    for init in PACKAGE.rglob("__init__.py"):
        if init.parent == PACKAGE:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert doc, f"{init.relative_to(ROOT)} has no docstring"
        if init.parent.parent == PACKAGE:  # a wing: its imports are part of its contract
            assert "may import" in doc.lower(), f"{init.relative_to(ROOT)}: say what the wing may import"


# ---- meta-tests: the checker itself fails on what it must catch ---------------------------------------

def _scratch(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "crosscheck"
    for name, text in {"__init__.py": "", "errors.py": "", "model/__init__.py": '"""may import numpy."""',
                       "model/network.py": "import numpy\n", "sweep/__init__.py": '"""may import."""',
                       "sweep/run.py": "from ..model.network import x\n", **files}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    return pkg


SCRATCH_LAYERS = {"": 9, "errors": 0, "model": 1, "sweep": 6, "reference": 2}


def test_meta_a_clean_scratch_package_passes(tmp_path):
    assert violations(_scratch(tmp_path, {}), SCRATCH_LAYERS) == []


@pytest.mark.parametrize("files, expected", [
    ({"model/network.py": "def f():\n    from ..sweep.run import run\n"}, "only lower layers may be imported"),
    ({"model/network.py": "from ..sweep import run\n"}, "only lower layers may be imported"),
    ({"model/network.py": "import torch\n"}, "the model wing imports torch"),
    ({"model/a.py": "from .b import x\n", "model/b.py": "from .a import y\n"}, "import circle"),
    ({"sweep/args.py": "from .run import _private\n"}, "imports private _private"),
    ({"sweep/args.py": "from ._hidden import thing\n", "model/_hidden.py": "",
      "model/c.py": "from ._hidden import thing\n"}, None),
    ({"sweep/args.py": "from ..model._hidden import thing\n", "model/_hidden.py": ""}, "private module"),
    ({"stray.py": ""}, "not in the layer table"),
])
def test_meta_the_checker_catches(tmp_path, files, expected):
    problems = violations(_scratch(tmp_path, files), SCRATCH_LAYERS)
    if expected is None:  # a private module imported by its own package: allowed
        assert not any("private module crosscheck.model._hidden" in p and "model.c" in p for p in problems)
        return
    assert any(expected in p for p in problems), problems


def test_meta_a_deliberate_upward_import_in_the_real_package_fails(tmp_path):
    """The real package, copied, with one upward import added: the checker must refuse it."""
    import shutil

    copy = tmp_path / "crosscheck"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    net = copy / "model" / "network.py"
    net.write_text(net.read_text() + "\n\ndef _upward():\n    from ..check.job import run_check  # noqa\n")
    problems = violations(copy)
    assert any("crosscheck.model.network" in p and "only lower layers" in p for p in problems), problems
    assert any("the model wing imports crosscheck.check.job" in p for p in problems), problems


# ---- the README's module map, generated from the table -------------------------------------------------

MAP_START = ("<!-- module map: generated from tests/test_layering.py (LAYERS); "
             "python tests/test_layering.py --readme -->")
MAP_END = "<!-- end of module map -->"


def readme_map() -> str:
    rows = ["| layer | wing | holds |", "|---|---|---|"]
    for wing, layer, holds in sorted(LAYERS, key=lambda r: r[1]):
        path = PACKAGE / wing
        name = "`crosscheck/__init__.py`" if not wing else (f"`{wing}/`" if path.is_dir() else f"`{wing}.py`")
        rows.append(f"| {layer} | {name} | {holds} |")
    return "\n".join([MAP_START, "", *rows, "", MAP_END])


def _readme_section(text: str) -> str:
    start, end = text.find(MAP_START), text.find(MAP_END)
    assert start >= 0 and end > start, "README.md has no module map: python tests/test_layering.py --readme"
    return text[start:end + len(MAP_END)]


def test_readme_map_is_the_table():
    text = (ROOT / "README.md").read_text()
    assert _readme_section(text) == readme_map(), "README's module map is stale: python tests/test_layering.py --readme"


if __name__ == "__main__":
    if sys.argv[1:] == ["--readme"]:
        readme = ROOT / "README.md"
        text = readme.read_text()
        readme.write_text(text.replace(_readme_section(text), readme_map()))
        print("README.md: module map regenerated")
    else:
        problems = violations(PACKAGE)
        print("\n".join(problems) or "the layering holds")
        sys.exit(1 if problems else 0)
