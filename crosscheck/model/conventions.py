"""How a user's code lays out the same network, and exact conversions to and from canonical.

Canonical (what every reference route computes in): samples are columns, ``X: (n_0, m)``,
``W_l: (n_l, n_{l-1})`` (out_in), ``b_l: (n_l,)``; parameters are a tuple of ``(W, b)``
pairs, ``b`` is ``None`` without bias. Conversions are transposes, reshapes, slices and
concatenations only, so they are exact in every dtype. ``*_to_user`` and ``params_from_user``
accept leading axes (a stack of D parameter draws) on every array.

Axes of a convention:

- batch:   ``rows`` (X: m x n), ``columns`` (X: n x m), ``single`` (one sample, X: n x 1)
- weights: ``out_in`` (W_l: n_l x n_{l-1}) or ``in_out`` (its transpose)
- bias:    ``none``, ``vector`` (n,), ``column`` (n, 1), ``row`` (1, n), or ``augmented``:
           seed 000 section 3, a homogeneous network with a constant-1 input. Each W carries
           its bias as the last column (out_in); hidden layers carry a fixed last row
           [0 ... 0, 1] and an identity "formal" neuron. The fixed rows are not parameters:
           their gradient entries are written as zeros and never compared.
- params:  ``pairs`` (list of (W, b), or of W when there is no separate bias) or ``dict``
           (``W1, b1, ...``; gradients ``dW1, db1, ...``, and ``W1, b1`` keys are accepted back)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..errors import ConventionError
from .network import Network

__all__ = ["Convention", "BATCH", "WEIGHTS", "BIAS", "PARAMS", "Canonical", "all_conventions", "labels_to_canonical"]

BATCH = ("rows", "columns", "single")
WEIGHTS = ("out_in", "in_out")
BIAS = ("none", "vector", "column", "row", "augmented")
PARAMS = ("pairs", "dict")

Canonical = tuple  # tuple[tuple[np.ndarray, np.ndarray | None], ...]


@dataclass(frozen=True)
class Convention:
    batch: str = "columns"
    weights: str = "out_in"
    bias: str = "vector"
    params: str = "pairs"

    def __post_init__(self) -> None:
        for f, allowed in (("batch", BATCH), ("weights", WEIGHTS), ("bias", BIAS), ("params", PARAMS)):
            v = getattr(self, f)
            if v not in allowed:
                raise ValueError(f"{f} must be one of {', '.join(allowed)}; got {v!r}")

    # ---- naming ------------------------------------------------------------------------
    @property
    def has_bias(self) -> bool:
        return self.bias != "none"

    @property
    def augmented(self) -> bool:
        return self.bias == "augmented"

    def describe(self) -> str:
        return f"{self.batch}/{self.weights}/{self.bias}/{self.params}"

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, str]) -> Convention:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def check_network(self, network: Network) -> None:
        if network.bias != self.has_bias:
            raise ConventionError(
                f"bias layout {self.bias!r} does not fit a network with bias={network.bias}"
            )

    # ---- data --------------------------------------------------------------------------
    def x_to_user(self, X: np.ndarray) -> np.ndarray:
        """Canonical ``X: (n_0, m)`` to the user's layout (constant-1 feature when augmented)."""
        if self.augmented:
            X = np.concatenate([X, np.ones(X.shape[:-2] + (1, X.shape[-1]), dtype=X.dtype)], axis=-2)
        return np.ascontiguousarray(_t(X)) if self.batch == "rows" else np.array(X)

    def y_to_user(self, Y: np.ndarray | None, targets: str = "soft") -> np.ndarray | None:
        """Canonical ``Y: (..., n_k, m)`` to the user's layout. ``targets="labels"`` gives the
        class of each sample instead, a 1-D integer array ``(..., m)`` in every layout."""
        if Y is None:
            return None
        if targets == "labels":
            return np.argmax(Y, axis=-2).astype(np.int64)
        return np.ascontiguousarray(_t(Y)) if self.batch == "rows" else np.array(Y)

    def x_from_user(self, X: np.ndarray, network: Network) -> np.ndarray:
        X = np.asarray(X)
        Xc = X.T if self.batch == "rows" else X
        n0 = network.n_in + (1 if self.augmented else 0)
        if X.ndim != 2 or Xc.shape[0] != n0:
            raise ConventionError(f"X has shape {X.shape}; batch layout {self.batch!r} expects "
                                  + (f"(m, {n0})" if self.batch == "rows" else f"({n0}, m)"))
        if self.batch == "single" and Xc.shape[1] != 1:
            raise ConventionError(f"batch layout 'single' expects X of shape ({n0}, 1), got {X.shape}")
        return np.array(Xc[:-1] if self.augmented else Xc)

    def y_from_user(self, Y: np.ndarray | None, network: Network) -> np.ndarray | None:
        """The user's targets back to canonical ``(n_k, m)``."""
        if Y is None:
            return None
        Y = np.asarray(Y)
        if network.targets == "labels":
            return labels_to_canonical(Y, network.n_out)
        Yc = _t(Y) if self.batch == "rows" else Y
        if Y.ndim != 2 or Yc.shape[0] != network.n_out:
            raise ConventionError(f"Y has shape {Y.shape}; batch layout {self.batch!r} expects "
                                  + (f"(m, {network.n_out})" if self.batch == "rows" else f"({network.n_out}, m)"))
        return np.array(Yc)

    def batch_size_allowed(self, m: int) -> bool:
        return m == 1 if self.batch == "single" else m >= 1

    # ---- parameters ----------------------------------------------------------------------
    def _user_weight(self, W: np.ndarray, b: np.ndarray | None, last: bool) -> np.ndarray:
        if self.augmented:
            W = np.concatenate([W, b[..., :, None]], axis=-1)
            if not last:
                fixed = np.zeros(W.shape[:-2] + (1, W.shape[-1]), dtype=W.dtype)
                fixed[..., 0, -1] = 1
                W = np.concatenate([W, fixed], axis=-2)
        return np.ascontiguousarray(_t(W)) if self.weights == "in_out" else np.array(W)

    def _user_bias(self, b: np.ndarray) -> np.ndarray:
        return {"vector": lambda: np.array(b), "column": lambda: b[..., :, None].copy(),
                "row": lambda: b[..., None, :].copy()}[self.bias]()

    def user_weight_shape(self, network: Network, layer: int) -> tuple[int, int]:
        n_out, n_in = network.weight_shape(layer)
        if self.augmented:
            n_in += 1
            n_out += 0 if layer == network.depth else 1
        return (n_in, n_out) if self.weights == "in_out" else (n_out, n_in)

    def user_bias_shape(self, network: Network, layer: int) -> tuple[int, ...] | None:
        n = network.widths[layer]
        return {"vector": (n,), "column": (n, 1), "row": (1, n)}.get(self.bias)

    def params_to_user(self, canonical: Canonical, network: Network, *, gradient: bool = False) -> Any:
        """Canonical ``((W, b), ...)`` to the user's container; ``gradient`` picks dW/db keys
        and writes zeros in the fixed augmented rows."""
        k = len(canonical)
        Ws, bs = [], []
        for layer, (W, b) in enumerate(canonical, start=1):
            Wu = self._user_weight(W, b, last=layer == k)
            if gradient and self.augmented and layer < k:
                if self.weights == "in_out":
                    Wu[..., :, -1] = 0
                else:
                    Wu[..., -1, :] = 0
            Ws.append(Wu)
            bs.append(self._user_bias(b) if self.has_bias and not self.augmented else None)
        prefix = "d" if gradient else ""
        if self.params == "dict":
            out: dict[str, np.ndarray] = {}
            for layer, (Wu, bu) in enumerate(zip(Ws, bs), start=1):
                out[f"{prefix}W{layer}"] = Wu
                if bu is not None:
                    out[f"{prefix}b{layer}"] = bu
            return out
        if self.has_bias and not self.augmented:
            return [(Wu, bu) for Wu, bu in zip(Ws, bs)]
        return list(Ws)

    def params_from_user(self, user: Any, network: Network, *, gradient: bool = False) -> Canonical:
        """The user's container back to canonical, with a clear error for anything off.

        For gradients, ``dW1``/``db1`` and ``W1``/``b1`` keys are both accepted."""
        what = "gradient" if gradient else "parameter"
        k = network.depth
        separate_bias = self.has_bias and not self.augmented
        Ws: list[Any] = []
        bs: list[Any] = []
        if self.params == "dict":
            if not isinstance(user, Mapping):
                raise ConventionError(f"expected a dict of {what}s (params='dict'), got {type(user).__name__}")
            for layer in range(1, k + 1):
                Ws.append(_get_key(user, f"W{layer}", gradient))
                bs.append(_get_key(user, f"b{layer}", gradient) if separate_bias else None)
            extra = set(map(str, user)) - {f"{p}{n}{layer}" for p in ("", "d") for n in "Wb"
                                           for layer in range(1, k + 1)}
            if extra:
                raise ConventionError(f"unexpected keys in the {what} dict: {sorted(extra)}")
        else:
            if isinstance(user, (Mapping, str, bytes)) or not isinstance(user, Sequence):
                raise ConventionError(f"expected a list of {what}s (params='pairs'), got {type(user).__name__}")
            if len(user) != k:
                raise ConventionError(f"expected {k} layers of {what}s, got {len(user)}")
            for layer, item in enumerate(user, start=1):
                if separate_bias:
                    if not isinstance(item, Sequence) or isinstance(item, (str, bytes)) or len(item) != 2:
                        raise ConventionError(f"layer {layer}: expected a (W, b) pair, got {type(item).__name__}")
                    Ws.append(item[0])
                    bs.append(item[1])
                else:
                    Ws.append(item)
                    bs.append(None)
        out = []
        lead: tuple[int, ...] | None = None  # leading draw axes, the same for every array
        for layer, (Wu, bu) in enumerate(zip(Ws, bs), start=1):
            name = f"{'d' if gradient else ''}W{layer}"
            Wu = as_finite_array(Wu, name)
            expected = self.user_weight_shape(network, layer)
            if lead is None:
                lead = Wu.shape[:-2]
            if Wu.shape != lead + expected:
                raise ConventionError(f"{name} has shape {Wu.shape}; expected {lead + expected} "
                                      f"(weights {self.weights!r}, bias {self.bias!r})")
            W = _t(Wu) if self.weights == "in_out" else Wu
            b = None
            if self.augmented:
                n_out = network.widths[layer]
                W, b = W[..., :n_out, :-1], W[..., :n_out, -1]
            elif separate_bias:
                bname = f"{'d' if gradient else ''}b{layer}"
                bu = as_finite_array(bu, bname)
                bexp = self.user_bias_shape(network, layer)
                if bu.shape != lead + bexp:
                    raise ConventionError(f"{bname} has shape {bu.shape}; expected {lead + bexp} "
                                          f"(bias {self.bias!r})")
                b = bu.reshape(lead + (-1,))
            out.append((np.array(W), None if b is None else np.array(b)))
        return tuple(out)


