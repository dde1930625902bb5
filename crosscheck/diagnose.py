"""The mistake catalogue, as transformations of the reference computation, and the matcher.

A *mechanism* is a mistake inside the computation: a modified delta recursion
(``crosscheck.mistakes``) that produces the gradients a program with that mistake would
produce (``activation_derivative``, ``missing_activation_derivative``,
``no_transpose_in_backprop``, ``single_sample``, ``kink_convention``). A *slip* is a mistake
in what is handed back, one parameter at a time, in the user's own layout: transposed, reordered (``vec_order``),
reshaped (``shape``), scaled (``scale``, ``sign``), taken from another layer
(``layer_order``) or a bias gradient left as the unsummed delta (``bias_not_reduced``).

The matcher tries every mechanism (and none), and for each parameter every slip, and keeps
the *simplest* complete explanation of what the implementation returned: each mechanism,
each kind of slip and each distinct scale factor counts one (an unrecognised factor two).
Ties go to the catalogue's order. ``mutates_inputs`` comes from the sandbox.

Candidate gradients are canonical (``dW_l: (n_l, n_{l-1})``, ``delta_l: (n_l, m)``) and are
converted to the user's layout with the convention's exact conversions before matching.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .alternatives import loss_candidates, penalty_candidates
from .case import Case
from .conventions import Convention, as_finite_array
from .errors import ConventionError
from .mistakes import Candidate, as_float64, backprop, candidates, combine, implied_candidates, join_words
from .network import Network
from .symptoms import dtype_symptoms, returned_parameters, unreached_layers

__all__ = ["CATALOGUE", "Diagnosis", "diagnose", "user_arrays", "expected_user_arrays", "backprop", "Candidate",
           "candidates"]

CATALOGUE = ("transposed", "sign", "scale", "layer_order", "bias_not_reduced", "activation_derivative",
             "missing_activation_derivative", "no_transpose_in_backprop", "single_sample", "vec_order",
             "mutates_inputs", "kink_convention", "dtype", "stateful", "returns_parameters", "unreached_layer",
             "loss", "regularization", "activation_gradient", "shape", "unknown")
_RANK = {name: i for i, name in enumerate(CATALOGUE)}
_MAX_COST = 4  # simpler explanations than this are reported; past it, the rest is "unknown"


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

def _names(network: Network, convention: Convention) -> list[tuple[str, int, str]]:
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
        for label, _layer, _k in _names(network, convention):
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


def _masks(case: Case) -> dict[str, np.ndarray]:
    """True where an entry is a parameter's gradient (False on seed 000's fixed rows)."""
    c, net = case.convention, case.network
    out = {}
    for label, layer, kind in _names(net, c):
        shape = c.user_weight_shape(net, layer) if kind == "W" else c.user_bias_shape(net, layer)
        m = np.ones(shape, dtype=bool)
        if kind == "W" and c.augmented and layer < net.depth:
            if c.weights == "in_out":
                m[:, -1] = False
            else:
                m[-1, :] = False
        out[label] = m
    return out


# ---- slips: one parameter at a time, in the user's layout --------------------------------------------

@dataclass(frozen=True)
class _Option:
    """got[p] ~= factor * transform(source): one way to explain one parameter."""

    source: str  # "grad", "delta" (the unsummed delta) or "delta_sum" (delta summed over the neurons)
    layer: int  # the layer the source belongs to
    moved: bool  # taken from another layer
    transform: str  # "identity", "transposed", "shape", "vec_order"
    transform_detail: str
    factor: float
    factor_label: str  # "" for 1
    factor_cost: int  # 0 for 1, 1 for a recognised factor or -1, 2 otherwise

    @property
    def cost(self) -> int:
        return int(self.moved) + (self.source != "grad") + (self.transform != "identity") + self.factor_cost


def _transforms(s: np.ndarray, mask: np.ndarray,
                shape: tuple[int, ...]) -> list[tuple[str, np.ndarray, np.ndarray, str]]:
    """Ways to turn ``s`` into an array of ``shape``, each with its name, result, mask and detail.

    Simplest first; a rearrangement that moves the entries exactly like an earlier one is
    dropped (a (1, n) -> (n, 1) transpose is also a reshape), judged on an index array."""
    index = np.arange(s.size).reshape(s.shape)
    size = int(np.prod(shape, dtype=np.int64))
    flat = len(shape) == 1
    ways: list[tuple[str, Callable[[np.ndarray], np.ndarray], str]] = []
    if s.shape == shape:
        ways.append(("identity", lambda a: a, ""))
    if s.ndim == 2 and s.T.shape == shape:
        ways.append(("transposed", lambda a: a.T, ""))
    if s.size == size and s.size > 1:
        vec = s.ndim == 2 and s.shape[::-1] == shape
        ways.append(("vec_order" if vec else "shape", lambda a: a.reshape(shape),
                     "reshaped instead of transposed" if vec else "reshaped"))
        if s.ndim == 2:
            ways.append(("vec_order", lambda a: a.ravel(order="F").reshape(shape),
                         "flattened in column-stacking (Vec) order" if flat
                         else "column-stacked (Vec) but read back in row-major order"))
            ways.append(("vec_order", lambda a: a.ravel(order="C").reshape(shape, order="F"),
                         "row-major entries read back as column-stacked (Vec)"))
    out: list[tuple[str, np.ndarray, np.ndarray, str]] = []
    seen: list[np.ndarray] = []
    for name, f, detail in ways:
        moved = f(index)
        if any(np.array_equal(moved, other) for other in seen):
            continue
        seen.append(moved)
        out.append((name, f(s), f(mask), detail))
    return out


_REDUCTION_SCALE = {"sum": lambda m, n: 1.0, "mean": lambda m, n: 1.0 / m, "mean_all": lambda m, n: 1.0 / (m * n)}


def _nice_factors(case: Case) -> list[tuple[float, str]]:
    """Factors a whole gradient may be off by, each named by the dimensions it equals (m, n_out,
    n_in) and the constants 2 and 1/2; a value two names share gets both ("2, or n_out = 2")."""
    m, nk, n0 = case.batch_size, case.network.n_out, case.network.n_in
    red = case.network.reduction
    loss = case.network.loss
    out: list[tuple[float, str]] = []
    if m > 1:
        out.append((float(m), f"m = {m}" + (": the 1/m of the mean is missing" if red == "mean" else "")))
        out.append((1.0 / m, f"1/m (m = {m})" + (": divided by m, but the declared reduction is sum"
                                                  if red == "sum" else ": divided by m twice")))
    out.append((2.0, "2" + (": the gradient of 1/2 (y_hat - y)^2 is (y_hat - y), not 2 (y_hat - y)"
                            if loss == "half_sse" else "")))
    out.append((0.5, "1/2" + (": the gradient of (y_hat - y)^2 is 2 (y_hat - y)" if loss == "sse" else "")))
    if m > 1:
        out += [(2.0 * m, f"2m (m = {m})"), (1.0 / (2 * m), f"1/(2m) (m = {m})"), (m / 2.0, f"m/2 (m = {m})"),
                (2.0 / m, f"2/m (m = {m})")]
    if nk > 1:
        out += [(1.0 / nk, f"1/n_out (n_out = {nk}): averaged over the outputs"),
                (float(nk), f"n_out = {nk}"), (2.0 / nk, f"2/n_out (n_out = {nk})")]
        if m > 1:
            out += [(1.0 / (m * nk), f"1/(m n_out) = 1/{m * nk}: averaged over every output entry, as "
                     "torch.nn.MSELoss(reduction='mean') does"),
                    (2.0 / (m * nk), f"2/(m n_out) = 2/{m * nk}: torch.nn.MSELoss(reduction='mean') on a 1/2-squared "
                     "error"), (float(m * nk), f"m n_out = {m * nk}")]
    if n0 > 1:
        out += [(float(n0), f"n_in = {n0}"), (1.0 / n0, f"1/n_in (n_in = {n0})")]
    merged: dict[float, list[str]] = {}
    for v, label in out:
        key = next((k for k in merged if abs(k - v) <= 1e-12 * abs(v)), v)
        merged.setdefault(key, []).append(label)
    return [(v, ", or ".join(dict.fromkeys(labels))) for v, labels in merged.items()]


def reduction_for_factor(case: Case, factor: float) -> str | None:
    """The reduction whose gradient is ``factor`` times the declared one (None if none is)."""
    from .network import REDUCTIONS

    m, nk = case.batch_size, case.network.n_out
    own = _REDUCTION_SCALE[case.network.reduction](m, nk)
    for r in REDUCTIONS:
        if r != case.network.reduction and r in _REDUCTION_SCALE:
            c = _REDUCTION_SCALE[r](m, nk) / own
            if abs(c - 1.0) > 1e-12 and abs(factor - c) <= 1e-9 * abs(c):
                return r
    return None


@dataclass
class _Matcher:
    case: Case
    got: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    tol: float
    floor: float
    nice: list[tuple[float, str]]
    expected_grads: tuple = ()
    expected_deltas: list = field(default_factory=list)
    skip: set = field(default_factory=set)  # parameters already named (an unreached layer)

    def fit(self, g: np.ndarray, t: np.ndarray, mask: np.ndarray) -> tuple[float, str, int] | None:
        gv, tv = g[mask], t[mask]
        tn, gn = float(np.linalg.norm(tv)), float(np.linalg.norm(gv))
        if tn <= 1e-3 * self.floor:
            return (1.0, "", 0) if gn <= self.tol * self.floor else None
        c = float(np.dot(gv, tv)) / (tn * tn)
        if float(np.linalg.norm(gv - c * tv)) > self.tol * max(abs(c) * tn, gn, self.floor):
            return None
        if abs(c - 1.0) <= 10 * self.tol:
            return 1.0, "", 0
        if abs(c) <= 1e-3 * self.tol:
            return None  # "zero times the gradient" explains nothing
        for v, label in self.nice + [(-1.0, "-1")]:
            for sign in (1.0, -1.0):
                if abs(c - sign * v) <= 10 * self.tol * abs(v):
                    lab = label if sign > 0 else ("-1" if v == 1.0 else f"-{label}")
                    return sign * v, lab, 1 + (sign < 0 and v != 1.0)
        if abs(c + 1.0) <= 10 * self.tol:
            return -1.0, "-1", 1
        if gv.size < 2:
            return None  # any number is some factor times one number: no evidence of a scale
        return c, f"{c:.6g}", 2

    def options(self, label: str, layer: int, kind: str, grads_user: dict, deltas_user: dict,
                allow_moves: bool) -> list[_Option]:
        g = self.got[label]
        out: list[_Option] = []
        sources: list[tuple[str, int, np.ndarray, np.ndarray]] = []
        prefix = f"d{kind}"
        for q in range(1, self.case.network.depth + 1):
            if q != layer and not allow_moves:
                continue
            key = f"{prefix}{q}"
            if key in grads_user:
                sources.append(("grad", q, grads_user[key], self.masks[key]))
            if kind == "b" and q == layer and deltas_user.get(q) is not None:
                d, d_sum = deltas_user[q]
                sources.append(("delta", q, d, np.ones(d.shape, dtype=bool)))
                sources.append(("delta_sum", q, d_sum, np.ones(d_sum.shape, dtype=bool)))
        for source, q, s, mask in sources:
            for name, t, tm, detail in _transforms(s, mask, g.shape):
                fit = self.fit(g, t, tm)
                if fit is None:
                    continue
                c, lab, fc = fit
                out.append(_Option(source, q, q != layer, name, detail, c, lab, fc))
        out.sort(key=lambda o: o.cost)  # stable: simplest transform first within a cost
        return out


# ---- the search for the simplest explanation ----------------------------------------------------------

@dataclass
class _Explanation:
    candidate: Candidate | None
    chosen: dict[str, _Option]
    unexplained: list[str]
    cost: int
    order: int  # generation order: the catalogue's order of mechanisms, for ties

    def key(self) -> tuple:
        primary = self.candidate.id if self.candidate is not None else min(
            (_component_ids(self.chosen) or ["unknown"]), key=lambda i: _RANK[i])
        prior = self.candidate.prior if self.candidate is not None else 0
        return (len(self.unexplained), self.cost, prior, _RANK[primary], self.order)


def _component_ids(chosen: Mapping[str, _Option]) -> list[str]:
    ids = set()
    for o in chosen.values():
        if o.moved:
            ids.add("layer_order")
        if o.source != "grad":
            ids.add("bias_not_reduced")
        if o.transform != "identity":
            ids.add(o.transform)
        if o.factor_label:
            ids.add("sign" if o.factor_label == "-1" else "scale")
            if o.factor < 0 and o.factor_label != "-1":
                ids.add("sign")
    return sorted(ids, key=lambda i: _RANK[i])


def _set_cost(chosen: Mapping[str, _Option]) -> int:
    transforms = {o.transform for o in chosen.values() if o.transform != "identity"}
    factors = {o.factor_label: o.factor_cost for o in chosen.values() if o.factor_label}
    return (len(transforms) + any(o.moved for o in chosen.values()) + any(o.source != "grad" for o in chosen.values())
            + sum(factors.values()))


def _select(options: dict[str, list[_Option]]) -> dict[str, _Option]:
    """Pick one option per parameter, keeping the set of distinct slips small (greedy, then refined)."""
    chosen = {p: opts[0] for p, opts in options.items()}
    for _ in range(2):
        for p, opts in options.items():
            best, best_cost = chosen[p], None
            for o in opts:
                trial = dict(chosen)
                trial[p] = o
                c = _set_cost(trial)
                if best_cost is None or c < best_cost:
                    best, best_cost = o, c
            chosen[p] = best
    return chosen


def _user_deltas(case: Case, deltas: list) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per layer, delta in the user's batch orientation and delta summed over the neurons."""
    c = case.convention
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if not c.has_bias or c.augmented:
        return out
    for layer, d in enumerate(deltas):
        if d is None or layer == 0:
            continue
        if c.batch == "rows":
            out[layer] = (d.T, d.sum(axis=0))  # (m, n_l), (m,)
        else:
            out[layer] = (d, d.sum(axis=0))
    return out


