"""Per-layer references: the forward pass and the vector-Jacobian product (VJP) of each layer family
of CS231n-style modular layers, in NumPy, written beside the course's formulas.

One module per family: ``affine``, ``relu``, ``losses`` (softmax and SVM), ``norm`` (batch, layer,
spatial batch and group normalisation), ``dropout``, ``conv`` and ``pool``. Each ``vjp(dout, ...)``
returns the gradients of ``sum(dout * forward(...))`` with respect to every input, computed from the
inputs alone (no cache), in float64. They share nothing with each other, with torch or with JAX;
``crosscheck sweep --layers`` checks them against ``torch.nn.functional`` autograd, ``jax.vjp`` and
finite differences.

May import: NumPy only.
"""

from __future__ import annotations

from . import affine, conv, dropout, losses, norm, pool, relu

__all__ = ["affine", "conv", "dropout", "losses", "norm", "pool", "relu"]
