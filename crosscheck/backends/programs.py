"""The padded JAX programs: traced once per process, or read back from an earlier process.

JAX's persistent compilation cache skips the XLA compile of a program a second run meets, but
not tracing and lowering it: it is keyed by the lowered module, so every process traces the
padded program first (about 1 s of Python on a quiet 2-core machine, two thirds of a 200-example
sweep's start; docs/measurements.md). So the program is also stored as JAX's own serialised
export (``jax.export``: the lowered StableHLO module, with its calling convention), beside the
compilation cache, and a later process deserialises it and calls it (about 0.3 s, the compile
itself read from the cache) instead of tracing it again.

An exported program is found by a key that holds everything the traced one depends on: JAX's and
jaxlib's versions, the platform, the dtype and matmul precision, the arguments' shapes and dtypes,
the source of the modules that build the program, and ``padded.natives`` (the jaxprs of the
natives' derivatives), so a changed or patched native traces anew. Exporting needs the small
``flatbuffers`` package (in crosscheck's ``jax`` extra); without it, without a cache folder
(``CROSSCHECK_JAX_CACHE=off``), off the CPU, or when a stored file cannot be read, the program is
traced as before: the stored file is a shortcut, never a different computation (the tests compare
the two bit for bit).

jax is imported inside functions only.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from . import padded

__all__ = ["padded_program", "program_traces", "exported_loads", "EXPORT_FOLDER"]

EXPORT_FOLDER = "exported"  # inside the compilation cache folder (JAX's own cache files end in -cache)
_FORMAT = 1  # bump when the stored form or the program's calling convention changes

# per process: (key, signature) -> a callable; key -> how often its Python function was traced
_CALLABLES: dict[tuple, Any] = {}
_TRACED: dict[tuple, Any] = {}
_TRACES: dict[tuple, int] = {}
_LOADS = {"exported": 0}


def program_traces(key: tuple) -> int:
    """How often the padded program of ``key = (precision, dtype, natives)`` was traced here."""
    return _TRACES.get(key, 0)


def exported_loads() -> int:
    """How many padded programs this process read back from an earlier process's export."""
    return _LOADS["exported"]


def _jax():
    import jax

    return jax


def _traced(key: tuple) -> Any:
    """jit(vmap(grad)) of the padded loss for ``key``, traced by jit at each new shape."""
    fn = _TRACED.get(key)
    if fn is not None:
        return fn
    jax = _jax()
    loss = padded.padded_loss(jax)
    _TRACES.setdefault(key, 0)

    def counted(*args):
        _TRACES[key] += 1  # runs at trace time only
        return loss(*args)

    batched = (0,) * 5 + (None,) * (len(padded.ARGS) - 5)  # ws, bs, X, Y, labels carry the draws
    fn = jax.jit(jax.vmap(jax.grad(counted, argnums=(0, 1)), in_axes=batched))
    _TRACED[key] = fn
    return fn


def _sources() -> str:
    """The source of the modules that build the program (a change there must not load an old one)."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in ("padded.py", "programs.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


_SOURCES: list[str] = []


def _export_folder() -> str | None:
    """The compilation cache folder in use (``enable_persistent_cache``), or None: no exports."""
    return _jax().config.jax_compilation_cache_dir or None


def _export_path(key: tuple, signature: tuple) -> Path | None:
    """Where the export of this program lives, or None where exporting is off or unavailable."""
    jax = _jax()
    folder = _export_folder()
    if not folder or jax.default_backend() != "cpu":
        return None
    try:
        import flatbuffers  # noqa: F401 - jax.export's serialisation needs it
        import jaxlib
    except ImportError:
        return None
    if not _SOURCES:
        _SOURCES.append(_sources())
    text = repr((_FORMAT, jax.__version__, getattr(jaxlib, "__version__", ""), _SOURCES[0], key, signature))
    return Path(folder) / EXPORT_FOLDER / (hashlib.sha256(text.encode()).hexdigest()[:40] + ".jaxexport")


def _load(path: Path) -> Any | None:
    jax = _jax()
    try:
        exported = jax.export.deserialize(bytearray(path.read_bytes()))
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a truncated or foreign file: trace anew (and overwrite it)
        return None
    _LOADS["exported"] += 1
    return jax.jit(exported.call)


def _store(path: Path, exported: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # written whole, then renamed: a concurrent reader (another sweep job) never sees half a file
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(exported.serialize())
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full folder: the next process traces again, nothing else changes


def padded_program(key: tuple, inputs: tuple) -> Any:
    """The callable that runs the padded program of ``key = (precision, dtype, natives)`` on
    arguments shaped like ``inputs`` (NumPy arrays in ``padded.ARGS`` order, on the default device).

    Read back from an earlier process's export where one is stored; else traced here (and
    exported for the next process where exporting is available)."""
    signature = tuple((a.shape, a.dtype.str) for a in inputs)
    fn = _CALLABLES.get((key, signature))
    if fn is not None:
        return fn
    path = _export_path(key, signature)
    fn = None if path is None else _load(path)
    if fn is None:
        traced = _traced(key)
        fn = traced
        if path is not None:
            jax = _jax()
            try:
                exported = jax.export.export(traced)(*inputs)
            except Exception:  # noqa: BLE001 - JAX cannot export it: the traced program serves
                exported = None
            if exported is not None:
                _store(path, exported)
                # the exported call, here too: the program is traced once (by the export), not twice
                fn = jax.jit(exported.call)
    _CALLABLES[(key, signature)] = fn
    return fn


def traced_program(key: tuple) -> Any:
    """The traced jit(vmap(grad)) program of ``key`` itself (other devices, tests)."""
    return _traced(key)