def _explain(matcher: _Matcher, case: Case, cand: Candidate | None, order: int,
             base: dict[str, np.ndarray] | None) -> _Explanation | None:
    grads_user = expected_user_arrays(case, cand.grads if cand is not None else matcher.expected_grads)
    if cand is not None and base is not None and all(
            grads_user[p].shape == base[p].shape and _close(grads_user[p], base[p], matcher) for p in base):
        return None  # this mistake changes nothing on this case
    deltas = _user_deltas(case, cand.deltas if cand is not None else matcher.expected_deltas)
    options: dict[str, list[_Option]] = {}
    unexplained: list[str] = []
    for label, layer, kind in _names(case.network, case.convention):
        if label in matcher.skip:
            continue
        opts = matcher.options(label, layer, kind, grads_user, deltas, allow_moves=cand is None)
        if opts:
            options[label] = opts
        else:
            unexplained.append(label)
    chosen = _select(options)
    mechanisms = 0 if cand is None else (len(cand.parts) or 1)
    cost = _set_cost(chosen) + mechanisms
    if cost > _MAX_COST:  # too contrived to believe: keep only what needs no slip
        for p, o in list(chosen.items()):
            if o.cost > 0:
                unexplained.append(p)
                del chosen[p]
        cost = mechanisms
    return _Explanation(cand, chosen, unexplained, cost, order)


