"""The audit table's vocabulary: a documented convention, one library's side of a probe, a probe.

Pure data and callables taking the imported libraries (``Libs``): nothing here imports torch or JAX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .models import Model

__all__ = ["Convention", "Libs", "Side", "Point", "Probe", "DefaultProbe"]


@dataclass(frozen=True)
class Convention:
    """A known, documented reason an expression's answer differs from the reference's definition.

    ``fix`` says how to make torch and JAX agree; it may name the observed defaults as
    ``{torch}`` and ``{jax}`` (filled in from the installed libraries' signatures)."""

    id: str
    note: str
    fix: str


@dataclass
class Libs:
    """The imported libraries a probe may call; an optional one is None when not installed."""

    torch: Any = None
    jax: Any = None
    optax: Any = None
    linen: Any = None  # flax.linen

    @property
    def F(self) -> Any:  # noqa: N802 - the name everyone writes
        return self.torch.nn.functional

    @property
    def jnp(self) -> Any:
        return self.jax.numpy


@dataclass(frozen=True)
class Side:
    """One library's spelling: ``make(libs)`` returns ``f(x, target)`` on that library's arrays.

    ``model`` is what the spelling computes where it is not the reference's definition, with the
    ``convention`` that explains it; ``requires`` names an optional package (optax, flax)."""

    expression: str
    make: Callable[[Libs], Callable]
    model: Model | None = None
    convention: Convention | None = None
    requires: str | None = None


@dataclass(frozen=True)
class Point:
    """Where a probe looks: ``x`` (a scalar for elementwise probes, else an array) and a target.
    ``label`` says why the point matters ("kink", "threshold", "tail", "tie")."""

    label: str
    x: Any
    target: Any = None
    integer_target: bool = False


@dataclass(frozen=True)
class Probe:
    """A function under one name in torch and JAX, the reference's definition, and where to look.

    ``elementwise`` probes evaluate every point in one call; others one call per point, with
    ``weights`` as the cotangent of a non-scalar output (so a softmax's derivative is not zero).
    ``derivative=False`` compares values only (a running statistic). ``exact_tiny`` compares
    results below the smallest normal number exactly (the subnormal probe)."""

    function: str
    reference: Model | None
    reference_name: str
    torch: Side
    jax: Side
    points: tuple[Point, ...]
    elementwise: bool = True
    weights: Any = None
    derivative: bool = True
    dtypes: tuple[str, ...] = ("float32", "float64")
    exact_tiny: bool = False


@dataclass(frozen=True)
class DefaultProbe:
    """A default argument read from each library's signature, compared by what it means.

    ``torch``/``jax`` return the raw default (``inspect.signature``); ``meaning(lib, value)``
    maps it to something comparable across libraries (e.g. gelu's ``'none'`` and ``False`` both
    mean the erf form); ``reference`` is the meaning crosscheck's reference uses, or None."""

    function: str
    parameter: str
    torch_where: str
    torch: Callable[[Libs], Any]
    jax_where: str
    jax: Callable[[Libs], Any]
    meaning: Callable[[str, Any], Any] = field(default=lambda lib, v: v)
    reference: Any = None
    convention: Convention | None = None
    requires: str | None = None
