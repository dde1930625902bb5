"""crosscheck: prove a neural network's gradients right.

A NumPy reference of backpropagation in matrix notation (four formula routes and two
numeric oracles, from the seed documents) checked against torch.autograd, jax.grad and
implementations under test, on networks that hypothesis invents, in every layout.

The flow is one way: spec (Network, Convention) -> Case -> gradients -> comparison -> report.
``import crosscheck`` imports NumPy only; torch, JAX and hypothesis load when used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .errors import ConventionError, CrosscheckError, GradientMismatch, ImplementationError, UsageError
from .model.case import Case
from .model.conventions import Convention
from .model.network import Network
from .version import __version__

__all__ = [
    "Network",
    "Convention",
    "Case",
    "reference_gradients",
    "compare_gradients",
    "check_implementation",
    "check_layers",
    "assert_grads_close",
    "strategies",
    "run_audit",
    "network_from_torch",
    "torch_parameters",
    "torch_gradients",
    "jax_parameters",
    "jax_gradients",
    "check_port",
    "assert_port_equivalent",
    "CrosscheckError",
    "UsageError",
    "ConventionError",
    "GradientMismatch",
    "ImplementationError",
    "__version__",
]

# name -> "module:attribute", imported on first use so `import crosscheck` stays light
_LAZY = {
    "reference_gradients": "crosscheck.reference.recursive:gradients",
    "compare_gradients": "crosscheck.compare:compare_gradients",
    "check_implementation": "crosscheck.check.job:check_implementation",
    "check_layers": "crosscheck.layers.check:check_layers",
    "assert_grads_close": "crosscheck.testing:assert_grads_close",
    "strategies": "crosscheck.strategies:",
    "run_audit": "crosscheck.audit:run_audit",
    "network_from_torch": "crosscheck.frameworks:network_from_torch",
    "torch_parameters": "crosscheck.frameworks:torch_parameters",
    "torch_gradients": "crosscheck.frameworks:torch_gradients",
    "jax_parameters": "crosscheck.frameworks:jax_parameters",
    "jax_gradients": "crosscheck.frameworks:jax_gradients",
    "check_port": "crosscheck.port:check_port",
    "assert_port_equivalent": "crosscheck.port:assert_port_equivalent",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, _, attr = _LAZY[name].partition(":")
        mod = import_module(module)
        value = getattr(mod, attr) if attr else mod
        globals()[name] = value
        return value
    raise AttributeError(f"module 'crosscheck' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
