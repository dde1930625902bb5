"""The grading config (``GRADING.toml``): read with tomllib, every key checked, one-line errors.

::

    [grade]                       # defaults for every check
    forbid_imports = ["torch", "jax"]
    timeout = 10                  # seconds per call
    examples = 30
    seed = 0

    [[check]]
    name = "Two-layer net"
    target = "nn.py:loss_grads"   # relative to the submission
    preset = "cs231n"
    max_depth = 2                 # one part per depth: 1, 2
    points = 10

    [autograder]                  # the Gradescope bundle (crosscheck grade --autograder)
    visibility = "visible"        # results.json's top-level visibility
    stdout_visibility = "hidden"  # whether students see the autograder's log
    requirements = ["torch"]      # more packages the submission may import (pinned as installed here)
    files = ["data/*.npz"]        # teacher's files shipped beside grading.toml (adapters are shipped anyway)
    offline = true                # the dependencies' wheels in the zip too: setup.sh needs no package index

A ``[[check]]`` takes every option of ``crosscheck check`` with ``-`` written ``_``, plus
``name``, ``target`` and ``points``, ``visibility`` and ``adapter`` (a teacher's
``file.py:function`` beside the config, run in place of the target, with the target's folder on
its import path); ``hidden`` and ``loss`` may be lists and ``depth`` a list,
each value then a part of its own. A check with ``api`` is a layer check: its parts are its
layers. Anything else (an unknown key, a wrong type, a value no network satisfies) is a
``ConfigError`` naming the file and the key, which the CLI prints as one line (exit 2).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ..errors import OPTION_MAX, UsageError, bounded
from .spec import NETWORK_KEYS, CheckSpec

__all__ = ["ConfigError", "GradeConfig", "CheckSpec", "load_config", "parse_config", "CHECK_OPTION_KEYS",
           "LAYER_KEYS", "VISIBILITIES"]

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's four


class ConfigError(UsageError):
    """A bad grading config: the message names the file and the key."""


# ---- the keys --------------------------------------------------------------------------------------
# key -> kind. Kinds: "str", "str+" (a string or a list of strings: one part each), "int", "int+"
# (an int or a list of ints: one part each), "number", "bool", "strs" (a list of strings).
# The `crosscheck check` options, with - written _ (tests/test_grade_config.py keeps this table
# equal to the check parser's options, so a new check option is a new key here).
CHECK_OPTION_KEYS: dict[str, str] = {
    "preset": "str", "batch": "str", "weights": "str", "bias": "str", "params": "str",
    "hidden": "str+", "output": "str", "loss": "str+", "reduction": "str",
    "depth": "int+", "max_depth": "int", "max_width": "int", "output_width": "int",
    "examples": "int", "seed": "int", "timeout": "number", "budget": "number", "memory": "int", "profile": "str",
    "dtype": "str",
    "forbid_imports": "strs", "isolation": "str", "targets": "str", "l2": "number", "l1": "number",
    "penalty_form": "str", "penalty_bias": "bool", "strict_kinks": "bool", "min_depth": "int", "flat_order": "str",
    # how the target is called: a Class.method's parameters attribute, what it returns, a function's
    # positional arguments and the base of its class labels (crosscheck.check.packing)
    "params_attr": "str", "returns": "str+", "args": "str+", "label_base": "int",
}
CALL_KEYS = ("params_attr", "returns", "args", "label_base")
# the layer API's options (``crosscheck check FILE --api NAME``): a check with ``api`` is a layer check
LAYER_KEYS: dict[str, str] = {"api": "str", "layers": "strs", "dropout_p": "str", "grads": "str"}
# check options that make no sense in a grading run: grade writes its own results
_OUTPUT_ONLY = {"json": "--json", "plot": "--plot"}
_CHECK_ONLY = {"name": "str", "target": "str", "points": "number"}
_GRADE_ONLY = {"visibility": "str"}
_ADAPTER = {"adapter": "str"}
# the [autograder] table: what the Gradescope bundle writes and ships
AUTOGRADER_KEYS: dict[str, str] = {"visibility": "str", "stdout_visibility": "str", "requirements": "strs",
                                   "files": "strs", "offline": "bool"}
AUTOGRADER_DEFAULTS: dict[str, Any] = {"visibility": "visible", "stdout_visibility": "hidden", "requirements": (),
                                       "files": (), "offline": False}
# what grading pins where `crosscheck check` would look at the environment: the same config and
# submission must give the same results on a laptop and on Gradescope
# seed None: a fresh one per grading run (``crosscheck grade`` draws it from os.urandom and records it)
GRADE_DEFAULTS: dict[str, Any] = {"examples": 30, "seed": None, "timeout": 10.0, "memory": 1024, "profile": "ci",
                                  "dtype": "float64", "visibility": "visible", "forbid_imports": (),
                                  "isolation": "auto", "strict_kinks": False}
ISOLATIONS = ("auto", "bwrap", "process")  # crosscheck check --isolation
_KIND_WORDS = {"str": "a string", "str+": "a string or a list of strings", "int": "an integer",
               "int+": "an integer or a list of integers", "number": "a number", "bool": "true or false",
               "strs": "a list of strings"}
@dataclass(frozen=True)
class GradeConfig:
    path: str
    checks: tuple[CheckSpec, ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # the file as read (the autograder bundle ships it verbatim)
    autograder: dict[str, Any] = field(default_factory=lambda: dict(AUTOGRADER_DEFAULTS))

    @property
    def folder(self) -> str:
        """The config's folder: adapters and ``files`` are relative to it."""
        return os.path.dirname(os.path.abspath(self.path))

    @property
    def total_points(self) -> float:
        return sum(c.points for c in self.checks)


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 (pyproject: tomli; python_version < "3.11")
        import tomli as tomllib
    return tomllib


