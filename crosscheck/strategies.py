"""Public hypothesis strategies: ``networks()``, ``conventions()``, ``cases()``.

Usable in your own tests::

    from hypothesis import given
    from crosscheck.strategies import cases

    @given(cases(activations=["tanh", "relu"], losses=["half_sse"]))
    def test_my_backprop(case):
        params, X, Y = case.user_inputs()
        ...

Every option is keyword-only and validated when the strategy is built, not when it is
drawn. By default every dimension that could hide a transposition is distinct and >= 2:
the widths of a network are pairwise distinct and the batch size differs from all of
them, and since hypothesis shrinks *within* these constraints (unique lists, filtered
batch sizes), the minimal failing network still shows a transpose.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import replace

from hypothesis import assume, reject
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .draws import DrawError, draw
from .model.activations import ACTIVATIONS, get_activation
from .model.case import Case
from .model.conventions import BATCH, BIAS, PARAMS, WEIGHTS, Convention
from .model.losses import LOSSES, get_loss
from .model.network import PENALTY_FORMS, REDUCTIONS, TARGETS, Network

__all__ = ["networks", "conventions", "cases", "coincident_cases", "architectures", "DEFAULT_ACTIVATIONS"]

DEFAULT_ACTIVATIONS = tuple(ACTIVATIONS)


def _range(name: str, value, lo_min: int) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        lo, hi = (int(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be an int or a (min, max) pair, got {value!r}") from None
    if lo < lo_min or hi < lo:
        raise InvalidArgument(f"{name} must satisfy {lo_min} <= min <= max, got {value!r}")
    return lo, hi


def _choices(name: str, value, allowed: Iterable[str], check=None) -> tuple:
    if value is None:
        return tuple(allowed)
    if isinstance(value, str):
        value = (value,)
    value = tuple(value)
    if not value:
        raise InvalidArgument(f"{name} must not be empty")
    for v in value:
        if check is not None:
            try:
                check(v)
            except ValueError as e:
                raise InvalidArgument(f"{name}: {e}") from None
        elif v not in allowed:
            raise InvalidArgument(f"{name}: {v!r} is not one of {', '.join(allowed)}")
    return value


def _strengths(name: str, value) -> tuple[float, ...]:
    values = (value,) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    try:
        out = tuple(sorted(float(v) for v in values))
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be a number >= 0 or a list of them, got {value!r}") from None
    if not out or any(not (v >= 0 and v < float("inf")) for v in out):
        raise InvalidArgument(f"{name} must be a number >= 0 or a non-empty list of them, got {value!r}")
    return out


def networks(
    *,
    depth: int | tuple[int, int] = (1, 4),
    widths: int | tuple[int, int] = (2, 9),
    activations: Sequence[str] | None = None,
    hidden: Sequence[str] | str | None = None,
    output: Sequence[str] | str | None = None,
    losses: Sequence[str] | str | None = None,
    reductions: Sequence[str] | str | None = None,
    bias: bool | None = None,
    per_neuron: bool = False,
    output_width: int | None = None,
    distinct: bool = True,
    targets: Sequence[str] | str | None = "soft",
    l2: float | Sequence[float] = 0.0,
    l1: float | Sequence[float] = 0.0,
    penalty_forms: Sequence[str] | str | None = None,
    penalty_bias: bool | None = False,
) -> st.SearchStrategy[Network]:
    """Feed-forward networks.

    depth, widths: an int or an inclusive (min, max) range (widths apply to n_0 ... n_k).
    activations:   names to draw from for every layer (``hidden``/``output`` restrict those layers).
    losses, reductions: names to draw from; a loss that fixes the output (``output``: n_k = 1,
                   ``bce``: sigmoid output) overrides the width or activation it needs; each loss
                   draws among the given reductions it takes (``mean_all``: elementwise losses).
    bias:          True/False, or None to draw both.
    per_neuron:    also draw layers with one activation per neuron (seed 000's Sigma_i).
    distinct:      widths pairwise distinct (so no W is square and every transpose shows).
    targets:       target forms to draw from (``"soft"``, ``"onehot"``, ``"labels"``, ``"binary"``);
                   each loss draws among the given forms it takes. Default ``"soft"``; None: every
                   form each loss takes. A loss taking none of them is not drawn.
    l2, l1:        a penalty strength or a list to draw from (0: no penalty term).
    penalty_forms: forms to draw from (``half``, ``full``, ``half_over_m``, ``over_m``; None: all).
    penalty_bias:  whether biases are penalised too; None draws both.
    """
    d_lo, d_hi = _range("depth", depth, 1)
    w_lo, w_hi = _range("widths", widths, 1)
    acts = _choices("activations", activations, DEFAULT_ACTIVATIONS, get_activation)
    hid = _choices("hidden", hidden, acts, get_activation) if hidden is not None else acts
    out = _choices("output", output, acts, get_activation) if output is not None else acts
    loss_names = _choices("losses", losses, tuple(LOSSES), get_loss)
    reds = _choices("reductions", reductions, REDUCTIONS)
    forms = _choices("targets", targets, TARGETS)
    fitting = {name: ([t for t in forms if t in get_loss(name).targets],
                      [r for r in reds if r != "mean_all" or get_loss(name).elementwise]) for name in loss_names}
    def fits_width(loss) -> bool:  # a declared output width, or the width range, rules out some losses
        if output_width is not None:
            return loss.output_width in (None, output_width) and loss.min_output_width <= output_width
        return loss.min_output_width <= w_hi

    loss_names = tuple(name for name in loss_names if all(fitting[name]) and fits_width(get_loss(name)))
    if not loss_names:
        raise InvalidArgument(f"no loss among {', '.join(fitting)} takes targets {', '.join(forms)} with "
                              f"reductions {', '.join(reds)} (labels: softmax_ce; onehot: softmax_ce, bce; "
                              "binary: bce; "
                              "mean_all: half_sse, sse, bce)")
    l2s, l1s = _strengths("l2", l2), _strengths("l1", l1)
    pforms = _choices("penalty_forms", penalty_forms, PENALTY_FORMS)
    if penalty_bias is not None and not isinstance(penalty_bias, bool):
        raise InvalidArgument(f"penalty_bias must be True, False or None, got {penalty_bias!r}")
    if bias is not None and not isinstance(bias, bool):
        raise InvalidArgument(f"bias must be True, False or None, got {bias!r}")
    if output_width is not None and output_width < 1:
        raise InvalidArgument(f"output_width must be >= 1, got {output_width}")
    if distinct and w_hi - w_lo + 1 < d_hi + 1:
        raise InvalidArgument(
            f"distinct widths for depth up to {d_hi} need at least {d_hi + 1} values in widths={w_lo, w_hi}; "
            "widen the range or pass distinct=False"
        )

    made: dict = {}  # the strategies drawn from, built once (a sweep draws hundreds of networks)

    def between(lo: int, hi: int) -> st.SearchStrategy:
        key = ("integers", lo, hi)
        if key not in made:
            made[key] = st.integers(lo, hi)
        return made[key]

    def front_widths(k: int, n_out: int) -> st.SearchStrategy:
        key = ("front", k, n_out)
        if key not in made:
            if distinct:
                pool = [w for w in range(w_lo, w_hi + 1) if w != n_out]
                made[key] = st.lists(st.sampled_from(pool), min_size=k, max_size=k, unique=True)
            else:
                made[key] = st.lists(st.integers(w_lo, w_hi), min_size=k, max_size=k)
        return made[key]

    @st.composite
    def _networks(draw_) -> Network:
        k = draw_(between(d_lo, d_hi))
        loss = get_loss(draw_(_sampled(loss_names)))
        n_out = loss.output_width or output_width
        lo_out = max(w_lo, loss.min_output_width)
        if n_out is None:
            n_out = draw_(between(lo_out, max(lo_out, w_hi)))
        front = draw_(front_widths(k, n_out))
        ws = tuple(front) + (n_out,)
        layer_acts = []
        for layer in range(1, k + 1):
            choices = out if layer == k else hid
            if layer == k and loss.output_activation is not None:
                layer_acts.append(loss.output_activation)
            elif per_neuron and ws[layer] > 1 and draw_(st.booleans()):
                layer_acts.append(tuple(draw_(st.lists(_sampled(tuple(choices)), min_size=ws[layer],
                                                       max_size=ws[layer]))))
            else:
                layer_acts.append(draw_(_sampled(tuple(choices))))
        loss_targets, loss_reds = fitting[loss.name]
        red = draw_(_sampled(tuple(loss_reds)))
        has_bias = draw_(_sampled((True, False))) if bias is None else bias
        target = draw_(_sampled(tuple(loss_targets)))
        # penalties last: shrinking drops them (toward 0, the list's first entry) before the network
        lam2, lam1 = draw_(_sampled(tuple(l2s))), draw_(_sampled(tuple(l1s)))
        form = draw_(_sampled(tuple(pforms))) if lam2 or lam1 else pforms[0]
        pbias = (draw_(st.booleans()) if penalty_bias is None else penalty_bias) if lam2 or lam1 else False
        return Network(ws, tuple(layer_acts), loss=loss.name, reduction=red, bias=has_bias, targets=target,
                       l2=lam2, l1=lam1, penalty_form=form, penalty_bias=pbias)

    strategy = _networks()
    # what coincident_cases() must keep when it makes dimensions coincide: the width range and a fixed n_out
    strategy._crosscheck_widths = (w_lo, w_hi, output_width)
    return strategy


def conventions(
    *,
    batch: Sequence[str] | str | None = None,
    weights: Sequence[str] | str | None = None,
    bias: Sequence[str] | str | None = None,
    params: Sequence[str] | str | None = None,
) -> st.SearchStrategy[Convention]:
    """Conventions drawn from the given values of each axis (default: all of them)."""
    b = _choices("batch", batch, BATCH)
    w = _choices("weights", weights, WEIGHTS)
    bi = _choices("bias", bias, BIAS)
    p = _choices("params", params, PARAMS)
    strategy = st.builds(Convention, st.sampled_from(b), st.sampled_from(w), st.sampled_from(bi),
                         st.sampled_from(p))
    strategy._crosscheck_bias = bi  # lets cases() fit the bias layout to the network's bias
    return strategy


def _sampled(values: tuple) -> st.SearchStrategy:
    """``st.sampled_from(values)``, built once per tuple: the composites here run per example,
    and building a strategy costs about as much as drawing from it (the draws are the same)."""
    # keyed with each value's type: (1,) == (1.0,) == (True,) as dict keys, and a batch-size
    # strategy handed an --l2 strength's (1.0,) would draw m = 1.0
    return _sampled_typed(tuple((type(v), v) for v in values))


@functools.cache
def _sampled_typed(typed: tuple) -> st.SearchStrategy:
    return st.sampled_from(tuple(v for _, v in typed))


def _batch_sizes(lo: int, hi: int, network: Network, convention: Convention, distinct: bool):
    if convention.batch == "single":
        return st.just(1)
    avoid = set(network.widths) | ({network.n_in + 1} if convention.augmented else set())
    allowed = [m for m in range(lo, hi + 1) if not distinct or m not in avoid]
    if not allowed:  # every size collides with a width: fall back to the smallest
        allowed = [lo]
    return _sampled(tuple(allowed))


def architectures(
    *,
    networks: st.SearchStrategy[Network] | None = None,
    conventions: st.SearchStrategy[Convention] | None = None,
    batch_sizes: int | tuple[int, int] = (1, 6),
    distinct: bool = True,
) -> st.SearchStrategy[tuple[Network, Convention, int, int]]:
    """(network, convention, batch size, seed): everything but the values, which
    ``crosscheck.draws.draw`` makes from the seed (and can make many of at once)."""
    nets = networks if networks is not None else globals()["networks"]()
    convs = conventions if conventions is not None else globals()["conventions"]()
    m_lo, m_hi = _range("batch_sizes", batch_sizes, 1)
    allowed_bias = getattr(convs, "_crosscheck_bias", BIAS)
    seeds = st.integers(0, 2**32 - 1)

    @st.composite
    def _arch(draw_):
        net = draw_(nets)
        conv = draw_(convs)
        if conv.has_bias != net.bias:
            # The network decides whether there is a bias; the convention only lays it out,
            # so redraw the layout among those the conventions strategy allows.
            fitting = [b for b in allowed_bias if (b != "none") == net.bias]
            assume(fitting)
            conv = replace(conv, bias=draw_(_sampled(tuple(fitting))))
        m = draw_(_batch_sizes(m_lo, m_hi, net, conv, distinct))
        seed = draw_(seeds)
        return net, conv, m, seed

    return _arch()


def cases(
    *,
    networks: st.SearchStrategy[Network] | None = None,
    conventions: st.SearchStrategy[Convention] | None = None,
    batch_sizes: int | tuple[int, int] = (1, 6),
    dtype: str = "float64",
    kinks: bool = False,
    distinct: bool = True,
    **network_options,
) -> st.SearchStrategy[Case]:
    """Complete cases: a network, a convention, parameters and data.

    ``network_options`` (depth, widths, activations, losses, ...) build ``networks()`` when no
    ``networks`` strategy is given. ``kinks=True`` puts some pre-activations exactly on a kink;
    otherwise every pre-activation keeps ``crosscheck.draws.KINK_MARGIN`` from one."""
    if networks is not None and network_options:
        raise InvalidArgument("pass either a networks strategy or network options, not both")
    if dtype not in ("float64", "float32"):
        raise InvalidArgument(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    nets = networks if networks is not None else globals()["networks"](distinct=distinct, **network_options)
    arch = architectures(networks=nets, conventions=conventions, batch_sizes=batch_sizes, distinct=distinct)

    def _make(a) -> Case:
        net, conv, m, seed = a
        try:
            d = draw(net, seed, batch_size=m, draws=1, kinks=kinks, dtype=dtype)
        except DrawError:
            reject()
        params, X, Y = d.one(0)
        return Case(net, conv, params, X, Y)

    return arch.map(_make)




# ---- coincident dimensions: the second phase of shapes ----------------------------------------------

COINCIDENCES = ("square", "m_width", "out_in")


def _coincide(draw_, net: Network, conv: Convention, m: int, lo: int, hi: int,
              output_width: int | None = None) -> tuple[Network, int]:
    """Make one dimension coincide with another: a square W (n_l = n_{l-1}), m equal to a width,
    or n_out equal to n_in. Shrinks towards the square W of the last layer. A fixed output width
    (the loss's, or ``output_width`` declared) is never changed: the hidden width before it moves."""
    widths = list(net.widths)
    k = net.depth
    fixed_out = net.loss_fn.output_width is not None or output_width is not None
    kinds = ["square"]
    if conv.batch != "single" and any(lo <= w <= hi for w in widths):
        kinds.append("m_width")
    if not fixed_out and k >= 2:
        kinds.append("out_in")
    kind = draw_(st.sampled_from(kinds))
    if kind == "square":
        layer = draw_(st.integers(1, k).map(lambda i: k + 1 - i))  # the last layer first
        if layer == k and fixed_out:
            widths[k - 1] = widths[k]
        else:
            widths[layer] = widths[layer - 1]
    elif kind == "out_in":
        widths[k] = widths[0]
    else:
        m = draw_(st.sampled_from([w for w in widths if lo <= w <= hi]))
    if any(not isinstance(a, str) for a in net.activations):
        reject()  # per-neuron activations are tied to the widths they were drawn for
    try:
        return replace(net, widths=tuple(widths), alpha=None), m
    except ValueError:
        reject()


def coincident_cases(
    *,
    networks: st.SearchStrategy[Network] | None = None,
    conventions: st.SearchStrategy[Convention] | None = None,
    batch_sizes: int | tuple[int, int] = (1, 6),
    dtype: str = "float64",
    kinks: bool = False,
) -> st.SearchStrategy[Case]:
    """Cases where two dimensions coincide: a square weight matrix, the batch size equal to a
    width, or n_out equal to n_in. Code that guesses a layout from shapes, or multiplies by W
    where W^T belongs, is wrong there in its values only (``crosscheck check`` runs these after
    the distinct-dimension cases)."""
    if dtype not in ("float64", "float32"):
        raise InvalidArgument(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    m_lo, m_hi = _range("batch_sizes", batch_sizes, 1)
    nets = networks if networks is not None else globals()["networks"](distinct=False)
    arch = architectures(networks=nets, conventions=conventions, batch_sizes=batch_sizes, distinct=False)
    output_width = getattr(nets, "_crosscheck_widths", (None, None, None))[2]

    @st.composite
    def _case(draw_) -> Case:
        net, conv, m, seed = draw_(arch)
        net, m = _coincide(draw_, net, conv, m, m_lo, m_hi, output_width)
        try:
            d = draw(net, seed, batch_size=m, draws=1, kinks=kinks, dtype=dtype)
        except DrawError:
            reject()
        params, X, Y = d.one(0)
        return Case(net, conv, params, X, Y)

    return _case()