def labels_to_canonical(labels: np.ndarray, n_out: int) -> np.ndarray:
    """Integer class labels ``(m,)`` to canonical one-hot ``Y: (n_out, m)`` (float64)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ConventionError(f"labels must be a 1-D integer array of length m, got dtype {labels.dtype} "
                              f"and shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_out):
        raise ConventionError(f"labels must lie in 0..{n_out - 1} (one per output unit), got "
                              f"{labels.min()}..{labels.max()}")
    Y = np.zeros((n_out, labels.size))
    Y[labels, np.arange(labels.size)] = 1.0
    return Y


def _t(a: np.ndarray) -> np.ndarray:
    """Transpose the last two axes (leading axes are stacked draws)."""
    return np.swapaxes(a, -1, -2)


def _get_key(user: Mapping, key: str, gradient: bool) -> Any:
    for k in ((f"d{key}", key) if gradient else (key,)):
        if k in user:
            return user[k]
    raise ConventionError(f"missing key {'d' + key if gradient else key!r}"
                          f"{' (or ' + repr(key) + ')' if gradient else ''}; got keys {sorted(map(str, user))}")


def as_finite_array(a: Any, name: str) -> np.ndarray:
    if a is None:
        raise ConventionError(f"{name} is None")
    try:
        arr = np.asarray(a)
    except Exception as e:  # noqa: BLE001 - anything array-like may fail to convert
        raise ConventionError(f"{name} is not an array: {type(a).__name__} ({e})") from None
    if arr.dtype.kind not in "fiu":
        raise ConventionError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ConventionError(f"{name} contains NaN or infinity")
    return arr.astype(np.float64) if arr.dtype.kind in "iu" else arr


def all_conventions(*, batch=BATCH, weights=WEIGHTS, bias=BIAS, params=PARAMS) -> list[Convention]:
    return [Convention(b, w, bi, p) for b in batch for w in weights for bi in bias for p in params]
