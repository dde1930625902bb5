"""One example of a layer through the student's code: its forward run in the sandbox on drawn inputs,
its backward on its own cache (kept in the worker) and a random ``dout``, and every array returned
compared here with the reference (``compare_parts``), under the tolerance policy.

Separate from ``crosscheck.layers.check`` (the search over examples, shrinking and the job around it)
because the comparison is shared: the layer sweep (``crosscheck.layers.sweep``) judges torch, JAX and
the numeric oracles against the reference with the same ``compare_parts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ImplementationError
from ..sandbox.client import Sandbox
from ..sandbox.verdicts import trim_output
from ..tolerance import policy_for
from .api import REFERENCE_DTYPE, BadReturn, Layer, NotImplementedResult
from .report import Part

__all__ = ["Outcome", "evaluate", "compare_parts", "OWN_ROUNDING_FACTOR"]


@dataclass
class Outcome:
    dims: dict
    mode: str
    value_seed: int
    inputs: dict
    passed: bool
    parts: list[Part] = field(default_factory=list)
    expected: dict = field(default_factory=dict)
    got: dict = field(default_factory=dict)
    mutated: list[str] = field(default_factory=list)
    not_implemented: str = ""
    output: str = ""
    raised: tuple | None = None  # (ImplementationError, where) when other examples raised
    notes: list = field(default_factory=list)  # kink conventions met (crosscheck.layers.kinks)
    others: list = field(default_factory=list)  # other failing examples met while searching and shrinking


# float32: a part whose error exceeds rtol still passes when it is within this factor of the error the
# reference itself makes when it computes in float32 on the same inputs (see compare_parts)
OWN_ROUNDING_FACTOR = 10.0


def compare_parts(expected: dict[str, np.ndarray], got: dict[str, Any], groups: tuple[tuple[str, ...], ...],
                  dtype: str, expected32: dict[str, np.ndarray] | None = None,
                  scales: dict[str, float] | None = None) -> list[Part]:
    """Each expected array against what came back, under the tolerance policy for ``dtype``: normwise
    relative error per array, with the floor taken from the norm of the whole group it belongs to
    (forward output, running statistics, gradients), as ``crosscheck.tolerance`` explains.

    float32: some layers are ill-conditioned on some inputs no matter how they are written (batchnorm
    over N = 2 samples: dx is O(eps / var), the difference of O(1) terms, so float32 rounding is a large
    fraction of it). There a part passes when its error is at most ``OWN_ROUNDING_FACTOR`` times the
    error of the reference's own float32 computation (``expected32``) on the same inputs: rounding that
    the reference shows too, up to a factor for another order of operations. A mistake is far larger.

    ``scales``: for an output computed as a difference of larger terms (a normalisation's dx is
    (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / std), the norm of those terms, which joins the
    group's norm in the floor. Rounding in any implementation is relative to the terms, not to what is
    left after they cancel: layer norm over D = 1 feature has dx = 0 exactly, and torch returns ~1e-13
    (eps64 / sqrt(eps)); the mistakes the catalogue names are of the size of the terms themselves."""
    policy = policy_for(dtype)
    parts: list[Part] = []
    for group in groups:
        names = [n for n in group if n in expected]
        whole = float(np.sqrt(sum(float(np.sum(np.asarray(expected[n], dtype=np.float64) ** 2)) for n in names)))
        for n in names:
            floor = max(policy.floor * max(whole, (scales or {}).get(n, 0.0)), policy.absolute_floor)
            e = np.asarray(expected[n], dtype=np.float64)
            g = got.get(n)
            g_shape = None if g is None else tuple(np.shape(g))
            if g is None or g_shape != e.shape:
                parts.append(Part(n, e.shape, g_shape, float("inf"), policy.rtol, False, "shape"))
                continue
            ga = np.asarray(g)
            if ga.dtype.kind not in "biuf":
                parts.append(Part(n, e.shape, g_shape, float("inf"), policy.rtol, False, "nan"))
                continue
            ga = ga.astype(np.float64)
            if not np.all(np.isfinite(ga)):
                parts.append(Part(n, e.shape, g_shape, float("inf"), policy.rtol, False, "nan"))
                continue
            denom = max(float(np.linalg.norm(e)), floor)
            rel = float(np.linalg.norm(ga - e)) / denom
            tol = policy.rtol
            if expected32 is not None and rel > tol and n in expected32 and np.shape(expected32[n]) == e.shape:
                own = float(np.linalg.norm(np.asarray(expected32[n], dtype=np.float64) - e)) / denom
                tol = max(tol, OWN_ROUNDING_FACTOR * own)
            absolute = None if np.any(e) else (float(np.linalg.norm(ga)), tol * denom)
            parts.append(Part(n, e.shape, g_shape, rel, tol, rel <= tol, "" if rel <= tol else "value", absolute))
    return parts


def evaluate(sandbox: Sandbox, layer: Layer, mode: str, dims: dict, value_seed: int, dtype: str,
              opts: dict) -> Outcome:
    rng = np.random.default_rng(value_seed)
    inputs = layer.inputs(dims, rng, dtype, opts)
    outcome = Outcome(dims, mode, value_seed, inputs, False)
    outputs: list[str] = []

    def call(name: str, args: list, keep: tuple = (), with_args: bool = False, on: Any = None) -> Any:
        result = sandbox.invoke(name, args, keep=keep, on=on)
        outcome.mutated += [f"{name}: {m}" for m in result.mutated]
        if result.output.strip():
            outputs.append(result.output)
        return (result.value, result.args_after) if with_args else result.value

    try:
        got = layer.run(call, inputs, opts)
    except NotImplementedResult as e:
        outcome.not_implemented = str(e)
        outcome.output = "\n".join(outputs)
        return outcome
    except BadReturn as e:
        raise ImplementationError(str(e), kind="bad_output", output=trim_output("\n".join(outputs))) from None
    expected = layer.expect(inputs, got, opts)
    note = expected.pop("_note", "")
    scales = expected.pop("_scales", None)
    if note:
        outcome.notes.append(note)
    expected32 = None
    if dtype == "float32":
        token = REFERENCE_DTYPE.set(np.float32)
        try:
            expected32 = layer.expect(inputs, got, opts)
            expected32.pop("_note", None)
            expected32.pop("_scales", None)
        finally:
            REFERENCE_DTYPE.reset(token)
    outcome.parts = compare_parts(expected, got, layer.groups, dtype, expected32, scales)
    outcome.expected, outcome.got = expected, got
    outcome.output = trim_output("\n".join(outputs))
    outcome.passed = all(p.passed for p in outcome.parts) and not outcome.mutated
    return outcome
