"""The sweep's first examples: a covering design, so that even a short sweep meets every activation,
every loss with every target form it takes, every reduction, every penalty form and every value of
every convention axis at least once. Hypothesis is free after them.

Example i takes the i-th entry of each list, cycling (hidden activation i, output activation i + 5,
loss/target pair i, reduction i among those the loss takes, penalty form i, and batch/weights/bias/
params value i), on a two-layer network with distinct widths; ten examples cover the default lists.
``missing(coverage)`` names what a finished sweep did not meet (``coverage.missing`` in the JSON).
"""

from __future__ import annotations

from typing import Any

from ..model.activations import ACTIVATIONS
from ..model.conventions import BATCH, BIAS, PARAMS, WEIGHTS, Convention
from ..model.losses import LOSSES, get_loss
from ..model.network import PENALTY_FORMS, REDUCTIONS, Network

__all__ = ["covering_architectures", "expected_coverage", "missing"]


def _pairs(losses: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(name, t) for name in losses for t in get_loss(name).targets]


def expected_coverage(activations: tuple[str, ...] | None, losses: tuple[str, ...] | None) -> dict[str, list[str]]:
    """What a sweep restricted to these activations and losses should meet."""
    acts = tuple(a.partition(":")[0] for a in (activations or tuple(ACTIVATIONS)))
    names = tuple(losses or tuple(LOSSES))
    reds = [r for r in REDUCTIONS if r != "mean_all" or any(get_loss(n).elementwise for n in names)]
    return {"activations": sorted(set(acts)), "losses": sorted(names),
            "loss_targets": sorted(f"{n}/{t}" for n, t in _pairs(names)), "reductions": sorted(reds),
            "penalty_forms": sorted(PENALTY_FORMS), "batch": sorted(BATCH), "weights": sorted(WEIGHTS),
            "bias": sorted(BIAS), "params": sorted(PARAMS)}


def covering_architectures(*, activations: tuple[str, ...] | None = None, losses: tuple[str, ...] | None = None,
                           depth: tuple[int, int] = (1, 4), widths: tuple[int, int] = (2, 9),
                           batch_sizes: tuple[int, int] = (1, 6)) -> list[tuple[Network, Convention, int, int]]:
    """(network, convention, batch size, seed) for the first examples; empty where the sweep's depth,
    width or batch ranges leave no room for a two-layer network with three distinct widths."""
    acts = tuple(activations or tuple(ACTIVATIONS))
    pairs = _pairs(tuple(losses or tuple(LOSSES)))
    k = min(max(2, depth[0]), depth[1])
    free = [w for w in range(widths[0], widths[1] + 1)]
    if len(free) < k + 1 or not pairs:
        return []
    count = max(len(acts), len(pairs), len(REDUCTIONS), len(PENALTY_FORMS) + 1, len(BIAS), len(BATCH))
    out = []
    for i in range(count):
        loss_name, target = pairs[i % len(pairs)]
        loss = get_loss(loss_name)
        reds = [r for r in REDUCTIONS if r != "mean_all" or loss.elementwise]
        red = REDUCTIONS[i % len(REDUCTIONS)]
        red = red if red in reds else reds[i % len(reds)]
        n_out = loss.output_width or max(loss.min_output_width, min(free[-1], 3))
        hidden = [w for w in free if w not in (n_out, 2)][:k]  # small: as quick as hypothesis' first examples
        if len(hidden) < k:
            continue
        layer_acts = [acts[(i + 5 * j) % len(acts)] for j in range(k)]
        if loss.output_activation is not None:
            layer_acts[-1] = loss.output_activation
        bias = BIAS[i % len(BIAS)]
        conv = Convention(BATCH[i % len(BATCH)], WEIGHTS[i % len(WEIGHTS)], bias, PARAMS[(i // 2) % len(PARAMS)])
        form = (None,) + tuple(PENALTY_FORMS)
        pform = form[i % len(form)]
        penalty: dict[str, Any] = {} if pform is None else {"l2": 0.1, "l1": 0.05 if i % 2 else 0.0,
                                                              "penalty_form": pform, "penalty_bias": bias != "none"
                                                              and i % 3 == 0}
        taken = set(hidden) | {n_out} | ({hidden[0] + 1} if conv.augmented else set())
        m = 1 if conv.batch == "single" else next((v for v in range(batch_sizes[0], batch_sizes[1] + 1)
                                                    if v not in taken and v >= 2), batch_sizes[0])
        try:
            net = Network(tuple(hidden) + (n_out,), tuple(layer_acts), loss=loss_name, reduction=red,
                          bias=bias != "none", targets=target, **penalty)
        except ValueError:
            continue
        out.append((net, conv, m, i))
    return out


def missing(coverage: dict, activations: tuple[str, ...] | None, losses: tuple[str, ...] | None) -> dict:
    """{axis: [values not met]} for the axes a sweep should cover; empty when it met everything."""
    want = expected_coverage(activations, losses)
    met = {"activations": set(coverage.get("activations", ())), "losses": set(coverage.get("losses", ())),
           "loss_targets": set(coverage.get("loss_targets", ())), "reductions": set(coverage.get("reductions", ())),
           "penalty_forms": {p.split("+")[-2] if p.endswith("+bias") else p.split("+")[-1]
                             for p in coverage.get("penalties", ()) if p != "none"},
           **{axis: set(coverage.get(axis, ())) for axis in ("batch", "weights", "bias", "params")}}
    return {axis: [v for v in values if v not in met[axis]] for axis, values in want.items()
            if any(v not in met[axis] for v in values)}
