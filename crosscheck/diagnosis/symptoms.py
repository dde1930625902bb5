"""Mistakes that show in the returned arrays as a whole, before any gradient formula is matched.

- ``dtype``: integer gradients, or lower precision than the inputs (float32 for float64).
- ``returns_parameters``: the arrays are the updated parameters ``W - eta dW`` (a training step),
  with eta named.
- ``unreached_layer``: a gradient exactly zero where the reference's is not: the backward
  loop never reached that layer (typically an off-by-one in ``range``), or never wrote it.

Each returns ``(id, parameter, layer, detail)`` tuples; ``crosscheck.diagnosis.diagnose`` makes them
``Diagnosis`` objects. Arrays are named ``dW1, db1, ...`` in the user's layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["dtype_symptoms", "returned_parameters", "unreached_layers"]

Found = tuple[str, str, int, str]


def _layer(label: str) -> int:
    digits = "".join(ch for ch in label if ch.isdigit())
    return int(digits) if digits else 0


def _leaves(container: Any, labels: list[str]) -> list[tuple[str, Any]]:
    """(label, raw leaf) pairs: dict entries by key, otherwise in order against ``labels``."""
    if isinstance(container, Mapping):
        out = []
        for key, v in container.items():
            key = str(key)
            out.append(((key if key.startswith("d") else "d" + key), v))
        return out
    flat: list[Any] = []

    def walk(x: Any) -> None:
        if isinstance(x, (list, tuple)):
            for item in x:
                walk(item)
        else:
            flat.append(x)
    walk(container)
    return list(zip(labels, flat))


def dtype_symptoms(container: Any, labels: list[str], input_dtype: np.dtype) -> list[Found]:
    """Integer or lower-precision gradients: "int64 came back for dW1 and db1 (float64 inputs)"."""
    by_dtype: dict[str, list[str]] = {}
    for label, leaf in _leaves(container, labels):
        dt = getattr(leaf, "dtype", None)
        if dt is None:
            try:
                dt = np.asarray(leaf).dtype
            except Exception:  # noqa: BLE001 - anything odd is the container check's business
                continue
        dt = np.dtype(dt)
        low = dt.kind in "iub" or (dt.kind == "f" and dt.itemsize < np.dtype(input_dtype).itemsize)
        if low:
            by_dtype.setdefault(str(dt), []).append(label)
    out = []
    for dt, where in by_dtype.items():
        names = ", ".join(where)
        if np.dtype(dt).kind in "iub":
            why = ("integer arrays hold no fractions: an accumulator made with np.zeros(..., dtype=int) or "
                   "np.zeros_like of an integer array truncates every gradient written into it")
        else:
            why = (f"the inputs are {np.dtype(input_dtype)}; computing or returning in {dt} loses precision "
                   "(an explicit astype, or a buffer created with that dtype)")
        out.append(("dtype", where[0], _layer(where[0]), f"{dt} came back for {names} ({np.dtype(input_dtype)} "
                    f"inputs): {why}"))
    return out


def returned_parameters(got: dict[str, np.ndarray], params: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                        masks: dict[str, np.ndarray], tol: float) -> Found | None:
    """got = P - eta * expected for one eta > 0 over every parameter: a training step came back."""
    num = den = 0.0
    for p in expected:
        if got[p].shape != expected[p].shape or params.get(p) is None or params[p].shape != got[p].shape:
            return None
        mk = masks[p]
        d = (params[p] - got[p])[mk]
        e = expected[p][mk]
        num += float(np.dot(d, e))
        den += float(np.dot(e, e))
    if den == 0.0:
        return None
    eta = num / den
    if not abs(eta) > 0:
        return None
    resid = sum(float(np.sum(((params[p] - got[p]) - eta * expected[p])[masks[p]] ** 2)) for p in expected)
    scale = sum(float(np.sum(got[p][masks[p]] ** 2)) for p in expected)
    moved = sum(float(np.sum((eta * expected[p])[masks[p]] ** 2)) for p in expected)
    if resid > (tol ** 2) * max(moved, 1e-300) or moved < 1e-20 * max(scale, 1e-300):
        return None
    first = next(iter(expected))
    step = "W - eta dW" if eta > 0 else "W + |eta| dW (an ascent step)"
    return ("returns_parameters", first, _layer(first),
            f"the returned arrays are the updated parameters {step} with eta = {abs(eta):.6g}, not the "
            "gradients: return dW, db before (or instead of) the update step")


def unreached_layers(got: dict[str, np.ndarray], expected: dict[str, np.ndarray], masks: dict[str, np.ndarray],
                     floor: float) -> list[Found]:
    """Gradients exactly zero (every entry) where the reference's are not."""
    zero = [p for p in expected if got[p].shape == expected[p].shape and not np.any(got[p][masks[p]])
            and float(np.linalg.norm(expected[p][masks[p]])) > floor]
    if not zero:
        return []
    layers = sorted({_layer(p) for p in zero})
    names = ", ".join(sorted(zero, key=lambda p: (-_layer(p), p[1] != "W")))
    where = "layer " + str(layers[0]) if len(layers) == 1 else "layers " + ", ".join(map(str, layers))
    top = max(layers)
    return [("unreached_layer", f"dW{top}" if f"dW{top}" in zero else zero[0], top,
             f"{names} {'is' if len(zero) == 1 else 'are'} exactly zero: the backward pass never reached {where} "
             "(a loop such as range(L - 1, 0, -1) that stops one layer early?) or never wrote its gradient")]
