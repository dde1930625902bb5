"""Activation table: value, derivative, kinks and the native torch/JAX expressions.

Adding an activation means adding one ``Activation`` to ``_TABLE``. Nothing else in
crosscheck names individual activations.

A name may carry an explicit subgradient for its kinks: ``"relu"`` uses the torch/JAX
convention relu'(0) = 0, ``"relu:1"`` uses seed 002's relu'(0) = 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = ["Activation", "ACTIVATIONS", "get_activation", "activation_names"]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
# erfc(-z/sqrt2) = 1 + erf(z/sqrt2) without the cancellation that loses every digit of gelu's
# negative tail (crosscheck audit: jax.nn.gelu(approximate=False) keeps them, torch does not)
_erfc64 = np.vectorize(math.erfc, otypes=[float])


def _erfc(z):
    # math.erfc is float64; rounded back to float32 for float32 input, so the float32 reference
    # computes in float32 throughout (tolerance.py bounds float32 verdicts by its rounding)
    z = np.asarray(z)
    out = _erfc64(z)
    return out.astype(z.dtype) if z.dtype == np.float32 else out


def _sigmoid(z):
    # exp of a negative magnitude only: no overflow for large |z|, works for complex z too. Both
    # branches on every entry, then a select: the same values as masking each half (bit for bit),
    # at half the cost on the sweep's small arrays
    if np.iscomplexobj(z):
        return 1.0 / (1.0 + np.exp(-z))
    z = np.asarray(z)
    if z.dtype.kind != "f":
        z = z.astype(np.result_type(z, np.float64))
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(z):
    if np.iscomplexobj(z):
        return np.log1p(np.exp(z))
    return np.logaddexp(0.0, z)


def _gelu_erf(z):
    return 0.5 * z * _erfc(-z / math.sqrt(2.0))


def _gelu_erf_prime(z):
    return 0.5 * _erfc(-z / math.sqrt(2.0)) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _gelu_tanh(z):
    return 0.5 * z * (1.0 + np.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z**3)))


def _gelu_tanh_prime(z):
    inner = _SQRT_2_OVER_PI * (z + 0.044715 * z**3)
    t = np.tanh(inner)
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * z * z)


def _elu(z):
    # expm1 only of the non-positive part, so the unused branch never overflows.
    neg = np.where(np.real(z) > 0, 0 * z, z)
    return np.where(np.real(z) > 0, z, ELU_ALPHA * np.expm1(neg))


def _where_pos(z, pos, neg):
    """Piecewise by the sign of Re(z): keeps complex-step derivatives valid off the kink."""
    return np.where(np.real(z) > 0, pos, neg)


LEAKY_SLOPE = 0.01  # torch.nn.functional.leaky_relu's default negative_slope
ELU_ALPHA = 1.0


@dataclass(frozen=True)
class Activation:
    """One scalar activation sigma and everything crosscheck needs to know about it.

    ``value``/``derivative`` act elementwise on NumPy arrays (float or complex).
    ``kinks`` are the points where sigma is not differentiable; ``at_kink`` is the
    subgradient crosscheck's reference uses there (torch and JAX conventions by default).
    ``torch``/``jax`` map the imported module to a native callable, so backends build
    the network from their own primitives and never from the reference.
    """

    name: str
    value: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    torch: Callable[[Any], Callable]
    jax: Callable[[Any], Callable]
    kinks: tuple[float, ...] = ()
    at_kink: tuple[float, ...] = ()
    analytic: bool = True  # the complex-step derivative is valid (off kinks)
    # sigma' decays smoothly to 0 somewhere (a saturating tail): a draw with |sigma'(z)| below
    # this floor is redrawn, since there rounding of an O(1) difference is the whole derivative
    saturation_floor: float = 0.0
    description: str = ""

    def prime(self, z: np.ndarray) -> np.ndarray:
        """sigma'(z) with the declared subgradient exactly at kinks."""
        d = np.asarray(self.derivative(z))
        for k, g in zip(self.kinks, self.at_kink):
            d = np.where(z == k, g, d)
        z = np.asarray(z)
        # piecewise derivatives come out float64; keep float32 work in float32
        return d.astype(z.dtype, copy=False) if z.dtype.kind == "f" and d.dtype != z.dtype else d


