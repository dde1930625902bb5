"""Which convention and network does the code follow? Probe it with no declaration (``detect``).

``detect``: the implementation is called on one drawn network (depth 2, then 1 and 3; widths 5-6-3,
m = 4) in each of the 60 conventions and three target forms (soft probabilities, one-hot, integer
labels); where it runs and returns the convention's container and shapes, its gradients are compared
with the reference of every network of the table (hidden x output activation x loss x target form x
reduction). The first exact match, in the order of fewest changes from crosscheck's defaults, is the
declaration found; without one (wrong code), the layout that returns the right shapes, the depths it
runs at, and of the network only what the target form says (integer labels: softmax_ce); the rest of
the network is checked as declared, and the check fails and diagnoses. The presets' layouts are tried
first, and a layout whose call raised on probability targets is tried with integer labels only (a
call that raises costs a worker restart). Before a layout is given up, an undeclared penalty is fitted
against every candidate network (``crosscheck.check.penalty_fit``: strength, form and bias, confirmed
on a second probe with another batch size), and code whose gradients do not change with Y is compared
with the Y-free losses (``_y_free``: ``output`` only where three outputs rule out probs/N's coincidence).
A function with a ``spec`` keyword is handed a spec per probe (``_SpecCall``).

After a failure under a declared convention, the other layouts are probed with the failing case by
``crosscheck.check.other_layouts``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..diagnosis.catalogue import parameter_names, user_arrays
from ..diagnosis.mistakes import backprop
from ..diagnosis.neighbourhood import same_gradients
from ..draws import draw
from ..errors import ImplementationError
from ..model.activations import ACTIVATIONS
from ..model.conventions import Convention, all_conventions
from ..model.network import REDUCTIONS, Network
from ..model.penalties import PENALTY_FORMS
from .extras import split_extras
from .penalty_fit import fit_penalty, penalty_fitter, penalty_options

__all__ = ["detect", "Detected"]


# ---- detection with no declaration ------------------------------------------------------------------

@dataclass(frozen=True)
class Detected:
    """What probing found: the convention, the network options, the depths it runs at, and whether the
    gradients matched a declaration exactly (``exact``) or only in shape (the nearest network)."""

    convention: Convention
    network: dict
    depths: tuple[int, ...]
    exact: bool
    # a function with a spec keyword that returned the gradients of the network its spec described: it
    # follows the spec, so only the layout is detected and the network stays every choice
    told: bool = False

    def options(self) -> dict:
        out = {"batch": self.convention.batch, "weights": self.convention.weights, "bias": self.convention.bias,
               "params": self.convention.params, **self.network}
        if len(self.depths) == 1:
            out["depth"] = self.depths[0]
        elif self.depths:
            out["max_depth"] = max(self.depths)
        return out

    def penalty_note(self) -> str:
        """The other form that gives the same gradients as a fitted penalty's (half = full with half the
        strength; half_over_m = over_m with half): "" without a penalty."""
        form = self.network.get("penalty_form")
        other = {"half": "full", "half_over_m": "over_m"}.get(form or "")
        if other is None:
            return ""
        terms = " ".join(f"--{k} {self.network[k] / 2:g}" for k in ("l2", "l1") if self.network.get(k))
        return f" (the same gradients as {terms} --penalty-form {other})"

    def flags(self) -> str:
        def flag(k: str, v: Any) -> str:
            if isinstance(v, bool):  # a switch: --penalty-bias / --no-penalty-bias
                return f"--{'' if v else 'no-'}{k.replace('_', '-')}"
            return f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else f"--{k.replace('_', '-')} {v}"

        return " ".join(flag(k, v) for k, v in self.options().items())


_WIDTHS = {1: (5, 3), 2: (5, 6, 3), 3: (5, 6, 7, 3)}
_M = 4
_FIELDS = ("batch", "weights", "bias", "params")
_LOSSES = ("half_sse", "sse", "bce", "softmax_ce")
_Y_FREE = ("output", "readout")
# target forms probed; the Y-free losses (seed 000's output, seed 002's read-out; "none1"/"none2" in the code
# below) only where the gradients do not depend on Y (``_y_free``)
_YFORMS = ("soft", "onehot", "labels")
_DEFAULT_NET = {"hidden": "tanh", "output": "identity", "loss": "half_sse", "reduction": "mean", "targets": "soft"}


def _targets(kind: str, n_out: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Canonical Y ``(n_out, m)``: soft probability columns, or one-hot columns (also 0/1 and labels)."""
    if kind == "soft":
        p = rng.uniform(0.1, 1.0, size=(n_out, m))
        return p / p.sum(axis=0, keepdims=True)
    Y = np.zeros((n_out, m))
    Y[rng.permutation(np.arange(m) % n_out), np.arange(m)] = 1.0
    return Y


