"""``crosscheck port FILE.py:make_torch FILE.py:make_jax``: the port check from the command line.

``make_torch()`` returns the torch ``nn.Module``; ``make_jax()`` returns a flax module, a pure
``apply_fn(params, x)``, or ``(apply_fn, params)``. ``--convert FILE.py:convert`` names the user's
conversion. The files are the user's own code and run in this process (as pytest runs a test
file); crosscheck's sandbox is for untrusted student code.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError

__all__ = ["run", "load", "parse_shape", "parse_sizes"]


def load(target: str, what: str) -> Any:
    """``FILE.py:name`` -> the object ``name`` of that file (imported once per file)."""
    path, sep, name = target.rpartition(":")
    if not sep or not path.endswith(".py") or not name:
        raise UsageError(f"{what}: expected FILE.py:name, got {target!r}")
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{what}: no file {path}")
    modname = "crosscheck_port_" + str(abs(hash(str(p.resolve()))))
    mod = sys.modules.get(modname)
    if mod is None:
        spec = importlib.util.spec_from_file_location(modname, p)
        mod = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(p.resolve().parent))
        try:
            spec.loader.exec_module(mod)  # type: ignore[union-attr]
        except Exception as e:  # noqa: BLE001 - the user's file fails to import
            raise UsageError(f"{what}: importing {path} failed: {type(e).__name__}: {e}") from None
        finally:
            sys.path.pop(0)
        sys.modules[modname] = mod
    if not hasattr(mod, name):
        raise UsageError(f"{what}: {path} has no {name!r}")
    return getattr(mod, name)


def parse_shape(text: str) -> tuple:
    """``"B,3,H,H"`` -> ``("B", 3, "H", "H")``."""
    out: list[Any] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise UsageError(f"--input-shape: empty size in {text!r}")
        out.append(int(part) if part.isdigit() else part)
    return tuple(out)


def parse_sizes(items: list[str] | None) -> dict[str, list[int]]:
    """``["H=8,16", "B=1"]`` -> ``{"H": [8, 16], "B": [1]}``."""
    out = {}
    for item in items or []:
        name, eq, values = item.partition("=")
        try:
            out[name.strip()] = [int(v) for v in values.split(",")]
        except ValueError:
            raise UsageError(f"--size: expected NAME=INT[,INT...], got {item!r}") from None
        if not eq or not out[name.strip()] or min(out[name.strip()]) < 1:
            raise UsageError(f"--size: expected NAME=INT[,INT...] of positive sizes, got {item!r}")
    return out


def run(args: Any) -> int:
    from .check import check_port

    make_torch = load(args.torch_target, "the torch model")
    make_jax = load(args.jax_target, "the JAX model")
    import torch

    torch_module = make_torch if isinstance(make_torch, torch.nn.Module) else make_torch()
    made = make_jax()
    jax_model, params = (made if isinstance(made, tuple) and len(made) == 2 else (made, None))
    convert = load(args.convert, "--convert") if args.convert else None
    options: dict[str, Any] = {}
    if args.int_range:
        lo, _, hi = args.int_range.partition(":")
        try:
            options["input_range"] = (int(lo), int(hi))
        except ValueError:
            raise UsageError(f"--int: expected LOW:HIGH, got {args.int_range!r}") from None
        options["input_dtype"] = "int"
    dtypes = tuple(d.strip() for d in args.dtypes.split(",")) if args.dtypes else ("float64", "float32")
    directions = tuple(d.strip() for d in args.directions.split(",")) if args.directions else None
    if directions:
        options["directions"] = directions
    result = check_port(torch_module, jax_model, input_shape=parse_shape(args.input_shape),
                        sizes=parse_sizes(args.size), params=params, convert=convert, dtypes=dtypes,
                        examples=args.examples, **options)
    print(result.report())
    return 0 if result.ok else 1
