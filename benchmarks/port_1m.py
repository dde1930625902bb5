"""How long the port check of a ~1M-parameter model takes (docs/measurements.md).

    python benchmarks/port_1m.py

A 5-layer MLP with LayerNorm (1,035,786 parameters) and its pure-JAX port: the full check (4 drawn
inputs, both directions, float64 and float32) and, on the same model, a planted mistake (the last
hidden layer's kernel not transposed) found, located and named. The load average is printed with
the figures: on a shared machine, compare only figures of one run.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import torch
from torch import nn

from crosscheck.port import check_port
from crosscheck.port.rules import builtin_convert

WIDTH, IN, OUT = 544, 256, 10


class Big(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc0 = nn.Linear(IN, WIDTH)
        self.hidden = nn.ModuleList([nn.Linear(WIDTH, WIDTH) for _ in range(3)])
        self.ln = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, OUT)

    def forward(self, x):
        h = torch.tanh(self.fc0(x))
        for layer in self.hidden:
            h = torch.tanh(layer(h))
        return self.head(self.ln(h))


def big_jax(p, x):
    h = jnp.tanh(x @ p["fc0"]["kernel"] + p["fc0"]["bias"])
    for i in range(3):
        q = p["hidden"][str(i)]
        h = jnp.tanh(h @ q["kernel"] + q["bias"])
    mu = h.mean(-1, keepdims=True)
    var = ((h - mu) ** 2).mean(-1, keepdims=True)
    h = (h - mu) / jnp.sqrt(var + 1e-5) * p["ln"]["scale"] + p["ln"]["bias"]
    return h @ p["head"]["kernel"] + p["head"]["bias"]


def main() -> None:
    torch.manual_seed(0)
    model = Big().double()
    n = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n:,}; jax {jax.__version__}; load average {os.getloadavg()[0]:.1f}")
    t, c = time.perf_counter(), time.process_time()
    r = check_port(model, big_jax, input_shape=("B", IN), sizes={"B": [1, 8, 32]})
    print(f"correct port: {'PASSED' if r.ok else 'FAILED'} {len(r.outcomes)} comparisons, {r.examples} inputs, "
          f"{time.perf_counter() - t:.1f} s wall, {time.process_time() - c:.1f} s CPU")
    rules = builtin_convert(model)

    def convert(sd):
        p = rules(sd)
        p["hidden"]["2"]["kernel"] = sd["hidden.2.weight"]
        return p
    t, c = time.perf_counter(), time.process_time()
    r = check_port(model, big_jax, convert=convert, input_shape=("B", IN), sizes={"B": [1, 8, 32]})
    f = r.findings[0] if r.findings else None
    print(f"planted mistake: {'named ' + f.mistake + ' at ' + f.path if f else 'NOT NAMED'}, "
          f"{time.perf_counter() - t:.1f} s wall, {time.process_time() - c:.1f} s CPU; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