def _network_space(widths: tuple[int, ...], bias: bool, yform: str) -> list[Network]:
    k = len(widths) - 1
    nets = []
    for loss in _LOSSES[:1] if yform.startswith("none") else _LOSSES:
        if yform.startswith("none"):  # no targets: the output itself (n_out = 1) or seed 002's read-out
            loss = {"none1": "output", "none2": "readout"}[yform]
            targets = ("soft",)
        elif loss in _Y_FREE:
            continue
        else:
            targets = {"soft": ("soft",), "onehot": ("onehot", "binary"), "labels": ("labels",)}[yform]
        for t in targets:
            for reduction in REDUCTIONS:
                for output in ACTIVATIONS:
                    for hidden in (ACTIVATIONS if k > 1 else ("tanh",)):
                        try:
                            nets.append(Network(widths, (hidden,) * (k - 1) + (output,), loss=loss,
                                                reduction=reduction, bias=bias, targets=t))
                        except ValueError:
                            continue
    return nets


def _net_options(net: Network) -> dict:
    out = {"output": net.activations[-1], "loss": net.loss, "reduction": net.reduction, "targets": net.targets}
    if net.depth > 1:
        out["hidden"] = net.activations[0]
    if net.has_penalty:
        out.update({k: v for k, v in (("l2", net.l2), ("l1", net.l1)) if v})
        out.update(penalty_form=net.penalty_form, penalty_bias=net.penalty_bias)
    return out


def _distance(net_opts: dict) -> int:
    return sum(net_opts.get(k) != v for k, v in _DEFAULT_NET.items() if k != "targets")


def detect(call: Callable[..., Any], *, seed: int = 0, fixed: dict | None = None,
           spec: bool = False) -> Detected | None:
    """Probe ``call(params, X, Y)`` (the sandboxed implementation) in every convention and target form, at
    depth 2 (then 1, 3): the convention and network whose reference gradients it returns; else the first
    convention whose container and shapes it returns (``exact`` False, no network); None when it runs in
    none. ``fixed``: options the user declared (``{"hidden": "relu"}``), kept as they are. ``spec``: the
    function takes a ``spec`` keyword and is called ``call(params, X, Y, spec=...)`` with the probe's
    convention and shape network (for code that reads a constant such as alpha from it)."""
    rng = np.random.default_rng(seed)
    if spec:
        call = _SpecCall(call)
    fixed = {k: v for k, v in (fixed or {}).items() if v is not None}
    for depth in (2, 1, 3):
        found = _detect_at(call, depth, rng, seed, fixed)  # a hang or crash propagates: the check reports it
        if found is not None:
            conv, net, exact = found
            if not exact:
                shape = Network(_WIDTHS[depth], ("tanh",) * depth, loss=net.get("loss", "half_sse"), bias=conv.has_bias,
                                targets=net.get("targets", "soft"))
                depths = tuple(d for d in (1, 2, 3) if d == depth or _runs_as(call, conv, shape, d, rng, seed, False))
                return Detected(conv, net, depths, False)
            if isinstance(call, _SpecCall) and _net_options(net) == _net_options(
                    Network(net.widths, ("tanh",) * depth, loss="half_sse", bias=conv.has_bias)):
                return Detected(conv, {}, (), True, told=True)
            depths = tuple(d for d in (1, 2, 3) if d == depth or _runs_as(call, conv, net, d, rng, seed))
            return Detected(conv, _net_options(net), depths, True)
    return None


def _widths(depth: int, yform: str) -> tuple[int, ...]:
    w = _WIDTHS[depth]
    return w[:-1] + ({"none1": (1,), "none2": (2,)}.get(yform, w[-1:]))


def _inputs(conv: Convention, widths: tuple[int, ...], yform: str, rng, seed: int, m: int = _M):
    m = 1 if conv.batch == "single" else m
    base = Network(widths, ("tanh",) * len(widths[1:]), loss="half_sse", bias=conv.has_bias)
    params, X, _ = draw(base, seed, batch_size=m).one(0)
    Y = None if yform.startswith("none") else _targets(yform, widths[-1], m, rng)
    return params, X, Y


class _SpecCall:
    """A function with a ``spec`` keyword, handed the probe's convention and network as ``check`` does."""

    def __init__(self, call: Callable[..., Any]) -> None:
        self.call = call

    def __call__(self, params: Any, X: Any, Y: Any, conv: Convention, network: Network) -> Any:
        return self.call(params, X, Y, spec={"network": network.to_dict(), "convention": conv.to_dict(),
                                             "dtype": "float64"})