def _close(a: np.ndarray, b: np.ndarray, matcher: _Matcher | float, floor: float = 0.0) -> bool:
    tol, floor = (matcher.tol, matcher.floor) if isinstance(matcher, _Matcher) else (matcher, floor)
    return float(np.linalg.norm(a - b)) <= tol * max(float(np.linalg.norm(b)), floor)


# ---- sentences ---------------------------------------------------------------------------------------------

def _backprop_order(labels: Sequence[str]) -> list[str]:
    """Going backwards from the output: the last layer first, W before b."""
    return sorted(labels, key=lambda p: (-int(p[2:]), p[1] != "W"))


def _layer_of(label: str) -> int:
    return int(label[2:])


def _factor_sentence(o: _Option, labels: list[str], every: bool) -> str:
    who = "every gradient is" if every else f"{join_words(labels)} {'is' if len(labels) == 1 else 'are'}"
    c = abs(o.factor)
    how = f"{c:.4g} times too large" if c > 1 else f"{1 / c:.4g} times too small"
    odd = o.factor_label == f"{o.factor:.6g}"
    how += (" (a factor no dimension (m, n_out, n_in), 2 or 1/2 explains)" if odd
            else f" (a factor {o.factor_label.lstrip('-')})")
    if o.factor < 0:
        how += ", with the wrong sign"
    return f"{who} {how}"