def load_config(path: str | os.PathLike) -> GradeConfig:
    """Read and validate ``path``; raises ``ConfigError`` (one line) on any problem."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise ConfigError(f"{name}: cannot read the grading config ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return parse_config(text, name)


def parse_config(text: str, name: str = "GRADING.toml") -> GradeConfig:
    tomllib = _toml()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{name}: not valid TOML: {' '.join(str(e).split())}") from None
    unknown = sorted(set(data) - {"grade", "check", "autograder"})
    if unknown:
        raise ConfigError(f"{name}: unknown top-level key {unknown[0]!r} (a grading config has [grade], "
                          f"[[check]] and [autograder] tables)")
    if not isinstance(data.get("autograder", {}), dict):
        raise ConfigError(f"{name}: 'autograder' must be a table ([autograder])")
    autograder = {**AUTOGRADER_DEFAULTS, **_section(data.get("autograder", {}), name, "[autograder]",
                                                     allowed=AUTOGRADER_KEYS)}
    _check_autograder(autograder, name)
    grade = data.get("grade", {})
    if not isinstance(grade, dict):
        raise ConfigError(f"{name}: 'grade' must be a table ([grade])")
    checks = data.get("check")
    if checks is None:
        raise ConfigError(f"{name}: no [[check]] table: nothing to grade")
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        raise ConfigError(f"{name}: 'check' must be an array of tables ([[check]])")
    if not checks:
        raise ConfigError(f"{name}: no [[check]] table: nothing to grade")
    defaults = _section(grade, name, "[grade]", allowed={**CHECK_OPTION_KEYS, **_GRADE_ONLY, **LAYER_KEYS})
    specs = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(checks, start=1):
        where = f"[[check]] {i}" + (f" ({raw['name']!r})" if isinstance(raw.get("name"), str) else "")
        values = _section(raw, name, where,
                          allowed={**CHECK_OPTION_KEYS, **_GRADE_ONLY, **_CHECK_ONLY, **LAYER_KEYS, **_ADAPTER})
        for key in _CHECK_ONLY:
            if key not in values:
                raise ConfigError(f"{name}: {where}: missing key {key!r}")
        check_name = values.pop("name").strip()
        if not check_name:
            raise ConfigError(f"{name}: {where}: key 'name' is empty")
        if check_name in seen:
            raise ConfigError(f"{name}: {where}: key 'name': {check_name!r} is already the name of "
                              f"[[check]] {seen[check_name]}")
        seen[check_name] = i
        points = values.pop("points")
        if bounded("points", points):  # inf, nan, 0, negative, absurd
            raise ConfigError(f"{name}: {where}: key 'points' must be > 0 and at most "
                              f"{OPTION_MAX['points']:g}, got {points!r}")
        points = float(points)
        target = values.pop("target")
        merged = {**GRADE_DEFAULTS, **defaults, **values}
        visibility = merged.pop("visibility")
        adapter = merged.pop("adapter", None)
        spec = CheckSpec(i, check_name, target, points, merged, visibility, adapter)
        _check_target(spec, name, where)
        if adapter is not None:
            _check_adapter(spec, name, where)
        _check_semantics(spec, name, where)
        specs.append(spec)
    return GradeConfig(name, tuple(specs), defaults, text, autograder)


def _check_autograder(a: dict[str, Any], name: str) -> None:
    if a["visibility"] not in VISIBILITIES:
        raise ConfigError(f"{name}: [autograder]: key 'visibility' must be one of {', '.join(VISIBILITIES)}, "
                          f"got {a['visibility']!r}")
    if a["stdout_visibility"] not in ("hidden", "visible"):
        raise ConfigError(f"{name}: [autograder]: key 'stdout_visibility' must be hidden or visible, "
                          f"got {a['stdout_visibility']!r}")
    for pattern in a["files"]:
        p = PurePosixPath(pattern)
        if not pattern or p.is_absolute() or ".." in p.parts or "\\" in pattern:
            raise ConfigError(f"{name}: [autograder]: key 'files': {pattern!r} must be a relative path (or glob) "
                              "inside the config's folder")
    for req in a["requirements"]:
        if not req.strip() or req.strip().startswith("-"):
            raise ConfigError(f"{name}: [autograder]: key 'requirements': {req!r} is not a package requirement")


def _check_adapter(spec: CheckSpec, name: str, where: str) -> None:
    """``adapters/x.py:function``, relative to the config's folder, existing there."""
    path, sep, attr = (spec.adapter or "").partition(":")
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts or "\\" in path or not path.endswith(".py") \
            or not (sep and attr.isidentifier()):
        raise ConfigError(f"{name}: {where}: key 'adapter' must be file.py:function relative to the config's "
                          f"folder, got {spec.adapter!r}")
    if spec.kind != "function":
        raise ConfigError(f"{name}: {where}: key 'adapter' is for function checks (this one has 'api')")
    full = os.path.join(os.path.dirname(os.path.abspath(name)), path)
    if not os.path.isfile(full):
        raise ConfigError(f"{name}: {where}: key 'adapter': no file {path} beside the config ({full})")


