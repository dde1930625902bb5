"""The padded JAX programs: traced and compiled once, then read back by every later process.

JAX's persistent compilation cache skips the XLA compile of a program a second run meets, but
not tracing and lowering it: it is keyed by the lowered module, so every process would trace the
padded program first (about 1 s of Python on a quiet 2-core machine, two thirds of a 200-example
sweep's start; docs/measurements.md). So the compiled program itself is stored beside the
compilation cache (``jax.experimental.serialize_executable``: the XLA executable with its calling
convention) and a later process loads it and calls it: about 0.1 s, JAX's CPU client included,
where tracing and lowering cost 1 s and a ``jax.export`` read back still lowered its call (0.3 s).

A stored program is found by a key that holds everything the compiled one depends on: JAX's and
jaxlib's versions, the platform and its version, the machine (the CPU's model and feature flags:
XLA compiles for the host it runs on, and a cache folder may be shared between machines), the
``XLA_FLAGS``, the dtype and matmul precision, the arguments' shapes and dtypes, the source of the
modules that build the program, and ``padded.natives_key`` (what the natives compute, read from
their code by ``crosscheck.backends.fingerprint``, or the jaxprs of their derivatives where it cannot
be read), so a changed or patched native traces anew. Without a cache folder (``CROSSCHECK_JAX_CACHE=off``), off
the CPU, or when a stored file cannot be read, the program is traced as before: the stored file is
a shortcut, never a different computation (the tests compare the two bit for bit).

A stored executable is machine code, as the entries of JAX's own compilation cache are, so it is
trusted exactly as far as they are: only a file in the user's cache folder, owned by the user and
writable by nobody else, is loaded, and its wrapper is unpickled with JAX's own classes only.

jax is imported inside functions only.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import padded

__all__ = ["padded_program", "traced_program", "program_traces", "stored_loads", "STORE_FOLDER"]

STORE_FOLDER = "executables"  # inside the compilation cache folder (JAX's own cache files end in -cache)
_SUFFIX = ".xla"
_FORMAT = 2  # bump when the stored form or the program's calling convention changes

# per process: (key, signature) -> a callable; key -> how often its Python function was traced
_CALLABLES: dict[tuple, Any] = {}
_TRACED: dict[tuple, Any] = {}
_TRACES: dict[tuple, int] = {}
_LOADS = {"stored": 0}


def program_traces(key: tuple) -> int:
    """How often the padded program of ``key = (precision, dtype, natives)`` was traced here."""
    return _TRACES.get(key, 0)


def stored_loads() -> int:
    """How many padded programs this process read back compiled from an earlier process."""
    return _LOADS["stored"]


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


_IDENTITY: list[str] = []  # this process's sources and machine, hashed once


def _identity() -> str:
    """The source of the modules that build the program (a change there must not load an old
    one) and the machine that compiles it (its CPU's model and feature flags, ``XLA_FLAGS``)."""
    if not _IDENTITY:
        jax = _jax()
        digest = hashlib.sha256()
        here = Path(__file__).resolve().parent
        for name in ("padded.py", "programs.py"):
            digest.update((here / name).read_bytes())
        client = jax.devices("cpu")[0].client
        digest.update(repr((client.platform, client.platform_version, os.environ.get("XLA_FLAGS", ""),
                            _cpu())).encode())
        _IDENTITY.append(digest.hexdigest())
    return _IDENTITY[0]


def _cpu() -> str:
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags", "Features", "CPU part"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def _store_folder() -> str | None:
    """The compilation cache folder in use (``enable_persistent_cache``), or None: nothing stored."""
    return _jax().config.jax_compilation_cache_dir or None


def _stored_path(key: tuple, signature: tuple) -> Path | None:
    """Where the compiled program lives, or None where storing is off or unavailable."""
    jax = _jax()
    folder = _store_folder()
    if not folder or jax.default_backend() != "cpu":
        return None
    import jaxlib

    text = repr((_FORMAT, jax.__version__, getattr(jaxlib, "__version__", ""), _identity(), key, signature))
    return Path(folder) / STORE_FOLDER / (hashlib.sha256(text.encode()).hexdigest()[:40] + _SUFFIX)


def _trees(inputs: tuple) -> tuple:
    """The calling convention of ``fn(*inputs)`` returning ``(gW, gb)``: rebuilt here, not stored."""
    tree_structure = _jax().tree_util.tree_structure
    return tree_structure((tuple(0 for _ in inputs), {})), tree_structure((0, 0))


def _load(path: Path, inputs: tuple) -> Any | None:
    if not hasattr(os, "getuid"):
        return None  # no owner to check (Windows): nothing stored is run, the program is traced
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:  # not stored yet (or a link: not ours to follow)
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None  # only a file the user alone could have written is executed
        data = f.read()
    try:
        compiled = _deserialize(data, inputs)
    except Exception:  # noqa: BLE001 - a truncated or foreign file: trace anew (and overwrite it)
        return None
    _LOADS["stored"] += 1
    return compiled


def _deserialize(data: bytes, inputs: tuple) -> Any:
    jax = _jax()
    from jax.experimental import serialize_executable

    base = serialize_executable._JaxPjrtUnpickler  # JAX's own unpickler: it binds devices, the client

    class JaxOnly(base):
        def find_class(self, module: str, name: str) -> Any:
            jax_own = module == "jax" or module.startswith(("jax._src.", "jaxlib._jax"))
            if jax_own or (module, name) == ("numpy", "dtype"):
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a stored JAX program")

    in_tree, out_tree = _trees(inputs)
    client = jax.devices("cpu")[0].client
    executable, args_info_flat, no_kwargs = JaxOnly(io.BytesIO(data), client, client.devices()).load()
    return jax.stages.Compiled(executable.load(), [], in_tree.unflatten(args_info_flat), out_tree,
                               no_kwargs=no_kwargs)


def _compiled_fresh(lowered: Any) -> Any:
    """``lowered.compile()`` by XLA itself, not read from JAX's compilation cache: an executable JAX
    read back from its cache serialises without some of its kernels ("Function wrapped_broadcast.3
    not found" when loaded; jax 0.10 on CPU), one XLA compiled here serialises whole."""
    from jax._src import compilation_cache

    used = compilation_cache.is_cache_used
    compilation_cache.is_cache_used = lambda backend: False
    try:
        return lowered.compile()
    finally:
        compilation_cache.is_cache_used = used


def _serialised(compiled: Any, inputs: tuple) -> bytes | None:
    """The stored form of ``compiled``, or None: a program JAX cannot serialise, or one whose read-
    back copy does not give ``compiled``'s own numbers bit for bit on ``inputs`` (a stored program
    is never a different computation)."""
    from jax.experimental import serialize_executable

    try:
        data, in_tree, out_tree = serialize_executable.serialize(compiled)
        if (in_tree, out_tree) != _trees(inputs):
            return None  # a calling convention the loader would not rebuild
        again = _deserialize(data, inputs)(*inputs)
        if all(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
               for a, b in zip(again, compiled(*inputs))):
            return data
    except Exception:  # noqa: BLE001 - not storable here: the next process compiles again
        pass
    return None


def _store(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # written whole (mode 600), then renamed: a concurrent reader (another sweep job) never sees
        # half a file
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full folder: the next process compiles again, nothing else changes


def padded_program(key: tuple, inputs: tuple) -> Any:
    """The callable that runs the padded program of ``key = (precision, dtype, natives)`` on
    arguments shaped like ``inputs`` (NumPy arrays in ``padded.ARGS`` order, on the default device).

    Read back compiled from an earlier process where one is stored; else traced and compiled here
    and stored for the next."""
    signature = tuple((a.shape, a.dtype.str) for a in inputs)
    fn = _CALLABLES.get((key, signature))
    if fn is not None:
        return fn
    path = _stored_path(key, signature)
    fn = None if path is None else _load(path, inputs)
    if fn is None and path is not None:
        # one process compiles, the others (a sweep's jobs, cold) wait for its stored program
        with _compiling(path):
            fn = _load(path, inputs)
            if fn is None:
                fn = _compiled_and_stored(key, path, inputs)
    if fn is None:
        fn = _traced(key)
    _CALLABLES[(key, signature)] = fn
    return fn


def _compiled_and_stored(key: tuple, path: Path, inputs: tuple) -> Any | None:
    try:
        compiled = _compiled_fresh(_traced(key).lower(*inputs))
    except Exception:  # noqa: BLE001 - compiled apart it fails: jit's own call serves (and says why)
        return None
    data = _serialised(compiled, inputs)
    if data is not None:
        _store(path, data)
    return compiled  # the executable jit would run, without a second lookup


@contextlib.contextmanager
def _compiling(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``'s lock file while this process compiles it: another process
    waits, then reads the stored program instead of compiling it too. The lock goes with its
    holder (a process that dies releases it); without one (no folder, no flock) nothing waits."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except (ImportError, OSError):
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # a file system without locks: compile as if alone
        yield
    finally:
        os.close(fd)  # releases the lock


def traced_program(key: tuple) -> Any:
    """The traced jit(vmap(grad)) program of ``key`` itself (other devices, tests)."""
    return _traced(key)