def _sentences(case: Case, expl: _Explanation, expected: dict[str, np.ndarray],
               got: dict[str, np.ndarray], matcher: _Matcher) -> list[Diagnosis]:
    out: list[Diagnosis] = []
    all_labels = [label for label, _, _ in _names(case.network, case.convention)]
    if expl.candidate is not None:
        for cand in expl.candidate.parts or (expl.candidate,):  # each where it starts, going backwards
            cand_user = expected_user_arrays(case, cand.grads)
            changed = [p for p in all_labels if not _close(cand_user[p], expected[p], matcher)]
            first = _backprop_order(changed or all_labels)[0]
            out.append(Diagnosis(cand.id, first, _layer_of(first), cand.detail))
    chosen = expl.chosen
    by_id: dict[str, list[str]] = {}
    for p, o in chosen.items():
        for i in _component_ids({p: o}):
            by_id.setdefault(i, []).append(p)
    for i in sorted(by_id, key=lambda i: _RANK[i]):
        labels = _backprop_order(by_id[i])
        first = labels[0]
        o = chosen[first]
        if i == "layer_order":
            moved = [p for p in _backprop_order(chosen) if chosen[p].moved]
            pairs = ", ".join(f"{p} holds the gradient of {p[1]}{chosen[p].layer}" for p in moved)
            k = case.network.depth
            reversed_ = all(chosen[p].layer == k + 1 - _layer_of(p) for p in moved)
            detail = pairs + (": the layers come in reverse order (collected during the backward pass and not "
                              "reversed?)" if reversed_ else ": the layers are mixed up")
        elif i == "bias_not_reduced":
            o = chosen[first]
            exp_shape = expected[first].shape
            m = case.batch_size
            if o.source == "delta":
                detail = (f"{join_words(labels)} {'is' if len(labels) == 1 else 'are'} the delta itself, shape "
                          f"{got[first].shape}: not summed over the m = {m} samples (expected shape {exp_shape})")
            else:
                detail = (f"{join_words(labels)} {'is' if len(labels) == 1 else 'are'} the delta summed over the "
                          f"neurons (shape {got[first].shape}) instead of over the m = {m} samples (expected shape "
                          f"{exp_shape})")
        elif i == "transposed":
            all_w = [p for p in all_labels if p.startswith("dW")]
            every = set(labels) >= set(all_w) and len(all_w) > 1
            shapes = f"shape {got[first].shape}, expected {expected[first].shape}"
            if len(labels) == 1:
                detail = f"{first} is the transpose of the expected gradient ({shapes})"
            else:
                detail = f"{join_words(labels)} are the transposes of the expected gradients ({first}: {shapes})"
            if every:
                detail += "; a gradient has the layout of its parameter (--weights " + case.convention.weights + ")"
        elif i == "vec_order":
            detail = (f"{join_words(labels)} {'holds' if len(labels) == 1 else 'hold'} the right entries in the wrong "
                      f"order: {o.transform_detail}")
        elif i == "shape":
            detail = (f"{join_words(labels)} {'holds' if len(labels) == 1 else 'hold'} the right values with shape "
                      f"{got[first].shape}; expected {expected[first].shape}")
        else:  # scale, sign
            groups: dict[str, list[str]] = {}
            for p in labels:
                groups.setdefault(chosen[p].factor_label, []).append(p)
            parts = []
            for lab, ps in groups.items():
                oo = chosen[ps[0]]
                every = len(ps) == len(all_labels)
                if lab == "-1":
                    who = "every gradient has" if every else f"{join_words(ps)} {'has' if len(ps) == 1 else 'have'}"
                    parts.append(f"{who} the wrong sign: (y - y_hat) where (y_hat - y) belongs, or an ascent step?")
                elif i == "scale" or oo.factor < 0:
                    parts.append(_factor_sentence(oo, ps, every))
            detail = "; ".join(dict.fromkeys(parts))
        out.append(Diagnosis(i, first, _layer_of(first), detail))
    return out


