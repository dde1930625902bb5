"""The derivative torch and JAX take at exactly 0 for kinked expressions (float64).

crosscheck's activation table uses the frameworks' conventions (relu'(0) = 0, leaky_relu's and
elu's as below), and ``crosscheck.sweep.triage`` names the one a backend follows. docs/measurements.md
holds the output.

    .venv/bin/python benchmarks/kink_table.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import torch


def torch_grad_at_zero(f) -> float:
    x = torch.zeros((), dtype=torch.float64, requires_grad=True)
    return float(torch.autograd.grad(f(x), x)[0])


ROWS = [
    ("relu", torch.relu, jax.nn.relu),
    ("where(x > 0, x, 0)", lambda x: torch.where(x > 0, x, torch.zeros_like(x)), lambda x: jnp.where(x > 0, x, 0.0)),
    ("maximum(x, 0)", lambda x: torch.maximum(x, torch.zeros_like(x)), lambda x: jnp.maximum(x, 0.0)),
    ("clamp / clip(x, 0)", lambda x: torch.clamp(x, min=0), lambda x: jnp.clip(x, 0.0)),
    ("abs", torch.abs, jnp.abs),
    ("leaky_relu", torch.nn.functional.leaky_relu, jax.nn.leaky_relu),
    ("elu", torch.nn.functional.elu, jax.nn.elu),
]

if __name__ == "__main__":
    print(f"torch {torch.__version__}, jax {jax.__version__}")
    print("| expression | torch | JAX |\n|---|---|---|")
    for name, ft, fj in ROWS:
        print(f"| {name} | {torch_grad_at_zero(ft):g} | {float(jax.grad(fj)(0.0)):g} |")