def _call_in(call, conv: Convention, net_shape: Network, params, X, Y, yform: str):
    user_params = conv.params_to_user(params, net_shape)
    Yu = None if Y is None else conv.y_to_user(Y, "labels" if yform == "labels" else "soft")
    Xu = conv.x_to_user(X)
    out = call(user_params, Xu, Yu, conv, net_shape) if isinstance(call, _SpecCall) else call(user_params, Xu, Yu)
    value, _activations, _ignored = split_extras(conv, net_shape, out)
    got = user_arrays(conv, net_shape, value)
    want_shapes = {label: (conv.user_weight_shape(net_shape, layer) if kind == "W" else
                           conv.user_bias_shape(net_shape, layer)) for label, layer, kind in
                   parameter_names(net_shape, conv)}
    if any(got[k].shape != tuple(s) for k, s in want_shapes.items()):
        return None
    return conv.params_from_user(value, net_shape, gradient=True)


# the presets' layouts first (most code follows one), then the rest, fewest changes from the default first
_POPULAR = (("columns", "out_in", "vector", "pairs"), ("rows", "out_in", "vector", "pairs"),
            ("rows", "in_out", "vector", "dict"), ("columns", "out_in", "column", "dict"),
            ("single", "out_in", "column", "pairs"), ("rows", "in_out", "row", "dict"),
            ("rows", "in_out", "row", "pairs"), ("rows", "in_out", "vector", "pairs"))


def _order(fixed: dict) -> list[Convention]:
    default = Convention()
    first = [Convention(*c) for c in _POPULAR]
    rest = sorted((c for c in all_conventions() if c not in first),
                  key=lambda c: (c.bias == "augmented",  # seed 000's constant-1 input: last
                                 sum(getattr(c, f) != getattr(default, f) for f in _FIELDS)))
    ordered: list[Convention] = []
    for c in first + rest:
        if c.batch == "single":  # one sample is the columns layout at m = 1: code that takes m columns is columns
            wider = Convention("columns", c.weights, c.bias, c.params)
            if wider not in ordered:
                ordered.append(wider)
        if c not in ordered:
            ordered.append(c)
    return [c for c in ordered
            if all(fixed.get(f) in (None, getattr(c, f)) for f in ("batch", "weights", "bias", "params"))]


def _detect_at(call, depth: int, rng, seed: int, fixed: dict):
    """(convention, network, exact) at ``depth``: the first exact match (an undeclared penalty fitted,
    a Y-free loss probed where the gradients do not depend on Y); else the first convention whose
    container and shapes come back right (and those differing from it in the bias layout only), with
    the nearest network of the table."""
    shaped: list = []  # (conv, yform, params, X, Y, got)
    refused: dict = {}  # container kind -> how many layouts raised a container error with it
    for conv in _order(fixed):
        if shaped and (conv.batch, conv.weights, conv.params) != (shaped[0][0].batch, shaped[0][0].weights,
                                                                  shaped[0][0].params):
            continue  # wrong code: its layout is known, no exact match is coming
        kind = _container(conv)
        if refused.get(kind, 0) >= 2:
            continue  # two layouts with this container raised the same kind of container error
        raised: str | None = None  # what the last call raised
        refusals: list[bool] = []  # per call that raised here: was it a container error?
        here = len(shaped)
        for yform in _YFORMS:
            if raised is not None and yform == "onehot":
                continue  # it raised on probabilities: only integer labels take another code path
            if raised is not None and yform == "labels" and not _indexing(raised):
                continue  # it failed before any Y was indexed (another container, a shape): labels change nothing
            widths = _widths(depth, yform)
            shape_net = Network(widths, ("tanh",) * depth, loss="half_sse", bias=conv.has_bias)
            params, X, Y = _inputs(conv, widths, yform, rng, seed)
            try:
                got = _call_in(call, conv, shape_net, params, X, Y, yform)
            except ImplementationError as e:
                if e.kind not in ("raised", "bad_output"):
                    raise  # a hang, crash or memory blow-up: probing on would repeat it in every layout
                raised = str(e)
            except Exception as e:  # noqa: BLE001 - it returns another container in this layout
                raised = f"{type(e).__name__}: {e}"
            else:
                raised = None
            if raised is not None:
                refusals.append(any(marker in raised for marker in _CONTAINER_ERRORS))
                continue
            if got is None:
                continue
            shaped.append((conv, yform, params, X, Y, got))
            net, fit = _match(got, _candidates(widths, conv, yform, fixed), params, X, Y, fixed)
            if net is not None and fit is None:
                return conv, net, True
            if net is not None:
                net = _confirm_penalty(call, conv, net, fit, yform, rng, seed, fixed)
                if net is not None:
                    return conv, net, True
        if len(shaped) == here and refusals and all(refusals):  # every call here raised a container error
            refused[kind] = refused.get(kind, 0) + 1
        if len(shaped) > here and fixed.get("loss") in (None, *_Y_FREE):
            net = _y_free(call, conv, depth, shaped[here], rng, seed, fixed)
            if net is not None:
                return conv, net, True
    if not shaped:
        return None
    # wrong code: the layout is known; of the network only what the targets it runs on say (integer labels:
    # the softmax cross-entropy), the rest stays as declared (a nearest network by error misleads)
    conv, yform = shaped[0][0], shaped[0][1]
    return conv, ({"loss": "softmax_ce", "targets": "labels"} if yform == "labels" else {}), False