_INPUT_PATH = (
    (r"^params\[(\d+)\]\[0\]$", lambda m: f"W{int(m.group(1)) + 1}"),
    (r"^params\[(\d+)\]\[1\]$", lambda m: f"b{int(m.group(1)) + 1}"),
    (r"^params\[(\d+)\]$", lambda m: f"W{int(m.group(1)) + 1}"),
    (r"^params\['(\w+)'\]$", lambda m: m.group(1)),
)


def _input_label(path: str) -> tuple[str, int]:
    for pattern, name in _INPUT_PATH:
        match = re.match(pattern, path)
        if match:
            label = name(match)
            digits = "".join(ch for ch in label if ch.isdigit())
            return label, int(digits) if digits else 0
    return path, 0


def diagnose(case: Case, got_user_layout: Any, *, mutated: bool | Sequence[str] = False) -> list[Diagnosis]:
    """Name the mistakes that explain ``got_user_layout`` (what the implementation returned for
    ``case``, in its convention), most likely first.

    ``mutated``: True, or the inputs (sandbox paths such as ``"params[0][0]"``, ``"X"``) the
    implementation changed in place. Raises ``ConventionError`` if ``got_user_layout`` is not
    the declared container of finite arrays."""
    got = user_arrays(case.convention, case.network, got_user_layout)
    out: list[Diagnosis] = []
    if mutated:
        paths = [mutated] if isinstance(mutated, str) else (list(mutated) if not isinstance(mutated, bool) else [])
        labels = [_input_label(p) for p in paths] or [("the inputs", 0)]
        names = ", ".join(label for label, _ in labels)
        out.append(Diagnosis("mutates_inputs", labels[0][0], labels[0][1],
                             f"the implementation changed its inputs in place ({names}): computing gradients must "
                             "leave the caller's parameters and data as they were (copy before modifying, no "
                             "in-place updates such as W -= ...)"))
    params, X, Y = as_float64(case)
    net = case.network
    labels = [label for label, _, _ in _names(net, case.convention)]
    dtype_found = [Diagnosis(*f) for f in dtype_symptoms(got_user_layout, labels, case.dtype)]
    out += dtype_found
    expected_grads, expected_deltas = backprop(net, params, X, Y)
    expected = expected_user_arrays(case, expected_grads)
    total = math.sqrt(sum(float(np.sum(a * a)) for a in expected.values()))
    tol = 2e-3 if case.dtype == np.float32 else 1e-6
    masks = _masks(case)
    floor = max(1e-3 * total, 1e-300)
    if dtype_found and all(got[p].shape == expected[p].shape and _close(got[p], expected[p], tol, floor)
                           for p in expected):
        return out  # right up to the precision that came back: the dtype is the whole story
    given = user_arrays(case.convention, net, case.convention.params_to_user(params, net))
    step = returned_parameters(got, given, expected, masks, tol)
    if step is not None:
        return out + [Diagnosis(*step)]
    matcher = _Matcher(case, got, masks, tol, floor, _nice_factors(case), expected_grads, expected_deltas)
    truncated = any(np.dtype(d.detail.split()[0]).kind in "iub" for d in dtype_found)
    if not truncated:  # truncation makes zeros too
        for found in unreached_layers(got, expected, masks, floor):
            out.append(Diagnosis(*found))
            matcher.skip |= {p for p in expected if _layer_of(p) <= found[2] and not np.any(got[p])}
    explanations = []
    base = _explain(matcher, case, None, 0, None)
    if base is not None:
        explanations.append(base)
    order = {i: n for n, i in enumerate(CATALOGUE)}
    try:
        got_canonical = case.convention.params_from_user(got_user_layout, net, gradient=True)
    except (ConventionError, ValueError):
        got_canonical = None  # shapes off: no sigma' or penalty to solve for
    cands = candidates(case) + loss_candidates(case) + penalty_candidates(case, got_canonical)
    cands = sorted(cands, key=lambda c: order[c.id])
    if got_canonical is not None:
        cands += implied_candidates(case, got_canonical)
    for n, cand in enumerate(cands, start=1):
        e = _explain(matcher, case, cand, n, expected)
        if e is not None:
            explanations.append(e)
    explanations.sort(key=_Explanation.key)
    if explanations[0].unexplained:  # no one mechanism explains it all: two of them, at different layers?
        explanations += _pairs(matcher, case, explanations, cands, expected)
        explanations.sort(key=_Explanation.key)
    best = explanations[0]
    if best.candidate is None and best.cost == 0 and not best.unexplained:
        if not out:
            first = _backprop_order(list(got))[0]
            out.append(Diagnosis("unknown", first, _layer_of(first),
                                 "the gradients agree with the reference to about the matcher's precision "
                                 f"({tol:g}) but not within the comparison's tolerance: rounding, or a tiny error"))
        return out
    named = _sentences(case, best, expected, got, matcher)
    named = _with_reduction(case, best, labels, named)
    # equally simple alternatives, after the best one; a shape slip only after every value-level name
    later: list[Diagnosis] = []
    for e in explanations[1:]:
        if e.key()[:2] != best.key()[:2]:
            break
        for d in _sentences(case, e, expected, got, matcher):
            if d.id not in {x.id for x in named + later}:
                later.append(d)
    ordered = named + later
    ordered = [d for d in ordered if d.id != "shape"] + [d for d in ordered if d.id == "shape"]
    out += [d for d in ordered if d.id not in {x.id for x in out}]
    for p in _backprop_order(best.unexplained):
        if got[p].shape != expected[p].shape:
            out.append(Diagnosis("shape", p, _layer_of(p), f"{p} has shape {got[p].shape}, expected "
                                 f"{expected[p].shape}, and no mistake in the catalogue explains its values"))
        elif truncated:
            continue  # integer arrays: the truncation is the explanation
        else:
            rel = float(np.linalg.norm(got[p] - expected[p])) / max(float(np.linalg.norm(expected[p])), matcher.floor)
            out.append(Diagnosis("unknown", p, _layer_of(p), f"{p} differs from the expected gradient (relative "
                                 f"error {rel:.3g}) and no mistake in the catalogue explains it"))
    return out


