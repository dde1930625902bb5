"""Assertions for your own tests, chex-style: ``assert_grads_close(expected, got)``.

::

    from crosscheck import Convention, Network
    from crosscheck.testing import assert_grads_close

    conv = Convention(batch="rows", weights="in_out", bias="row", params="dict")
    assert_grads_close(expected, my_backprop(params, X, Y), layout=conv, network=net)

A failure is an ``AssertionError`` whose message names the layer, the parameter (``dW2``,
``db1``), both shapes, the relative error against the tolerance, and a hint when one explains
the difference (``transposed``, ``scaled by 2.000``, ``sign flipped``, ``not summed over the
batch``)::

    gradients differ: 1 of 4 parameter gradients
      dW2 (layer 2 of 2): expected shape (3, 2), got shape (2, 3); shape mismatch; hint: transposed

The public hypothesis strategies are re-exported here for convenience (importing them imports
hypothesis): ``from crosscheck.testing import networks, conventions, cases``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .compare import Comparison, ParameterComparison, compare_gradients
from .errors import ConventionError, UsageError
from .model.conventions import Convention
from .model.network import Network
from .tolerance import policy_for

__all__ = ["assert_grads_close"]  # plus the lazy networks, conventions, cases

_STRATEGIES = ("networks", "conventions", "cases")


def __getattr__(name: str) -> Any:
    # hypothesis loads only when a strategy is asked for
    if name in _STRATEGIES:
        from . import strategies

        return getattr(strategies, name)
    raise AttributeError(f"module 'crosscheck.testing' has no attribute {name!r}")


def _as_convention(layout: Any) -> Convention:
    if isinstance(layout, Convention):
        return layout
    try:
        if isinstance(layout, Mapping):
            return Convention.from_dict(layout)
        if isinstance(layout, str) and layout.count("/") == 3:  # Convention.describe(): batch/weights/bias/params
            return Convention(*layout.split("/"))
    except (TypeError, ValueError) as e:
        raise UsageError(f"layout {layout!r}: {e}") from None
    raise UsageError(f"layout must be a crosscheck.Convention, a dict of its fields or 'batch/weights/bias/params'"
                     f", got {layout!r}")


def _user_arrays(container: Any, conv: Convention, network: Network, side: str) -> dict[str, Any]:
    """``{"dW1": array, "db1": array, ...}`` read from a user-layout gradient container, shapes unchecked
    (so a transposed dW2 can be reported as one, not refused as a layout error)."""
    k = network.depth
    separate_bias = conv.has_bias and not conv.augmented
    out: dict[str, Any] = {}
    if conv.params == "dict":
        if not isinstance(container, Mapping):
            raise ConventionError(f"{side}: expected a dict of gradients (params='dict'), "
                                  f"got {type(container).__name__}")
        for layer in range(1, k + 1):
            for n in ("W", "b") if separate_bias else ("W",):
                key = next((c for c in (f"d{n}{layer}", f"{n}{layer}") if c in container), None)
                if key is None:
                    raise ConventionError(f"{side}: missing key 'd{n}{layer}'; got keys {sorted(map(str, container))}")
                out[f"d{n}{layer}"] = container[key]
        return out
    if isinstance(container, (Mapping, str, bytes)) or not isinstance(container, Sequence):
        raise ConventionError(f"{side}: expected a list of gradients (params='pairs'), got {type(container).__name__}")
    if len(container) != k:
        raise ConventionError(f"{side}: expected {k} layers of gradients, got {len(container)}")
    for layer, item in enumerate(container, start=1):
        if separate_bias:
            if isinstance(item, (str, bytes, Mapping)) or not isinstance(item, Sequence) or len(item) != 2:
                raise ConventionError(f"{side}: layer {layer}: expected a (dW, db) pair, got {type(item).__name__}")
            out[f"dW{layer}"], out[f"db{layer}"] = item
        else:
            out[f"dW{layer}"] = item
    return out


def _check_options(dtype: Any, device: Any, precision: Any, names: Any, msg: Any) -> None:
    """Bad options are UsageErrors, raised before anything is compared."""
    try:
        policy_for(dtype, device, precision)
    except (TypeError, ValueError) as e:
        raise UsageError(f"assert_grads_close: {e}") from None
    if names is not None and (isinstance(names, (str, bytes)) or not isinstance(names, Sequence)
                              or not all(isinstance(n, str) for n in names)):
        raise UsageError(f"assert_grads_close: names must be a sequence of strings, one per layer; got {names!r}")
    if not isinstance(msg, str):
        raise UsageError(f"assert_grads_close: msg must be a string, got {type(msg).__name__}")


def _walk(container: Any, depth: int = 0):
    """Every leaf of a gradient container (nested pairs, lists, dicts) with its path."""
    if isinstance(container, Mapping):
        for k, v in container.items():
            for path, leaf in _walk(v, depth + 1):
                yield f"[{k!r}]{path}", leaf
    elif isinstance(container, (list, tuple)) and depth < 3:
        for i, v in enumerate(container):
            for path, leaf in _walk(v, depth + 1):
                yield f"[{i}]{path}", leaf
    else:
        yield "", container


def _reject_complex(side: str, container: Any) -> None:
    """Gradients of a real loss are real: a complex array is refused, not compared by its real part
    (``np.asarray(z, float)`` would silently drop any imaginary part)."""
    for path, leaf in _walk(container):
        if leaf is not None and np.iscomplexobj(leaf):
            raise UsageError(f"assert_grads_close: {side}{path} is complex ({np.asarray(leaf).dtype}); gradients "
                             "of a real loss are real: compare real and imaginary parts separately if you mean to")


def _shape(a: Any) -> tuple[int, ...] | None:
    return None if a is None else tuple(np.shape(a))


def _user_layout_failures(exp: dict[str, Any], got: dict[str, Any], dtype: str, device: str,
                          precision: str) -> list[ParameterComparison]:
    """Shape mismatches and NaN in the user's own layout, with compare's shape hint (transposed, ...)."""
    bad = []
    for label, e in exp.items():
        g = got[label]
        if g is not None:
            try:
                g = np.asarray(g, dtype=np.float64)
            except (TypeError, ValueError):
                raise ConventionError(f"{label} is not an array of real numbers: {type(got[label]).__name__}") \
                    from None
        if g is None or _shape(e) != _shape(g) or not np.all(np.isfinite(g)):
            c = compare_gradients(((e, None),), ((g, None),), dtype=dtype, device=device, precision=precision)
            p = c.parameters[0]
            p.layer, p.name = int(label[2:]), label[1]
            bad.append(p)
    return bad


def _label(p: ParameterComparison, conv: Convention | None) -> str:
    if conv is not None and conv.augmented and p.name == "b":
        return f"db{p.layer} (the bias column of dW{p.layer})"
    return f"d{p.name}{p.layer}"


def _describe(p: ParameterComparison, depth: int, names: Sequence[str] | None, conv: Convention | None,
              shapes: dict[str, tuple] | None) -> str:
    where = f"layer {p.layer} of {depth}" + (f", {names[p.layer - 1]}" if names and p.layer <= len(names) else "")
    e_shape, g_shape = p.expected_shape, p.got_shape
    if shapes is not None:  # the user's layout: show the shapes the user's code produced
        key = f"dW{p.layer}" if conv is not None and conv.augmented else f"d{p.name}{p.layer}"
        e_shape, g_shape = shapes.get("e" + key, e_shape), shapes.get("g" + key, g_shape)
    text = f"{_label(p, conv)} ({where}): expected shape {e_shape}, got shape {g_shape}; "
    if p.reason == "shape":
        text += "shape mismatch"
    elif p.reason == "nan":
        text += "contains NaN or infinity"
    else:
        text += f"relative error {p.rel_error:.2e} > tolerance {p.tolerance:.1e}"
    return text + (f"; hint: {p.hint}" if p.hint else "")


def _message(failures: list[ParameterComparison], total: int, depth: int, names, conv, shapes, msg: str,
             setting: str) -> str:
    head = f"{msg}: " if msg else ""
    first = max(failures, key=lambda p: (p.layer, p.name == "W"))  # nearest the output: nearest the cause
    lines = [f"{head}gradients differ: {len(failures)} of {total} parameter gradients ({setting})",
             "  " + _describe(first, depth, names, conv, shapes)]
    lines += ["  " + _describe(p, depth, names, conv, shapes) for p in failures if p is not first]
    return "\n".join(lines)


def assert_grads_close(expected: Any, got: Any, *, layout: Convention | Mapping | str | None = None,
                       network: Network | None = None, dtype: str = "float64", device: str = "cpu",
                       precision: str = "default", names: Sequence[str] | None = None,
                       msg: str = "") -> Comparison:
    """Assert that gradients ``got`` equal ``expected`` under crosscheck's tolerance policy.

    layout:  None: both are canonical Gradients ``((dW_1: (n_1, n_0), db_1: (n_1,) | None), ...)``.
             A :class:`~crosscheck.Convention` (or its dict, or ``"rows/in_out/row/dict"``): both
             are containers in that user layout (``[(dW1, db1), ...]`` or ``{"dW1": ..., ...}``);
             ``network`` is then required. To compare against canonical reference gradients,
             convert them first: ``conv.params_to_user(reference, network, gradient=True)``.
    dtype, device, precision: how ``got`` was computed; they pick the tolerance
             (``crosscheck.tolerance.policy_for``).
    names:   optional name per layer for the message (``("hidden", "output")``).
    msg:     prefix for the failure message.

    Returns the :class:`~crosscheck.compare.Comparison` when the gradients agree; raises
    ``AssertionError`` naming the first differing parameter (nearest the output) otherwise.
    A malformed ``got`` (missing layer or key) is an assertion failure; a malformed ``expected``
    or a bad option is a :class:`~crosscheck.errors.UsageError`.
    """
    __tracebackhide__ = True  # pytest shows the assertion message, not this frame
    _check_options(dtype, device, precision, names, msg)
    if network is not None and not isinstance(network, Network):
        raise UsageError(f"assert_grads_close: network must be a crosscheck.Network, got {type(network).__name__}")
    _reject_complex("expected", expected)
    _reject_complex("got", got)
    setting = f"{dtype} {device}" + (f" precision={precision}" if precision != "default" else "")
    head = f"{msg}: " if msg else ""
    if layout is None:
        if isinstance(expected, (Mapping, str, bytes)) or not isinstance(expected, Sequence):
            raise UsageError(f"assert_grads_close: expected must be canonical gradients ((dW, db), ...) without "
                             f"layout=, got {type(expected).__name__}")
        if not any(a is not None for pair in expected for a in (pair if isinstance(pair, Sequence) else (pair,))):
            raise UsageError("assert_grads_close: expected holds no gradients: an empty comparison proves nothing")
        if network is not None and len(expected) != network.depth:
            raise UsageError(f"expected has {len(expected)} layers, the network {network.depth}")
        try:
            comparison = compare_gradients(expected, got, dtype=dtype, device=device, precision=precision)
        except (TypeError, ValueError) as e:
            raise AssertionError(f"{head}got is not canonical gradients ((dW, db), ...): {e}") from None
        if not comparison.passed:
            raise AssertionError(_message(comparison.failures(), len(comparison.parameters), len(expected),
                                          names, None, None, msg, setting))
        return comparison

    conv = _as_convention(layout)
    if network is None:
        raise UsageError("assert_grads_close(layout=...) needs network= to read the layout")
    try:
        conv.check_network(network)
        exp_user = _user_arrays(expected, conv, network, "expected")
        exp_canonical = conv.params_from_user(expected, network, gradient=True)
    except ConventionError as e:
        raise UsageError(f"expected does not fit layout {conv.describe()}: {e}") from None
    try:
        got_user = _user_arrays(got, conv, network, "got")
    except ConventionError as e:
        raise AssertionError(f"{head}{e}") from None
    shapes = {"e" + k: _shape(v) for k, v in exp_user.items()} | {"g" + k: _shape(v) for k, v in got_user.items()}
    total = len(exp_user) + (network.depth if conv.augmented else 0)
    try:
        bad_layout = _user_layout_failures(exp_user, got_user, dtype, device, precision)
    except ConventionError as e:
        raise AssertionError(f"{head}{e}") from None
    # values of the well-formed parameters: the malformed ones stand in with the expected arrays
    bad_labels = {f"d{p.name}{p.layer}" for p in bad_layout}
    fixed = {k: (exp_user[k] if k in bad_labels else v) for k, v in got_user.items()}
    got_canonical = replace(conv, params="dict").params_from_user(fixed, network, gradient=True)
    comparison = compare_gradients(exp_canonical, got_canonical, dtype=dtype, device=device, precision=precision)
    failures = bad_layout + comparison.failures()
    if failures:
        raise AssertionError(_message(failures, total, network.depth, names, conv, shapes, msg, setting))
    return comparison
