"""``crosscheck port``: a PyTorch model and its JAX/Flax port compared output by output and gradient by
gradient; the conversion mistake located (the torch module path) and named, with its fix.

    from crosscheck.port import check_port, assert_port_equivalent
    assert_port_equivalent(torch_model, flax_model, input_shape=("B", 3, "H", "H"), sizes={"H": [8]})

The JAX model is a flax linen or nnx module, or a pure ``apply_fn(params, x)``. Parameters are
converted with the built-in rules (``crosscheck.port.rules``) or the user's
``convert(state_dict) -> params``; JAX's parameter gradients come back onto torch's parameters
through ``convert``'s VJP. Both directions (torch -> JAX, JAX -> torch), float64 and float32, under
``crosscheck.tolerance``. flax is optional.

Importing this package imports neither torch nor JAX. May import: ``crosscheck.tolerance``,
``crosscheck.errors``, ``crosscheck.audit`` (its table of defaults and conventions); the audit
never reads the port check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .jaxside import tap

if TYPE_CHECKING:  # pragma: no cover
    from .check import PortResult

__all__ = ["check_port", "assert_port_equivalent", "tap", "run_from_args"]


def check_port(torch_module: Any, jax_model: Any, **options: Any) -> PortResult:
    """Compare ``torch_module`` with its JAX port: a ``PortResult`` (``.ok``, ``.report()``,
    ``.findings``). Options: see ``crosscheck.port.check.check_port``."""
    from .check import check_port as run

    return run(torch_module, jax_model, **options)


def assert_port_equivalent(torch_module: Any, jax_model: Any, *, input_shape: Sequence,
                           convert: Callable | None = None, params: Any = None, **options: Any) -> PortResult:
    """Raise ``GradientMismatch`` (an AssertionError) naming the mistake and where it starts unless
    the port agrees on every drawn input, in both directions and both dtypes."""
    from ..errors import GradientMismatch

    result = check_port(torch_module, jax_model, input_shape=input_shape, convert=convert, params=params, **options)
    if not result.ok:
        raise GradientMismatch(result.report(), result)
    return result


def run_from_args(args: Any) -> int:
    """``crosscheck port FILE.py:make_torch FILE.py:make_jax``: exit 0 when the port agrees, 1 when
    it differs, 2 on a usage error."""
    from .cli import run

    return run(args)
