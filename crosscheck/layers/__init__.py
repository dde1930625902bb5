"""Checking CS231n-style modular layers: ``affine_forward(x, w, b) -> (out, cache)``,
``affine_backward(dout, cache) -> (dx, dw, db)`` and the rest of the course's API, one verdict per layer.

``check_layers`` is the job (``crosscheck check layers.py --api cs231n``); ``api`` holds the table of
layers, ``diagnose`` the catalogue of mistakes, ``report`` the verdicts, ``sweep`` the cross-check of the
per-layer references (``crosscheck.reference.layers``) against torch, JAX and finite differences.

May import: ``crosscheck.reference.layers``, the sandbox, tolerance, profiles, output, errors;
never the check job, the sweep or the grade.
"""

from __future__ import annotations

from .check import check_layers
from .report import LayersReport, LayerVerdict

__all__ = ["check_layers", "LayersReport", "LayerVerdict"]