# errors of code handed parameters in a container it does not take (a list of (W, b) pairs where it wants a
# list of W, a list where it wants a dict ...): the same in every layout with that container, unlike a shape
_CONTAINER_ERRORS = ("setting an array element with a sequence", "did not contain a loop with signature",
                     "indices must be integers", "has no attribute", "KeyError", "not subscriptable",
                     "values to unpack")


def _container(conv: Convention) -> tuple[str, bool]:
    """The parameter container a layout hands over: pairs or dict, with or without separate biases."""
    return conv.params, conv.has_bias and not conv.augmented


def _indexing(error: str) -> bool:
    """The error of code that indexes with its targets (``probs[range(m), y]``, ``np.eye(C)[y]``) or broadcasts
    them when handed probabilities: only then are integer labels worth a call (a call that raises restarts
    the worker)."""
    return any(marker in error for marker in ("IndexError", "used as indices", "integer scalar arrays",
                                              "could not be broadcast",  # probs - y[:, None]
                                              "values to unpack"))  # N, = y.shape




def _penalty_free(fixed: dict) -> bool:
    """No strength declared: an undeclared penalty is fitted (a declared one is part of every candidate)."""
    return fixed.get("l2") is None and fixed.get("l1") is None


def _match(got, nets, params, X, Y, fixed) -> tuple:
    """(the first network whose reference gradients are ``got``, None); else (the first network that
    does once a fitted penalty is added, its ``Fit``); else (None, None)."""
    penalised = (None, None)
    fitter = penalty_fitter(got, params, X.shape[-1]) if _penalty_free(fixed) else None
    for net in nets:
        try:
            want, _ = backprop(net, params, X, Y)
        except (ValueError, FloatingPointError):
            continue
        if same_gradients(got, want):
            return net, None
        if penalised[0] is None and fitter is not None:
            fit = fitter(want)
            if fit is not None:
                penalised = (net, fit)
    return penalised


def _confirm_penalty(call, conv, net: Network, fit, yform: str, rng, seed: int, fixed: dict) -> Network | None:
    """``net`` with the penalty fitted on the first probe, fitted again on a second probe with other
    parameters and another batch size (how it scales with m names the form), and the penalised network
    compared exactly on both; None where anything disagrees."""
    m2 = 1 if conv.batch == "single" else _M + 3
    params, X, Y = _inputs(conv, net.widths, yform, rng, seed + 1, m=m2)
    try:
        got = _call_in(call, conv, net, params, X, Y, yform)
        want, _ = backprop(net, params, X, Y)
    except Exception:  # noqa: BLE001 - it does not run on the second probe: not confirmed
        return None
    second = None if got is None else fit_penalty(got, want, params, m2)
    options = None if second is None else penalty_options(fit, second, fixed.get("penalty_form"))
    if options is None:
        return None
    penalised = replace(net, **options)
    return penalised if same_gradients(got, backprop(penalised, params, X, Y)[0]) else None