def _section(table: dict, name: str, where: str, *, allowed: dict[str, str]) -> dict[str, Any]:
    out = {}
    for key, value in table.items():
        if key in _OUTPUT_ONLY:
            raise ConfigError(f"{name}: {where}: key {key!r}: {_OUTPUT_ONLY[key]} is an output option of "
                              "crosscheck check; crosscheck grade writes its own results (--format, --out)")
        if key not in allowed:
            hint = f" (the check option --{key.replace('_', '-')} is written {key.replace('-', '_')!r})" \
                if "-" in key and key.replace("-", "_") in allowed else ""
            if key in _CHECK_ONLY:
                hint = " (it belongs in a [[check]] table)"
            raise ConfigError(f"{name}: {where}: unknown key {key!r}{hint}; known: {', '.join(sorted(allowed))}")
        out[key] = _typed(value, allowed[key], name, where, key)
    return out


def _typed(value: Any, kind: str, name: str, where: str, key: str) -> Any:
    def bad() -> ConfigError:
        return ConfigError(f"{name}: {where}: key {key!r} must be {_KIND_WORDS[kind]}, got "
                           f"{type(value).__name__} {value!r}")

    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == "str":
        if not isinstance(value, str):
            raise bad()
        return value
    if kind == "int":
        if not is_int:
            raise bad()
        return value
    if kind == "number":
        if not (is_int or isinstance(value, float)):
            raise bad()
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad()
        return value
    if kind in ("str+", "int+", "strs"):
        ok = (lambda v: isinstance(v, str)) if kind != "int+" else \
            (lambda v: isinstance(v, int) and not isinstance(v, bool))
        if kind != "strs" and ok(value):
            return value
        if not isinstance(value, list) or not value or not all(ok(v) for v in value):
            raise bad()
        if len(set(value)) != len(value):
            raise ConfigError(f"{name}: {where}: key {key!r} lists a value twice: {value!r}")
        return tuple(value)
    raise AssertionError(kind)  # pragma: no cover


