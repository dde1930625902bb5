"""Which subgradient each torch and JAX spelling takes exactly at a kink: one table, three readers.

- ``crosscheck audit`` probes every entry on the installed libraries (a claim that stops being
  true is a finding, and a test fails);
- the sweep's triage (``crosscheck.sweep.triage``) tries exactly these subgradients, per activation, to
  explain a difference that exists only on a kink, and names the spelling that uses it;
- ``crosscheck check``'s diagnosis (``crosscheck.diagnosis.mistakes``) offers them as kink conventions.

``activations.py`` keeps the *reference's* choice (``at_kink``; ``relu:1`` overrides it); this
module holds what the libraries do. Pure data: importing it imports neither torch nor JAX.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KinkConvention", "KINK_CONVENTIONS", "kink_subgradients", "spellings_using"]


@dataclass(frozen=True)
class KinkConvention:
    """``expression``'s derivative exactly at ``kink`` is ``subgradient`` (measured: MEASURED.md)."""

    function: str  # the reference's name for the function ("relu", "leaky_relu", ...)
    library: str  # "torch" | "jax"
    expression: str  # as a user writes it; the audit table builds the same call
    kink: float
    subgradient: float


def _k(function: str, library: str, expression: str, kink: float, g: float) -> KinkConvention:
    return KinkConvention(function, library, expression, kink, g)


KINK_CONVENTIONS: tuple[KinkConvention, ...] = (
    _k("relu", "torch", "torch.relu(x)", 0.0, 0.0),
    _k("relu", "jax", "jax.nn.relu(x)", 0.0, 0.0),
    _k("relu", "torch", "torch.where(x > 0, x, 0)", 0.0, 0.0),
    _k("relu", "jax", "jnp.where(x > 0, x, 0)", 0.0, 0.0),
    _k("relu", "torch", "torch.maximum(x, 0)", 0.0, 0.5),  # a tie: half to each argument
    _k("relu", "jax", "jnp.maximum(x, 0)", 0.0, 0.5),
    _k("relu", "torch", "torch.clamp(x, min=0)", 0.0, 1.0),  # the bound counts as inside
    _k("relu", "jax", "jnp.clip(x, min=0)", 0.0, 0.5),  # clip is maximum/minimum: a tie
    _k("abs", "torch", "torch.abs(x)", 0.0, 0.0),  # sign(0) = 0
    _k("abs", "jax", "jnp.abs(x)", 0.0, 1.0),  # select(x >= 0, 1, -1)
    _k("leaky_relu", "torch", "F.leaky_relu(x)", 0.0, 0.01),  # the negative slope (its default)
    _k("leaky_relu", "jax", "jax.nn.leaky_relu(x)", 0.0, 1.0),  # where(x >= 0, x, slope * x)
    _k("elu", "torch", "F.elu(x)", 0.0, 1.0),
    _k("elu", "jax", "jax.nn.elu(x)", 0.0, 1.0),
    # selu's two one-sided derivatives at 0 are scale and scale * alpha; both take the left one
    _k("selu", "torch", "F.selu(x)", 0.0, 1.0507009873554805 * 1.6732632423543772),
    _k("selu", "jax", "jax.nn.selu(x)", 0.0, 1.0507009873554805 * 1.6732632423543772),
    _k("hardtanh", "torch", "F.hardtanh(x)", -1.0, 0.0),  # flat outside the open interval
    _k("hardtanh", "torch", "F.hardtanh(x)", 1.0, 0.0),
    _k("hardtanh", "jax", "jax.nn.hard_tanh(x)", -1.0, 1.0),  # where(x > 1, 1, where(x < -1, -1, x))
    _k("hardtanh", "jax", "jax.nn.hard_tanh(x)", 1.0, 1.0),
    _k("relu6", "torch", "F.relu6(x)", 0.0, 0.0),
    _k("relu6", "torch", "F.relu6(x)", 6.0, 0.0),
    _k("relu6", "jax", "jax.nn.relu6(x)", 0.0, 0.0),
    _k("relu6", "jax", "jax.nn.relu6(x)", 6.0, 0.0),
)


def _base(name: str) -> str:
    return name.partition(":")[0]


def kink_subgradients(function: str, kink: float | None = None) -> tuple[float, ...]:
    """The distinct subgradients torch's and JAX's spellings of ``function`` take at its kink
    (``kink``, or any), sorted; ``()`` for a function this table does not know.
    ``kink_subgradients("relu") == (0.0, 0.5, 1.0)``."""
    base = _base(function)
    return tuple(sorted({c.subgradient for c in KINK_CONVENTIONS
                         if c.function == base and (kink is None or c.kink == kink)}))


def spellings_using(function: str, subgradient: float, library: str | None = None) -> tuple[str, ...]:
    """The expressions whose derivative at ``function``'s kink is ``subgradient``:
    ``spellings_using("leaky_relu", 1.0) == ("jax.nn.leaky_relu(x)",)``."""
    base = _base(function)
    return tuple(dict.fromkeys(c.expression for c in KINK_CONVENTIONS
                               if c.function == base and c.subgradient == subgradient
                               and (library is None or c.library == library)))
