"""A failing layer, re-drawn where the causes can be told apart (as ``check`` does for networks with
``crosscheck.diagnosis.evidence``).

Shrinking finds the smallest failing case, and on the smallest case many slips give the same array: at
N = 1 batchnorm's dx is 0 whatever its mean path; on a 1 x 2 relu input whose dout is positive, a mask
from dout and no mask at all agree; with eps = 1e-5 a missing eps changes nothing visible. So a failing
layer is evaluated once more on a case chosen to separate them:

- N >= 3 samples and every dimension distinct from the others (a transpose or an axis is then visible);
- dout with entries of both signs;
- eps = 0.1 for the normalisation layers (large enough that leaving it out moves every entry), and
  momentum 0.75 (at 0.5 the momentum's two weights are equal, so swapping them changes nothing);
- no ties and no kinks (ties only when ties are tested, which this case does not do);
- conv with stride 2, pad 1 and a non-square kernel; max pooling with a non-square, overlapping window.

``discriminating(...)`` returns that outcome when the layer fails there too; the diagnosis prefers it.
``rerun_advice(...)`` checks a piece of advice (another ``--dropout-p``) by running it before it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["DISCRIMINATING", "discriminating", "rerun_advice"]

DISCRIMINATING_EPS = 0.1
DISCRIMINATING_MOMENTUM = 0.75

# one case per layer: N >= 3, dimensions distinct (N differs from every other size)
DISCRIMINATING: dict[str, dict] = {
    "affine": {"N": 3, "d": [4, 2], "M": 5},
    "relu": {"shape": [3, 5]},
    "softmax_loss": {"N": 3, "C": 5},
    "svm_loss": {"N": 3, "C": 5},
    "batchnorm": {"N": 3, "D": 5},
    "batchnorm_alt": {"N": 3, "D": 5},
    "layernorm": {"N": 3, "D": 5},
    "dropout": {"shape": [3, 5], "keep": 0.8},
    "conv": {"N": 3, "C": 2, "F": 7, "HH": 3, "WW": 2, "stride": 2, "pad": 1, "Ho": 3, "Wo": 4, "H": 5, "W": 6},
    # one row and column of slack past the last window: a slipped argmax index stays inside x
    "max_pool": {"N": 3, "C": 4, "ph": 3, "pw": 2, "stride": 2, "Ho": 2, "Wo": 3, "H": 6, "W": 7},
    "spatial_batchnorm": {"N": 3, "C": 2, "H": 4, "W": 5},
    "spatial_groupnorm": {"N": 3, "G": 2, "C": 6, "H": 4, "W": 5},
}
_SEEDS = 4  # value seeds tried: the first whose dout has both signs


def _both_signs(inputs: dict) -> bool:
    dout = inputs.get("dout")
    return not isinstance(dout, np.ndarray) or (bool((dout > 0).any()) and bool((dout < 0).any()))


def discriminating(layer: Any, evaluate: Callable[[dict, int, dict], Any], opts: dict, dtype: str) -> Any | None:
    """The layer's outcome on its discriminating case when it fails there, else None.

    ``evaluate(dims, value_seed, opts)`` runs the implementation (``crosscheck.layers.evaluate``); an
    implementation error on this case (the slip raises on these dimensions) is skipped."""
    from ..errors import ImplementationError

    dims = DISCRIMINATING.get(layer.name)
    if dims is None:
        return None
    case_opts = {**opts, "eps": DISCRIMINATING_EPS, "momentum": DISCRIMINATING_MOMENTUM}
    for seed in range(_SEEDS):
        inputs = layer.inputs(dims, np.random.default_rng(seed), dtype, case_opts)
        if not _both_signs(inputs):
            continue
        try:
            outcome = evaluate(dims, seed, case_opts)
        except ImplementationError:
            return None  # the code raises on this case (a restarted worker each time: do not retry)
        return None if outcome.passed else outcome
    return None


def rerun_advice(diagnosis: list[dict], dropout_p: str, run_other: Callable[[str], str]) -> None:
    """Where the dropout convention is diagnosed, run the layer under the other ``--dropout-p`` and say
    what that run found, instead of advising it unchecked. ``run_other(convention)`` returns the verdict
    ("pass", "fail", "error"); the detail of the diagnosis is extended in place."""
    entries = [d for d in diagnosis if d["id"] == "dropout_p_convention"]
    if not entries:
        return
    other = "drop" if dropout_p == "keep" else "keep"
    verdict = run_other(other)
    if verdict == "pass":
        text = f"; re-run with --dropout-p {other}: dropout passes, so use --dropout-p {other}"
    else:
        text = (f"; re-run with --dropout-p {other}: dropout still fails ({verdict}), so the convention is not "
                "the only mistake")
    for d in entries:
        d["detail"] += text