def _check_target(spec: CheckSpec, name: str, where: str) -> None:
    """A path inside the submission; ``file.py:function`` for a function check."""
    path, sep, attr = spec.target.partition(":")
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts or "\\" in path:
        raise ConfigError(f"{name}: {where}: key 'target' must be a relative path inside the submission "
                          f"(file.py:function), got {spec.target!r}")
    if not path.endswith((".py", ".ipynb")):
        raise ConfigError(f"{name}: {where}: key 'target' must name a .py file or a .ipynb notebook of the "
                          f"submission, got {spec.target!r}")
    method = len(attr.split(".")) == 2 and attr[:1].isupper()  # file.py:Class.method, as `crosscheck check`
    if spec.kind == "function" and spec.adapter is None and not (sep and (attr.isidentifier() or method)):
        raise ConfigError(f"{name}: {where}: key 'target' must be file.py:function or file.py:Class.method for a "
                          f"function check (or give 'api' for a layer check), got {spec.target!r}")
    if sep and not all(part.isidentifier() for part in attr.split(".")):
        raise ConfigError(f"{name}: {where}: key 'target': {attr!r} is not a function name")


def _check_semantics(spec: CheckSpec, name: str, where: str) -> None:
    """Every value means something: each part's options resolve, run options are in range."""
    from ..model.presets import PRESETS, resolve_options
    from ..profiles import PROFILE_NAMES

    o = spec.options

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{name}: {where}: key {key!r}: {message}")

    if o.get("preset") is not None and o["preset"] not in PRESETS:
        raise fail("preset", f"unknown preset {o['preset']!r}; known: {', '.join(PRESETS)}")
    for key, minimum in (("examples", 1), ("seed", 0), ("memory", 1), ("max_depth", 1), ("min_depth", 1),
                         ("max_width", 1), ("output_width", 1), ("label_base", 0)):
        if o.get(key) is not None and o[key] < minimum:
            raise fail(key, f"must be >= {minimum}, got {o[key]}")
        if o.get(key) is not None and bounded(key, o[key], low=minimum, low_open=False):
            raise fail(key, bounded(key, o[key], low=minimum, low_open=False))
    # every number finite and sane (an inf timeout, a huge l2 or memory would blame the student)
    for key, low_open in (("timeout", True), ("budget", True), ("l2", False), ("l1", False)):
        if o.get(key) is not None and bounded(key, o[key], low_open=low_open):
            raise fail(key, bounded(key, o[key], low_open=low_open))
    depths = o.get("depth")
    for d in depths if isinstance(depths, tuple) else (depths,):
        if d is not None and bounded("depth", d, low=1, low_open=False):
            raise fail("depth", bounded("depth", d, low=1, low_open=False))
    if o["dtype"] not in ("float64", "float32"):
        raise fail("dtype", f"must be float64 or float32, got {o['dtype']!r}")
    if o["profile"] not in PROFILE_NAMES:
        raise fail("profile", f"must be one of {', '.join(PROFILE_NAMES)}, got {o['profile']!r}")
    if spec.visibility not in VISIBILITIES:
        raise fail("visibility", f"must be one of {', '.join(VISIBILITIES)}, got {spec.visibility!r}")
    for module in o["forbid_imports"]:
        if not all(part.isidentifier() for part in module.split(".")):
            raise fail("forbid_imports", f"{module!r} is not a module name")
    if o["isolation"] not in ISOLATIONS:
        raise fail("isolation", f"must be one of {', '.join(ISOLATIONS)}, got {o['isolation']!r}")
    depth = o.get("depth")
    for d in depth if isinstance(depth, tuple) else (depth,):
        if d is not None and d < 1:
            raise fail("depth", f"must be >= 1, got {d}")
    if depth is not None and o.get("max_depth") is not None:
        raise fail("max_depth", "give depth or max_depth, not both")
    if depth is not None and o.get("min_depth") is not None:
        raise fail("min_depth", "give depth or min_depth, not both")
    if spec.kind == "layers":
        extra = [k for k in NETWORK_KEYS + ("preset",) + CALL_KEYS if o.get(k) is not None]
        if extra:
            raise fail(extra[0], "is an option of function checks; this is a layer check ('api' is given)")
        if o["isolation"] != "auto":  # check_layers picks its own (auto)
            raise fail("isolation", "layer checks run with isolation 'auto'; leave the key out")
        from .layers import validate_layer_check

        problem = validate_layer_check(spec)
        if problem is not None:
            raise fail(*problem)
        return
    lonely = [k for k in ("layers", "dropout_p", "grads") if o.get(k) is not None]
    if lonely:
        raise fail(lonely[0], "is an option of layer checks; give 'api' too")
    # each key alone, so an error names its key; then every part's combination
    for key in NETWORK_KEYS:
        values = o.get(key)
        for v in values if isinstance(values, tuple) else (values,):
            if v is None:
                continue
            try:
                resolve_options(None, **{key: v}, **({"params": "flat"} if key == "flat_order" else {}))
            except UsageError as e:
                raise fail(key, str(e)) from None
    _check_call(spec, fail)
    from .parts import function_parts

    for part in function_parts(spec):
        try:
            resolve_options(o.get("preset"), **part.network_options(spec))
        except UsageError as e:
            raise ConfigError(f"{name}: {where}: part {part.label!r}: {e}") from None


