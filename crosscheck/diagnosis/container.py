"""Mistakes in the container a program returns, named instead of refused or misread as shape errors.

- ``key_offset``: a dict whose keys are dW0, db0, ... dW{k-1} (a zero-based loop index): the values are
  read one layer up and compared;
- ``convention`` (container): a dict returned where ``--params pairs`` is declared, or a list where
  ``dict`` is; the values are read in the container the code returns and compared;
- ``swapped``: every (dW, db) pair returned as (db, dW), or the dict's dW and db entries exchanged;
- ``batch_size``: every gradient is m/M times the reference for a constant M (a hard-coded batch size).

Each returns ``(id, parameter, layer, sentence)`` or None; nothing here raises on odd containers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import ConventionError
from ..model.case import Case
from .catalogue import expected_user_arrays, user_arrays
from .matcher import nice_factors
from .mistakes import as_float64, backprop

__all__ = ["container_diagnosis", "swapped", "hardcoded_batch_size"]

_KEY = re.compile(r"^(d?)([Wb])(\d+)$")


def _matches(got: dict, expected: dict) -> bool:
    return all(k in got and got[k].shape == v.shape and np.allclose(got[k], v, rtol=1e-6,
               atol=1e-9 * max(float(np.abs(v).max()), 1e-300)) for k, v in expected.items())


def _expected(case: Case, convention=None) -> dict:
    c = case if convention is None else replace(case, convention=convention)
    params, X, Y = as_float64(case)
    grads, _ = backprop(case.network, params, X, Y)
    return expected_user_arrays(c, grads)


def container_diagnosis(case: Case, value: Any) -> tuple[str, str, int, str] | None:
    """Why ``value`` is not the declared container, when a plain slip explains it."""
    conv, net = case.convention, case.network
    if conv.params == "dict" and isinstance(value, Mapping):
        keys = [_KEY.match(str(k)) for k in value]
        idx = sorted({int(m.group(3)) for m in keys if m})
        if idx and idx[0] == 0 and idx[-1] == net.depth - 1:
            renamed = {}
            for key, v in value.items():
                m = _KEY.match(str(key))
                if m:
                    renamed[f"{m.group(1)}{m.group(2)}{int(m.group(3)) + 1}"] = v
            try:
                got = user_arrays(conv, net, renamed)
                right = _matches(got, _expected(case))
            except (ConventionError, ValueError):
                right = False
            tail = ("with the right values one layer up" if right else
                    "and their values are wrong as well, read one layer up")
            return ("key_offset", "dW1", 1, f"the gradient keys are {', '.join(sorted(map(str, value))[:4])}...: "
                    f"numbered from 0 (an index off by one), where layer l's are dW{{l}}/db{{l}}, l = 1..{net.depth}, "
                    f"{tail}")
    other = None
    if conv.params == "pairs" and isinstance(value, Mapping):
        other = replace(conv, params="dict")
    elif conv.params == "dict" and isinstance(value, (list, tuple)):
        other = replace(conv, params="pairs")
    if other is not None:
        try:
            got = user_arrays(other, net, value)
        except (ConventionError, ValueError):
            return None  # not the other container either (keys or layers missing): a bad output, exit 3
        right = _matches(got, _expected(case, other))
        kind = "a dict of gradients" if other.params == "dict" else "a list of per-layer gradients"
        return ("convention", "dW1", 1, f"your code returns {kind}: it behaves like --params {other.params}; you "
                f"declared --params {conv.params}" + (" (read that way, its values are right)" if right else
                                                      " (read that way, its values are still wrong)"))
    return None


def swapped(case: Case, value: Any) -> tuple[str, str, int, str] | None:
    """Every layer's (dW, db) exchanged, and right once swapped back."""
    conv, net = case.convention, case.network
    if not conv.has_bias or conv.augmented:
        return None
    if conv.params == "pairs" and isinstance(value, (list, tuple)):
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
            return None
        back = [(b, W) for W, b in value]
    elif conv.params == "dict" and isinstance(value, Mapping):
        back = {}
        for key, v in value.items():
            m = _KEY.match(str(key))
            back[(f"{m.group(1)}{'b' if m.group(2) == 'W' else 'W'}{m.group(3)}") if m else key] = v
    else:
        return None
    try:
        got = user_arrays(conv, net, back)
    except (ConventionError, ValueError):
        return None
    if not _matches(got, _expected(case)):
        return None
    return ("swapped", "dW1", 1, "the weight and bias gradients are swapped: each layer returns (db, dW) where "
            "(dW, db) is declared" if conv.params == "pairs" else
            "the weight and bias gradients are swapped: dW{l} holds db{l}'s values and db{l} holds dW{l}'s")


def hardcoded_batch_size(case: Case, got: tuple) -> int | None:
    """M when every data gradient is m/M times the reference's, M an integer >= 2 other than m, m^2, 2m."""
    net = case.network
    if net.reduction == "sum" or net.l2 or net.l1 or case.batch_size < 2:
        return None
    params, X, Y = as_float64(case)
    want, _ = backprop(net, params, X, Y)
    flat = lambda g: np.concatenate([np.ravel(a) for pair in g for a in pair if a is not None])  # noqa: E731
    try:
        a, b = flat(got), flat(want)
    except ValueError:
        return None
    if a.shape != b.shape or not np.any(b):
        return None
    r = float(np.vdot(a, b) / np.vdot(b, b))
    if r <= 0 or not np.allclose(a, r * b, rtol=1e-6, atol=1e-9 * float(np.abs(b).max())):
        return None
    if any(np.isclose(r, f, rtol=1e-6) for f, _name in nice_factors(case)):
        return None  # a factor a dimension or a reduction explains (scale, loss) is not a constant batch size
    m = case.batch_size
    M = m / r
    if abs(M - round(M)) > 1e-6 * M or round(M) < 2 or round(M) in (m, m * m):
        return None
    return int(round(M))