def _torch_gelu(approximate):
    return lambda torch: (lambda x: torch.nn.functional.gelu(x, approximate=approximate))


_TABLE: tuple[Activation, ...] = (
    Activation(
        "identity", lambda z: z, lambda z: np.ones_like(z),
        torch=lambda t: (lambda x: x), jax=lambda jax: (lambda x: x),
        description="sigma(z) = z",
    ),
    Activation(
        "relu", lambda z: _where_pos(z, z, 0 * z), lambda z: (np.real(z) > 0).astype(float),
        torch=lambda t: t.relu, jax=lambda jax: jax.nn.relu,
        kinks=(0.0,), at_kink=(0.0,), description="max(z, 0); relu'(0) = 0 as in torch and JAX",
    ),
    Activation(
        "leaky_relu",
        lambda z: _where_pos(z, z, LEAKY_SLOPE * z),
        lambda z: np.where(np.real(z) > 0, 1.0, LEAKY_SLOPE),
        torch=lambda t: t.nn.functional.leaky_relu,
        jax=lambda jax: (lambda x: jax.nn.leaky_relu(x, negative_slope=LEAKY_SLOPE)),
        kinks=(0.0,), at_kink=(LEAKY_SLOPE,), description="slope 0.01 below zero",
    ),
    Activation(
        "elu",
        _elu,
        lambda z: np.where(np.real(z) > 0, 1.0, ELU_ALPHA * np.exp(np.minimum(np.real(z), 0))),
        torch=lambda t: t.nn.functional.elu, jax=lambda jax: jax.nn.elu,
        kinks=(0.0,), at_kink=(1.0,), saturation_floor=1e-3,
        description="z above zero, exp(z) - 1 below; elu'(0) = 1 as in torch and JAX",
    ),
    Activation(
        "sigmoid", _sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)),
        torch=lambda t: t.sigmoid, jax=lambda jax: jax.nn.sigmoid, saturation_floor=2.5e-4,
        description="1 / (1 + exp(-z)); sigma' = sigma (1 - sigma)",
    ),
    Activation(
        "tanh", np.tanh, lambda z: 1.0 - np.tanh(z) ** 2,
        torch=lambda t: t.tanh, jax=lambda jax: jax.numpy.tanh, saturation_floor=1e-3,
        description="tanh(z); tanh' = 1 - tanh^2",
    ),
    Activation(
        "softplus", _softplus, _sigmoid,
        torch=lambda t: t.nn.functional.softplus, jax=lambda jax: jax.nn.softplus, saturation_floor=1e-3,
        description="log(1 + exp(z))",
    ),
    Activation(
        "gelu", _gelu_erf, _gelu_erf_prime,
        torch=_torch_gelu("none"), jax=lambda jax: (lambda x: jax.nn.gelu(x, approximate=False)),
        analytic=False,  # NumPy has no complex erf
        saturation_floor=1e-3,
        description="z * Phi(z), the erf form",
    ),
    Activation(
        "gelu_tanh", _gelu_tanh, _gelu_tanh_prime,
        torch=_torch_gelu("tanh"), jax=lambda jax: (lambda x: jax.nn.gelu(x, approximate=True)),
        saturation_floor=1e-3,
        description="the tanh approximation of gelu",
    ),
    Activation(
        "sin", np.sin, np.cos, torch=lambda t: t.sin, jax=lambda jax: jax.numpy.sin,
        description="sin(z)",
    ),
)

ACTIVATIONS: dict[str, Activation] = {a.name: a for a in _TABLE}


def activation_names() -> tuple[str, ...]:
    return tuple(ACTIVATIONS)


def get_activation(name: str) -> Activation:
    """The activation called ``name``; ``"relu:1"`` sets the subgradient at every kink to 1."""
    base, _, sub = name.partition(":")
    if base not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    act = ACTIVATIONS[base]
    if not sub:
        return act
    if not act.kinks:
        raise ValueError(f"activation {base!r} has no kink, so {name!r} sets no subgradient")
    try:
        g = float(sub)
    except ValueError:
        raise ValueError(f"subgradient in {name!r} must be a number, e.g. 'relu:1'") from None
    return replace(act, name=name, at_kink=tuple(g for _ in act.kinks))