def _check_call(spec: CheckSpec, fail: Any) -> None:
    """How the target is called: ``params_attr`` for a ``file.py:Class.method``; ``args``, ``label_base`` and the
    flat layouts for a function; ``returns`` for both, naming a ``grads`` entry (the rules of `crosscheck check`)."""
    from ..check.packing import pack_spec, parse_list
    from ..model.presets import resolve_options

    o = spec.options
    method = bool(spec.attr) and len(spec.attr.split(".")) == 2 and spec.attr[:1].isupper()
    if o.get("params_attr") is not None:
        if not method:
            raise fail("params_attr", "is for a file.py:Class.method target (a class in CapWords and its method)")
        if o["params_attr"] and not o["params_attr"].isidentifier():
            raise fail("params_attr", f"{o['params_attr']!r} is not an attribute name")
    returns = o.get("returns")
    if returns is not None and "grads" not in parse_list(returns):
        raise fail("returns", f"{returns!r} names no 'grads' entry (e.g. [\"loss\", \"grads\"])")
    if method:
        for key in ("args", "label_base"):
            if o.get(key) is not None:
                raise fail(key, "is for a function target, not a Class.method")
        return
    for key in ("args", "label_base", "returns"):
        if o.get(key) is None:
            continue
        try:
            options = resolve_options(o.get("preset"), **{k: v for k, v in (
                (k, o.get(k)) for k in ("bias", "params", "flat_order", "targets", "l2"))
                if v is not None and not isinstance(v, tuple)}, depth=o["depth"] if isinstance(o.get("depth"), int)
                else None)
            pack_spec(options, args=o.get("args"), returns=o.get("returns"), label_base=o.get("label_base"))
        except UsageError as e:
            raise fail(key, str(e)) from None