_PAIR_SEEDS = 6  # single mechanisms (those explaining the most) each tried with every other


def _pairs(matcher: _Matcher, case: Case, explanations: list[_Explanation], cands: list[Candidate],
           expected: dict[str, np.ndarray]) -> list[_Explanation]:
    hooked = [c for c in cands if c.sigma_prime is not None or c.back_matrix is not None]
    seeds = [e.candidate for e in explanations if e.candidate is not None and e.candidate in hooked]
    seeds = seeds[:_PAIR_SEEDS]
    out = []
    order = len(cands) + 1
    for first in seeds:
        for second in hooked:
            if second is first or second.id == first.id and second.sigma_prime is not None:
                continue
            pair = combine(case, first, second)
            if pair is None:
                continue
            e = _explain(matcher, case, pair, order, expected)
            order += 1
            if e is not None and not e.unexplained:
                out.append(e)
    return out


def _with_reduction(case: Case, best: _Explanation, labels: list[str], named: list[Diagnosis]) -> list[Diagnosis]:
    """A whole gradient off by the factor between two reductions is also the gradient of the other
    reduction: ``loss`` names it, first when the outputs are involved (mean_all), after ``scale`` otherwise."""
    chosen = best.chosen
    if best.candidate is not None or set(chosen) != set(labels) or not chosen:
        return named
    factors = {o.factor for o in chosen.values()}
    if len(factors) != 1 or any(o.transform != "identity" or o.moved or o.source != "grad" for o in chosen.values()):
        return named
    r = reduction_for_factor(case, factors.pop())
    if r is None:
        return named
    first = _backprop_order(labels)[0]
    d = Diagnosis("loss", first, _layer_of(first), f"this is the gradient of --reduction {r} (declared: "
                  f"--reduction {case.network.reduction}); if {r} is what you mean, declare it")
    if "mean_all" in (r, case.network.reduction):
        return [d] + named
    return named + [d]
