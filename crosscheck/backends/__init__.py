"""Backends: numpy (the reference, baseline), torch (torch.autograd) and jax (jax.grad).

``available_backends()`` looks for the libraries with ``importlib.util.find_spec`` and never
imports them; a backend is imported when ``get_backend`` asks for it.

May import: ``crosscheck.model`` and ``crosscheck.errors``; never the reference (the ``numpy`` backend,
which *is* the reference, is the one exception).
"""

from __future__ import annotations

import importlib.util
from importlib import import_module

from ..errors import UsageError
from .base import DEVICES, PRECISIONS, Backend

__all__ = ["BACKEND_NAMES", "available_backends", "get_backend", "import_backends", "preload_backends",
           "parse_backends", "Backend"]

BACKEND_NAMES = ("numpy", "torch", "jax")

# backend -> (module that must be importable, backend module, class)
_REGISTRY = {
    "numpy": ("numpy", "crosscheck.backends.numpy", "NumpyBackend"),
    "torch": ("torch", "crosscheck.backends.torch", "TorchBackend"),
    "jax": ("jax", "crosscheck.backends.jax", "JaxBackend"),
}


def _missing_reason(name: str) -> str | None:
    module = _REGISTRY[name][0]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return None
    return f"{name} is not installed (pip install 'crosscheck-grad[{name}]')"


def available_backends() -> dict[str, str | None]:
    """name -> None when importable, else a one-line reason. Imports nothing."""
    return {name: _missing_reason(name) for name in BACKEND_NAMES}


def get_backend(name: str, *, device: str = "cpu", precision: str = "default") -> Backend:
    """The backend called ``name`` on ``device``; ``UsageError`` with a one-line reason when the
    name is unknown, the library is missing, or the device is not available."""
    if name not in _REGISTRY:
        raise UsageError(f"unknown backend {name!r}; known: {', '.join(BACKEND_NAMES)}")
    if device not in DEVICES:
        raise UsageError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    reason = _missing_reason(name)
    if reason is not None:
        raise UsageError(reason)
    _, module, cls = _REGISTRY[name]
    return getattr(import_module(module), cls)(device=device, precision=precision)


def import_backends(names) -> None:
    """Import the libraries and backend modules of ``names`` (the installed ones) without making a
    backend: nothing starts (no JAX runtime, no CUDA), so a process can still fork after this
    (``crosscheck.sweep.jobs`` imports once here instead of once per job)."""
    for name in names:
        if name in _REGISTRY and _missing_reason(name) is None:
            import_module(_REGISTRY[name][0])
            import_module(_REGISTRY[name][1])


def preload_backends(names, **options) -> dict:
    """What the first call of each backend in ``names`` would import or trace (its module's
    ``preload(**options)``, where it has one), still without starting anything: done once before
    forking sweep jobs. Returns ``{name: state}`` for each backend's ``adopt``."""
    import_backends(names)
    states = {}
    for name in names:
        if name in _REGISTRY and _missing_reason(name) is None:
            module = import_module(_REGISTRY[name][1])
            if hasattr(module, "preload"):
                states[name] = module.preload(**options)
    return states


def parse_backends(text: str | None) -> list[str]:
    """A comma list as the CLI takes it; None means every installed backend."""
    if text is None:
        return [n for n, why in available_backends().items() if why is None]
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--backends needs at least one name")
    unknown = [n for n in names if n not in BACKEND_NAMES]
    if unknown:
        raise UsageError(f"unknown backend(s) {', '.join(unknown)}; known: {', '.join(BACKEND_NAMES)}")
    return list(dict.fromkeys(names))
