"""The NumPy reference: one module per formula route from the seeds, all canonical.

Every route has the signature ``gradients(network, params, X, Y) -> Gradients`` with
canonical arrays (see ``crosscheck.model.network``). Routes share only the forward pass
(``forward.py``) and the loss gradient at the output; no route calls another.

May import: ``crosscheck.model`` and ``crosscheck.errors`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

__all__ = ["ROUTES", "get_route", "route_names"]

# name -> module; the numeric oracles live in numeric.py
ROUTES: dict[str, str] = {
    "recursive": "recursive",
    "explicit": "explicit",
    "kronecker": "kronecker",
    "jacobian": "jacobian",
    "finite_difference": "numeric",
    "complex_step": "numeric",
}


def route_names() -> tuple[str, ...]:
    return tuple(ROUTES)


def get_route(name: str) -> Callable:
    if name not in ROUTES:
        raise ValueError(f"unknown route {name!r}; known: {', '.join(ROUTES)}")
    mod = import_module(f"{__name__}.{ROUTES[name]}")
    return getattr(mod, name if ROUTES[name] == "numeric" else "gradients")
