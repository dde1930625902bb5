"""The matcher: slips one parameter at a time, the search for the simplest explanation, and its sentences.

A *slip* is a mistake in what is handed back, one parameter at a time, in the user's own layout:
transposed, reordered (``vec_order``), reshaped (``shape``), scaled (``scale``, ``sign``), taken
from another layer (``layer_order``) or a bias gradient left as the unsummed delta
(``bias_not_reduced``). ``explain`` pairs a candidate mechanism (or none) with the cheapest slips
that explain every parameter; each mechanism, each kind of slip and each distinct factor counts
one (an unrecognised factor two). Factors are named by the dimensions they equal (m, n_out, n_in).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..model.case import Case
from .catalogue import RANK, Diagnosis, expected_user_arrays, parameter_names
from .mistakes import Candidate, combine, join_words

__all__ = ["Matcher", "Explanation", "explain", "sentences", "pairs", "nice_factors", "reduction_for_factor",
           "backprop_order", "layer_of", "close", "MAX_COST"]

MAX_COST = 4  # simpler explanations than this are reported; past it, the rest is "unknown"

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


def nice_factors(case: Case) -> list[tuple[float, str]]:
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
    from ..model.network import REDUCTIONS

    m, nk = case.batch_size, case.network.n_out
    own = _REDUCTION_SCALE[case.network.reduction](m, nk)
    for r in REDUCTIONS:
        if r != case.network.reduction and r in _REDUCTION_SCALE:
            c = _REDUCTION_SCALE[r](m, nk) / own
            if abs(c - 1.0) > 1e-12 and abs(factor - c) <= 1e-9 * abs(c):
                return r
    return None


@dataclass
class Matcher:
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
class Explanation:
    candidate: Candidate | None
    chosen: dict[str, _Option]
    unexplained: list[str]
    cost: int
    order: int  # generation order: the catalogue's order of mechanisms, for ties

    def key(self) -> tuple:
        primary = self.candidate.id if self.candidate is not None else min(
            (_component_ids(self.chosen) or ["unknown"]), key=lambda i: RANK[i])
        prior = self.candidate.prior if self.candidate is not None else 0
        return (len(self.unexplained), self.cost, prior, RANK[primary], self.order)


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
    return sorted(ids, key=lambda i: RANK[i])


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


def explain(matcher: Matcher, case: Case, cand: Candidate | None, order: int,
             base: dict[str, np.ndarray] | None) -> Explanation | None:
    grads_user = expected_user_arrays(case, cand.grads if cand is not None else matcher.expected_grads)
    if cand is not None and base is not None and all(
            grads_user[p].shape == base[p].shape and close(grads_user[p], base[p], matcher) for p in base):
        return None  # this mistake changes nothing on this case
    deltas = _user_deltas(case, cand.deltas if cand is not None else matcher.expected_deltas)
    options: dict[str, list[_Option]] = {}
    unexplained: list[str] = []
    for label, layer, kind in parameter_names(case.network, case.convention):
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
    if cost > MAX_COST:  # too contrived to believe: keep only what needs no slip
        for p, o in list(chosen.items()):
            if o.cost > 0:
                unexplained.append(p)
                del chosen[p]
        cost = mechanisms
    return Explanation(cand, chosen, unexplained, cost, order)


def close(a: np.ndarray, b: np.ndarray, matcher: Matcher | float, floor: float = 0.0) -> bool:
    tol, floor = (matcher.tol, matcher.floor) if isinstance(matcher, Matcher) else (matcher, floor)
    return float(np.linalg.norm(a - b)) <= tol * max(float(np.linalg.norm(b)), floor)


# ---- sentences ---------------------------------------------------------------------------------------------

def backprop_order(labels: Sequence[str]) -> list[str]:
    """Going backwards from the output: the last layer first, W before b."""
    return sorted(labels, key=lambda p: (-int(p[2:]), p[1] != "W"))


def layer_of(label: str) -> int:
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


def sentences(case: Case, expl: Explanation, expected: dict[str, np.ndarray],
               got: dict[str, np.ndarray], matcher: Matcher) -> list[Diagnosis]:
    out: list[Diagnosis] = []
    all_labels = [label for label, _, _ in parameter_names(case.network, case.convention)]
    if expl.candidate is not None:
        for cand in expl.candidate.parts or (expl.candidate,):  # each where it starts, going backwards
            cand_user = expected_user_arrays(case, cand.grads)
            changed = [p for p in all_labels if not close(cand_user[p], expected[p], matcher)]
            first = backprop_order(changed or all_labels)[0]
            out.append(Diagnosis(cand.id, first, layer_of(first), cand.detail))
    chosen = expl.chosen
    by_id: dict[str, list[str]] = {}
    for p, o in chosen.items():
        for i in _component_ids({p: o}):
            by_id.setdefault(i, []).append(p)
    for i in sorted(by_id, key=lambda i: RANK[i]):
        labels = backprop_order(by_id[i])
        first = labels[0]
        o = chosen[first]
        if i == "layer_order":
            moved = [p for p in backprop_order(chosen) if chosen[p].moved]
            pairs = ", ".join(f"{p} holds the gradient of {p[1]}{chosen[p].layer}" for p in moved)
            k = case.network.depth
            reversed_ = all(chosen[p].layer == k + 1 - layer_of(p) for p in moved)
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
        out.append(Diagnosis(i, first, layer_of(first), detail))
    return out


_PAIR_SEEDS = 6  # single mechanisms (those explaining the most) each tried with every other


def pairs(matcher: Matcher, case: Case, explanations: list[Explanation], cands: list[Candidate],
           expected: dict[str, np.ndarray]) -> list[Explanation]:
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
            e = explain(matcher, case, pair, order, expected)
            order += 1
            if e is not None and not e.unexplained:
                out.append(e)
    return out
