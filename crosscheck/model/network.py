"""The network description: widths, activations (per layer or per neuron), loss, reduction,
target form and weight penalties.

Knows nothing of layouts or backends. Canonical orientation, used by every formula route:
samples are columns, ``W_l: (n_l, n_{l-1})``, ``b_l: (n_l,)``, pre_activation
``Z_l = W_l A_{l-1} + b_l`` and activation ``A_l = Sigma_l(Z_l)``, both ``(n_l, m)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from .activations import Activation, get_activation
from .losses import Loss, get_loss
from .penalties import PENALTY_FORMS as _PENALTY_FORMS
from .penalties import describe_penalty, penalty_scale

__all__ = ["Network", "REDUCTIONS", "TARGETS", "PENALTY_FORMS"]

# sum over samples; mean over the m samples; mean over samples and output units (m n_k
# entries: torch's nn.MSELoss()/nn.BCELoss() default)
REDUCTIONS = ("sum", "mean", "mean_all")
# soft: probability rows / real numbers; onehot: one 1 per sample; labels: one integer class
# per sample (softmax_ce); binary: 0/1 (bce). Each loss lists those it accepts (losses.py).
TARGETS = ("soft", "onehot", "labels", "binary")
PENALTY_FORMS = tuple(_PENALTY_FORMS)

LayerActivation = "str | tuple[str, ...]"


def _default_alpha(n: int) -> tuple[float, ...]:
    # Distinct non-zero entries of both signs, so a permuted or sign-flipped read-out shows.
    return tuple(((-1.0) ** i) / (i + 1) for i in range(n))


@dataclass(frozen=True)
class Network:
    """A feed-forward network f = loss(Sigma_k(W_k ... Sigma_1(W_1 X + b_1) ... + b_k)).

    widths:      ``(n_0, n_1, ..., n_k)``, input width first.
    activations: one entry per layer 1..k; a name (``"tanh"``) or a tuple of n_l names,
                 one per neuron (seed 000's Sigma_i = [sigma_i1 ... sigma_in]).
    loss:        a name from ``crosscheck.model.losses``; ``reduction`` sums over the m samples
                 (``"sum"``), averages over them (``"mean"``) or over samples and output units
                 (``"mean_all"``: losses that sum one term per output unit).
    bias:        whether layers are affine (the convention decides how the bias is laid out).
    alpha:       the fixed read-out vector of the ``readout`` loss, ``(n_k,)``.
    targets:     the form of Y: ``"soft"`` (default), ``"onehot"`` or ``"labels"`` (a 1-D integer
                 array of length m in every layout) for softmax_ce, ``"binary"`` (0/1) for bce.
    l2, l1:      penalty strengths (>= 0) added to the reduced loss, scaled by ``penalty_form``:
                 ``"half"`` λ/2·Σ, ``"full"`` λ·Σ, ``"half_over_m"`` λ/(2m)·Σ, ``"over_m"`` λ/m·Σ,
                 over Σw² (l2) and Σ|w| (l1) of the weights, and of the biases with
                 ``penalty_bias`` (``crosscheck.model.penalties``).
    """

    widths: tuple[int, ...]
    activations: tuple[Any, ...]
    loss: str = "half_sse"
    reduction: str = "sum"
    bias: bool = True
    alpha: tuple[float, ...] | None = field(default=None)
    targets: str = "soft"
    l2: float = 0.0
    l1: float = 0.0
    penalty_form: str = "half"
    penalty_bias: bool = False

    def __post_init__(self) -> None:
        widths = tuple(int(w) for w in self.widths)
        object.__setattr__(self, "widths", widths)
        if len(widths) < 2:
            raise ValueError(f"a network needs an input width and at least one layer, got widths={widths}")
        if any(w < 1 for w in widths):
            raise ValueError(f"every width must be >= 1, got widths={widths}")
        acts = self.activations
        if isinstance(acts, str):
            acts = (acts,) * self.depth
        acts = tuple(a if isinstance(a, str) else tuple(a) for a in acts)
        object.__setattr__(self, "activations", acts)
        if len(acts) != self.depth:
            raise ValueError(f"{self.depth} layers need {self.depth} activations, got {len(acts)}")
        for layer, a in enumerate(acts, start=1):
            names = (a,) if isinstance(a, str) else a
            if not isinstance(a, str) and len(a) != widths[layer]:
                raise ValueError(
                    f"layer {layer} has {widths[layer]} neurons but {len(a)} per-neuron activations"
                )
            for name in names:
                get_activation(name)  # raises on unknown names
        loss = get_loss(self.loss)
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {self.reduction!r}")
        if self.reduction == "mean_all" and not loss.elementwise:
            hint = (" (its torch default, nn.CrossEntropyLoss, averages over samples: use reduction 'mean')"
                    if loss.name == "softmax_ce" else "")
            raise ValueError(f"reduction 'mean_all' averages over samples and output units; loss {loss.name!r} "
                             f"is not a sum of one term per output unit{hint}")
        if self.targets not in TARGETS:
            raise ValueError(f"targets must be one of {', '.join(TARGETS)}; got {self.targets!r}")
        if self.targets not in loss.targets:
            raise ValueError(f"loss {loss.name!r} takes targets {' or '.join(loss.targets)}; got {self.targets!r}"
                             + (" (labels are for softmax_ce, one-hot rows for softmax_ce and bce, 0/1 targets "
                                "for bce)"
                                if self.targets != "soft" else ""))
        for name in ("l2", "l1"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")
            v = float(v)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
            object.__setattr__(self, name, v)
        if self.penalty_form not in PENALTY_FORMS:
            raise ValueError(f"penalty_form must be one of {', '.join(PENALTY_FORMS)}; got {self.penalty_form!r}")
        if not isinstance(self.penalty_bias, (bool, np.bool_)):
            raise ValueError(f"penalty_bias must be True or False, got {self.penalty_bias!r}")
        object.__setattr__(self, "penalty_bias", bool(self.penalty_bias))
        n_out = widths[-1]
        if loss.output_width is not None and n_out != loss.output_width:
            raise ValueError(f"loss {loss.name!r} needs output width {loss.output_width}, got {n_out}")
        if n_out < loss.min_output_width:
            raise ValueError(f"loss {loss.name!r} needs output width >= {loss.min_output_width}, got {n_out}")
        if loss.output_activation is not None and acts[-1] != loss.output_activation:
            raise ValueError(
                f"loss {loss.name!r} needs output activation {loss.output_activation!r}, got {acts[-1]!r}"
            )
        alpha = self.alpha
        if alpha is None:
            alpha = _default_alpha(n_out)
        alpha = tuple(float(v) for v in alpha)
        if len(alpha) != n_out:
            raise ValueError(f"alpha needs {n_out} entries, got {len(alpha)}")
        object.__setattr__(self, "alpha", alpha)

    # ---- shape facts -------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """k, the number of layers with weights."""
        return len(self.widths) - 1

    @property
    def n_in(self) -> int:
        return self.widths[0]

    @property
    def n_out(self) -> int:
        return self.widths[-1]

    def weight_shape(self, layer: int) -> tuple[int, int]:
        """Canonical ``W_layer: (n_layer, n_{layer-1})``, layers counted from 1."""
        return (self.widths[layer], self.widths[layer - 1])

    @property
    def n_parameters(self) -> int:
        return sum(a * b + (a if self.bias else 0) for a, b in zip(self.widths[1:], self.widths[:-1]))

    # ---- pieces ------------------------------------------------------------------------
    @cached_property
    def loss_fn(self) -> Loss:
        return get_loss(self.loss)

    def layer_activations(self, layer: int) -> tuple[Activation, ...]:
        """The distinct activations of ``layer`` (1-based), one if the layer is uniform."""
        a = self.activations[layer - 1]
        return (get_activation(a),) if isinstance(a, str) else tuple(get_activation(n) for n in a)

    def activation_names(self) -> tuple[str, ...]:
        out: list[str] = []
        for a in self.activations:
            for n in (a,) if isinstance(a, str) else a:
                if n not in out:
                    out.append(n)
        return tuple(out)

    def _per_neuron(self, layer: int, Z: np.ndarray, attr: str) -> np.ndarray:
        a = self.activations[layer - 1]
        if isinstance(a, str):
            act = get_activation(a)
            return act.value(Z) if attr == "value" else act.prime(Z)
        out = np.empty_like(Z)
        for name, rows in _neuron_groups(a):
            act = get_activation(name)  # looked up each time: the table may be patched (tests do)
            out[..., rows, :] = act.value(Z[..., rows, :]) if attr == "value" else act.prime(Z[..., rows, :])
        return out

    def sigma(self, layer: int, Z: np.ndarray) -> np.ndarray:
        """Sigma_layer applied to the pre_activation ``Z: (n_layer, m)``."""
        return self._per_neuron(layer, Z, "value")

    def sigma_prime(self, layer: int, Z: np.ndarray) -> np.ndarray:
        """Sigma'_layer at the pre_activation ``Z: (n_layer, m)``, declared subgradients at kinks."""
        return self._per_neuron(layer, Z, "prime")

    def kinks(self, layer: int) -> tuple[tuple[float, ...], ...]:
        """Per-neuron tuple of kink points for ``layer`` (empty tuples where smooth)."""
        a = self.activations[layer - 1]
        names = (a,) * self.widths[layer] if isinstance(a, str) else a
        return tuple(get_activation(n).kinks for n in names)

    def reduce(self, per_sample: np.ndarray) -> np.ndarray:
        """The reduction over the last axis (samples): sum, mean, or mean over m n_k entries."""
        if self.reduction == "sum":
            return per_sample.sum(-1)
        mean = per_sample.mean(-1)
        return mean / self.n_out if self.reduction == "mean_all" else mean

    def reduction_scale(self, m: int) -> float:
        """The factor the reduction puts on every per-sample loss: 1, 1/m or 1/(m n_k)."""
        return {"sum": 1.0, "mean": 1.0 / m, "mean_all": 1.0 / (m * self.n_out)}[self.reduction]

    # ---- penalties (crosscheck.model.penalties) ------------------------------------------------
    @property
    def has_penalty(self) -> bool:
        return self.l2 > 0 or self.l1 > 0

    def penalty_scale(self, m: int) -> float:
        """c(m) of the penalty form: 1/2, 1, 1/(2m) or 1/m."""
        return penalty_scale(self.penalty_form, m)

    # ---- text and round trips ----------------------------------------------------------
    def describe(self) -> str:
        acts = ",".join(a if isinstance(a, str) else "[" + "|".join(a) + "]" for a in self.activations)
        bias = "" if self.bias else " no-bias"
        targets = "" if self.targets == "soft" else f"[{self.targets}]"
        return (f"{'-'.join(map(str, self.widths))} {acts} {self.loss}{targets}/{self.reduction}{bias}"
                f"{describe_penalty(self)}")

    def to_dict(self) -> dict:
        return {
            "widths": list(self.widths),
            "activations": [a if isinstance(a, str) else list(a) for a in self.activations],
            "loss": self.loss,
            "reduction": self.reduction,
            "bias": self.bias,
            "alpha": list(self.alpha),
            "targets": self.targets,
            "l2": self.l2,
            "l1": self.l1,
            "penalty_form": self.penalty_form,
            "penalty_bias": self.penalty_bias,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Network:
        return cls(
            widths=tuple(d["widths"]),
            activations=tuple(a if isinstance(a, str) else tuple(a) for a in d["activations"]),
            loss=d.get("loss", "half_sse"),
            reduction=d.get("reduction", "sum"),
            bias=d.get("bias", True),
            alpha=tuple(d["alpha"]) if d.get("alpha") is not None else None,
            targets=d.get("targets", "soft"),
            l2=d.get("l2", 0.0),
            l1=d.get("l1", 0.0),
            penalty_form=d.get("penalty_form", "half"),
            penalty_bias=d.get("penalty_bias", False),
        )

    @classmethod
    def simple(cls, widths: Sequence[int], hidden: str = "tanh", output: str = "identity", **kw) -> Network:
        """A network with one activation for every hidden layer and one for the output."""
        k = len(widths) - 1
        return cls(tuple(widths), (hidden,) * (k - 1) + (output,), **kw)


@lru_cache(maxsize=4096)  # a long sweep meets many per-neuron tuples: bounded
def _neuron_groups(names: tuple[str, ...]) -> tuple[tuple[str, list[int]], ...]:
    """A layer's neurons grouped by activation name, in first-seen order: ``(name, rows)``."""
    return tuple((name, [i for i, n in enumerate(names) if n == name]) for name in dict.fromkeys(names))
