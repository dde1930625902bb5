"""The catalogue's ids, the ``Diagnosis`` record, and the user's gradient container as named arrays.

``user_arrays`` reads a gradient container in the declared convention as ``{"dW1": ..., "db1": ...}``
(shapes unchecked; a wrong container is a ``ConventionError``); ``expected_user_arrays`` lays the
canonical reference out the same way. ``crosscheck.diagnosis.matcher`` and
``crosscheck.diagnosis.diagnose`` work on these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConventionError
from ..model.case import Case
from ..model.conventions import Convention, as_finite_array
from ..model.network import Network

__all__ = ["CATALOGUE", "FINDINGS", "RANK", "Diagnosis", "user_arrays", "expected_user_arrays", "parameter_names",
           "masks"]

CATALOGUE = ("transposed", "sign", "scale", "layer_order", "bias_not_reduced", "activation_derivative",
             "missing_activation_derivative", "no_transpose_in_backprop", "single_sample", "vec_order",
             "mutates_inputs", "kink_convention", "dtype", "stateful", "returns_parameters", "unreached_layer",
             "loss", "regularization", "activation_gradient", "shape", "unknown")
RANK = {name: i for i, name in enumerate(CATALOGUE)}
# findings beyond the mechanism catalogue (issue 18): another declaration exactly (``activation``; ``loss`` is
# the catalogue's), the first departing quantity (``output_gradient``, ``layer_gradient``), a declared
# convention the code does not follow, and container slips (``crosscheck.diagnosis.container``)
FINDINGS = ("activation", "output_gradient", "layer_gradient", "convention", "key_offset", "swapped", "batch_size",
            "cached_activation")


@dataclass(frozen=True)
class Diagnosis:
    """One named mistake: catalogue ``id``, the first ``parameter`` (``"dW2"``) and ``layer``
    where it shows, going backwards from the output, and a sentence for the user."""

    id: str
    parameter: str
    layer: int
    detail: str

    def to_dict(self) -> dict:
        return {"id": self.id, "parameter": self.parameter, "layer": self.layer, "detail": self.detail}

    def __str__(self) -> str:
        return f"{self.id} ({self.parameter}): {self.detail}"


# ---- the user's gradient container as named arrays ------------------------------------------------

def parameter_names(network: Network, convention: Convention) -> list[tuple[str, int, str]]:
    """(label, layer, kind) in layer order: dW1, db1, dW2, ..."""
    separate = convention.has_bias and not convention.augmented
    out = []
    for layer in range(1, network.depth + 1):
        out.append((f"dW{layer}", layer, "W"))
        if separate:
            out.append((f"db{layer}", layer, "b"))
    return out


def user_arrays(convention: Convention, network: Network, container: Any) -> dict[str, np.ndarray]:
    """``{"dW1": ..., "db1": ..., ...}`` from a gradient container in ``convention``, shapes unchecked.

    Raises ``ConventionError`` when it is not the declared container of finite numeric arrays
    (wrong container, keys or number of layers, None, NaN, non-numbers): that is a failure to
    run (exit 3), while a wrong shape inside the right container is a wrong gradient (exit 1)."""
    k = network.depth
    separate = convention.has_bias and not convention.augmented
    raw: dict[str, Any] = {}
    if convention.params == "dict":
        if not isinstance(container, Mapping):
            raise ConventionError(f"expected a dict of gradients (params='dict'), got {_kind(container)}")
        allowed = set()
        for label, _layer, _k in parameter_names(network, convention):
            keys = (label, label[1:])
            allowed.update(keys)
            found = [key for key in keys if key in container]
            if not found:
                raise ConventionError(f"missing key {label!r} (or {label[1:]!r}) in the gradient dict; got keys "
                                      f"{sorted(map(str, container))}")
            raw[label] = container[found[0]]
        extra = sorted(set(map(str, container)) - allowed)
        if extra:
            raise ConventionError(f"unexpected keys in the gradient dict: {extra}")
    else:
        if not isinstance(container, (list, tuple)):
            raise ConventionError(f"expected a list of gradients (params='pairs'), got {_kind(container)}")
        if len(container) != k:
            raise ConventionError(f"expected {k} layers of gradients, got {len(container)}")
        for layer, item in enumerate(container, start=1):
            if separate:
                if not isinstance(item, (list, tuple)) or len(item) != 2:
                    raise ConventionError(f"layer {layer}: expected a (dW, db) pair, got {_kind(item)}")
                raw[f"dW{layer}"], raw[f"db{layer}"] = item
            else:
                raw[f"dW{layer}"] = item
    return {label: np.asarray(as_finite_array(v, label), dtype=np.float64) for label, v in raw.items()}


def _kind(obj: Any) -> str:
    return repr(obj) if type(obj).__name__ == "Opaque" else type(obj).__name__


def expected_user_arrays(case: Case, grads: Any) -> dict[str, np.ndarray]:
    """Canonical gradients in the case's own layout, as named arrays (fixed augmented rows zero)."""
    c = case.convention
    return user_arrays(c, case.network, c.params_to_user(grads, case.network, gradient=True))


def masks(case: Case) -> dict[str, np.ndarray]:
    """True where an entry is a parameter's gradient (False on seed 000's fixed rows)."""
    c, net = case.convention, case.network
    out = {}
    for label, layer, kind in parameter_names(net, c):
        shape = c.user_weight_shape(net, layer) if kind == "W" else c.user_bias_shape(net, layer)
        m = np.ones(shape, dtype=bool)
        if kind == "W" and c.augmented and layer < net.depth:
            if c.weights == "in_out":
                m[:, -1] = False
            else:
                m[-1, :] = False
        out[label] = m
    return out