def _y_free(call, conv, depth: int, first: tuple, rng, seed: int, fixed: dict) -> Network | None:
    """The code's gradients do not change with Y (same parameters and X): a loss without targets.

    ``readout`` (alpha^T a with the default alpha) is compared on ``n_k`` = 3 outputs. ``output`` (the
    network function itself) exists on one output unit only, where a softmax student's probs/N (Y-free
    too) is exactly its gradient under ``mean``: it is claimed only where the same code on 3 outputs
    returns the gradient of the sum of the outputs (or of the first), with the same activations and
    reduction, which probs/N does not."""
    _conv, yform, params, X, Y, got = first
    other = _targets(yform, Y.shape[0], Y.shape[1], np.random.default_rng(seed + 5))
    if np.array_equal(np.argmax(other, axis=0), np.argmax(Y, axis=0)):
        other = np.roll(other, 1, axis=0)
    widths = _widths(depth, yform)
    shape_net = Network(widths, ("tanh",) * depth, loss="half_sse", bias=conv.has_bias)
    try:
        again = _call_in(call, conv, shape_net, params, X, other, yform)
        if again is None or not same_gradients(again, got, rtol=1e-12):
            return None  # it reads Y (most code): no call without Y, which would raise and restart the worker
        # the check hands a Y-free loss no targets at all
        alone = _call_in(call, conv, shape_net, params, X, None, "none2")
    except ImplementationError as e:
        if e.kind not in ("raised", "bad_output"):
            raise
        return None
    except Exception:  # noqa: BLE001 - it needs its Y after all
        return None
    if alone is None or not same_gradients(alone, got, rtol=1e-12):
        return None
    readouts = _candidates(widths, conv, "none2", fixed)
    net, fit = _match(alone, readouts, params, X, None, {**fixed, "l2": 0.0})
    if net is not None and fixed.get("loss") in (None, "readout"):
        return net
    if fixed.get("loss") not in (None, "output"):
        return None
    # how an ``output`` implementation reads three outputs: the sum of them, or the first
    summed = {(n.activations, n.reduction) for n in readouts for alpha in ((1.0,) * widths[-1],
                                                                            (1.0,) + (0.0,) * (widths[-1] - 1))
              if same_gradients(alone, backprop(replace(n, alpha=alpha), params, X, None)[0])}
    if not summed:
        return None
    widths1 = _widths(depth, "none1")
    params1, X1, _ = _inputs(conv, widths1, "none1", rng, seed)
    try:
        got1 = _call_in(call, conv, Network(widths1, ("tanh",) * depth, loss="output", bias=conv.has_bias),
                        params1, X1, None, "none1")
    except ImplementationError as e:
        if e.kind not in ("raised", "bad_output"):
            raise
        return None
    except Exception:  # noqa: BLE001
        return None
    if got1 is None:
        return None
    outputs = [n for n in _candidates(widths1, conv, "none1", fixed)
               if (n.activations, n.reduction) in summed]
    net, _fit = _match(got1, outputs, params1, X1, None, {**fixed, "l2": 0.0})
    return net


def _candidates(widths, conv, yform, fixed) -> list[Network]:
    nets = [n for n in _network_space(widths, conv.has_bias, yform)
            if all(fixed.get(k) in (None, v) for k, v in _net_options(n).items())]
    nets = sorted(nets, key=lambda n: _distance(_net_options(n)))
    if _penalty_free(fixed) or not (fixed.get("l2") or fixed.get("l1")):
        return nets
    # a declared strength with its form or bias left open: each form, the bias unpenalised first
    forms = [fixed["penalty_form"]] if fixed.get("penalty_form") else list(PENALTY_FORMS)
    biases = [bool(fixed["penalty_bias"])] if fixed.get("penalty_bias") is not None else [False, True]
    return [replace(n, l2=fixed.get("l2") or 0.0, l1=fixed.get("l1") or 0.0, penalty_form=form, penalty_bias=bias)
            for n in nets for form in forms for bias in biases]


def _relative(got: tuple, want: tuple) -> float:
    flat = lambda g: np.concatenate([np.ravel(a) for pair in g for a in pair if a is not None])  # noqa: E731
    a, b = flat(got), flat(want)
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return np.inf
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _runs_as(call, conv: Convention, net: Network, depth: int, rng, seed: int, exact: bool = True) -> bool:
    """It runs at ``depth`` too: returns the right gradients there (``exact``), or the right shapes."""
    k = depth
    acts = (net.activations[0],) * (k - 1) + (net.activations[-1],)
    yform = "labels" if net.targets == "labels" else ("onehot" if net.targets in ("onehot", "binary") else "soft")
    yform = {"output": "none1", "readout": "none2"}.get(net.loss, yform)
    widths = _widths(depth, yform)
    try:
        other = Network(widths, acts, loss=net.loss, reduction=net.reduction, bias=net.bias, targets=net.targets,
                        l2=net.l2, l1=net.l1, penalty_form=net.penalty_form, penalty_bias=net.penalty_bias)
    except ValueError:
        return False
    params, X, Y = _inputs(conv, widths, yform, rng, seed)
    try:
        got = _call_in(call, conv, other, params, X, Y, yform)
    except Exception:  # noqa: BLE001
        return False
    if got is None:
        return False
    return same_gradients(got, backprop(other, params, X, Y)[0]) if exact else True
