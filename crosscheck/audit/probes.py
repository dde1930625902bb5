"""Run the audit table on the installed torch and JAX: values and autodiff derivatives at every
point, in float32 and float64, and every default read from the signatures.

torch runs eagerly. JAX runs every call of one dtype inside one ``jax.jit``: eager JAX compiles
each primitive for each new shape and dtype, which measured 60-80 s for this table against ~2 s of
CPU for one compile per dtype (/work/notes/issue-14.md); the results are the same (the table's
claims hold both ways). float64 JAX runs inside ``jax.enable_x64(True)``, scoped to the call.
When answers agree: ``crosscheck.audit.results.close``.
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UsageError
from .defaults import default_probes, read
from .results import RTOL_ULPS, AuditResult, DefaultRow, Row, close
from .spec import DefaultProbe, Libs, Point, Probe

__all__ = ["Row", "DefaultRow", "AuditResult", "load_libs", "run_audit", "close", "RTOL_ULPS"]


# ---- libraries ----------------------------------------------------------------------------------------
def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def load_libs(*, flax: bool = True, optax: bool = True) -> tuple[Libs, dict[str, str]]:
    """torch and JAX (both required), optax and flax.linen when installed (and not switched off)."""
    missing = [n for n in ("torch", "jax") if not _installed(n)]
    if missing:
        raise UsageError(f"crosscheck audit compares torch with JAX: {' and '.join(missing)} not installed "
                         "(pip install 'crosscheck-grad[torch,jax]')")
    import jax
    import torch

    if os.environ.get("CROSSCHECK_JAX_CACHE"):  # the suite's compile cache (crosscheck.backends.jax)
        from ..backends.jax import enable_persistent_cache

        enable_persistent_cache()
    L = Libs(torch=torch, jax=jax)
    absent: dict[str, str] = {}
    if optax and _installed("optax"):
        import optax as optax_mod

        L.optax = optax_mod
    else:
        absent["optax"] = "not installed" if optax else "switched off"
    if flax and _installed("flax"):
        import flax.linen as linen

        L.linen = linen
    else:
        absent["flax"] = "not installed (pip install 'crosscheck-grad[flax]')" if flax else "switched off"
    return L, absent


def versions(L: Libs) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "jax", "jaxlib", "optax", "flax", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    if L.optax is None:
        out["optax"] = "not used" if out["optax"] != "not installed" else out["optax"]
    if L.linen is None:
        out["flax"] = "not used" if out["flax"] != "not installed" else out["flax"]
    return out


# ---- evaluation --------------------------------------------------------------------------------------------
@dataclass
class _Call:
    """One library call: a spelling at one input (all points of an elementwise probe at once)."""

    probe: Probe
    lib: str
    points: list
    x: np.ndarray
    target: Any
    w: Any
    dtype: str
    answer: tuple = (None, None)  # (value, derivative) as float64 arrays, or an error text twice


def _error(e: Exception) -> tuple[str, str]:
    text = str(e).splitlines()[0][:120] if str(e) else ""
    msg = f"raises {type(e).__name__}: {text}"
    return msg, msg


def _torch_run(L: Libs, call: _Call) -> tuple:
    torch, probe = L.torch, call.probe
    tdt = getattr(torch, call.dtype)
    try:
        f = probe.torch.make(L)
        t = torch.tensor(call.x, dtype=tdt, requires_grad=probe.derivative)
        tgt = None if call.target is None else torch.as_tensor(
            call.target, dtype=torch.int64 if call.target.dtype.kind == "i" else tdt)
        if not probe.derivative:
            with torch.no_grad():
                return f(t, tgt).detach().numpy().astype(np.float64), None
        y = f(t, tgt)
        cot = torch.ones_like(y) if call.w is None else torch.as_tensor(call.w, dtype=tdt)
        (g,) = torch.autograd.grad(y, t, grad_outputs=cot)
        return y.detach().numpy().astype(np.float64), g.numpy().astype(np.float64)
    except Exception as e:  # noqa: BLE001 - a spelling that raises is an answer the table must explain
        return _error(e)


def _jax_lower(L: Libs, calls: list[_Call], dtype: str, pool) -> tuple:
    """Every JAX call of one dtype traced into one function, its XLA compile started on ``pool``.

    Eager JAX compiles each primitive for each new shape, which costs far more here than one
    compile of the whole table (measured in /work/notes/issue-14.md); the compile releases the GIL,
    so both dtypes compile while torch runs. A spelling that raises while tracing is recorded as
    its answer."""
    import contextlib

    jax, jnp = L.jax, L.jnp
    errors: dict[int, tuple] = {}

    def one(call: _Call, x, tgt, cot):
        f = call.probe.jax.make(L)
        if not call.probe.derivative:
            return f(x, tgt), jnp.zeros(())
        y, vjp = jax.vjp(lambda v: f(v, tgt), x)
        return y, vjp(jnp.ones_like(y) if cot is None else cot)[0]

    def everything(args):
        out = []
        for i, (call, (x, tgt, cot)) in enumerate(zip(calls, args)):
            try:
                out.append(one(call, x, tgt, cot))
            except Exception as e:  # noqa: BLE001 - traced once: recorded per spelling
                errors[i] = _error(e)
                out.append(None)
        return out

    scope = jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()
    with scope:
        args = [(jnp.asarray(c.x, dtype=dtype),
                 None if c.target is None else jnp.asarray(c.target, dtype="int32" if c.target.dtype.kind == "i"
                                                           else dtype),
                 None if c.w is None else jnp.asarray(c.w, dtype=dtype)) for c in calls]
        lowered = jax.jit(everything).lower(args)
    return calls, dtype, args, errors, pool.submit(lowered.compile)


def _jax_finish(L: Libs, started: tuple) -> None:
    import contextlib

    calls, dtype, args, errors, future = started
    scope = L.jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()
    with scope:
        results = future.result()(args)
        for i, (call, res) in enumerate(zip(calls, results)):
            if i in errors:
                call.answer = errors[i]
            else:
                y, g = res
                call.answer = (np.asarray(y, dtype=np.float64),
                               np.asarray(g, dtype=np.float64) if call.probe.derivative else None)


def _model_eval(model, x: np.ndarray, target, w, derivative: bool):
    with np.errstate(all="ignore"):  # log(0), inf - inf: the models say what the libraries do there
        v = np.asarray(model.value(x, target), dtype=np.float64)
        g = np.asarray(model.vjp(x, target, np.ones_like(v) if w is None else w), dtype=np.float64) \
            if derivative else None
    return v, g


def _inputs(probe: Probe, dtype: str) -> list[tuple[list[Point], np.ndarray, Any]]:
    """(points, x rounded to dtype, target) per call: all points at once for elementwise probes."""
    if probe.elementwise:
        return [(list(probe.points), np.asarray([p.x for p in probe.points], dtype=dtype), None)]
    out = []
    for p in probe.points:
        t = None if p.target is None else np.asarray(p.target, dtype=np.int64 if p.integer_target else dtype)
        out.append(([p], np.asarray(p.x, dtype=dtype), t))
    return out


def _show_inputs(x: np.ndarray, target: Any) -> str:
    def arr(a):
        return np.array2string(np.asarray(a), precision=6, separator=", ").replace("\n", "")
    xs = arr(np.asarray(x, dtype=np.float64)) if np.ndim(x) else f"{float(x):g}"
    ts = "" if target is None else f", y = {arr(target)}"
    return f"x = {xs}{ts}"


def _plan(probes: list[Probe], dtypes) -> list[tuple[_Call, _Call]]:
    pairs = []
    for probe in probes:
        for dtype in probe.dtypes:
            if dtype not in dtypes:
                continue
            w = None if probe.weights is None else np.asarray(probe.weights, dtype=dtype)
            for points, x, target in _inputs(probe, dtype):
                pairs.append((_Call(probe, "torch", points, x, target, w, dtype),
                              _Call(probe, "jax", points, x, target, w, dtype)))
    return pairs


def _rows_of(tcall: _Call, jcall: _Call) -> list[Row]:
    probe, dtype, x, target, w = tcall.probe, tcall.dtype, tcall.x, tcall.target, tcall.w
    scale = 0.0 if probe.elementwise else 1.0
    x64 = x.astype(np.float64)
    t64 = None if target is None else (target if target.dtype.kind == "i" else target.astype(np.float64))
    w64 = None if w is None else w.astype(np.float64)
    obs = {"torch": tcall.answer, "jax": jcall.answer}
    models, slack = {}, {}
    for name, model in (("reference", probe.reference), ("torch", probe.torch.model or probe.reference),
                        ("jax", probe.jax.model or probe.reference)):
        if model is None:
            continue
        models[name] = _model_eval(model, x64, t64, w64, probe.derivative)
        if dtype == "float32":  # the formula's own float32 error here (module docstring)
            m32 = _model_eval(model, x, target, w, probe.derivative)
            with np.errstate(invalid="ignore"):
                slack[name] = tuple(None if a is None else np.abs(a - b) for a, b in zip(m32, models[name]))
        if model.abs_error is not None and name != "reference":  # a cancelling formula (models.Model)
            extra = model.abs_error(x64, float(np.finfo(dtype).eps))
            base = slack.get(name, (0.0, 0.0))
            slack[name] = tuple(None if b is None else b + e / 2 for b, e in zip(base, extra))
    rows = []
    aspects = [("value", 0)] + ([("derivative", 1)] if probe.derivative else [])
    for i, p in enumerate(tcall.points):
        inputs = _show_inputs(x[i] if probe.elementwise else x, None if probe.elementwise else target)

        def pick(a, i=i):
            if isinstance(a, str) or a is None:
                return a
            return a[i] if probe.elementwise and np.ndim(a) else a

        for aspect, k in aspects:
            answers = {lib: pick(obs[lib][k]) for lib in ("torch", "jax")}
            expected = {n: pick(models[n][k]) for n in models}
            slacks = {n: (0.0 if n not in slack else pick(slack[n][k])) for n in models}
            rows.append(_judge(probe, aspect, p.label, inputs, dtype, answers, expected, slacks, scale))
    return rows


def _judge(probe: Probe, aspect, label, inputs, dtype, answers, expected, slacks, scale) -> Row:
    kw = dict(scale=scale, exact_tiny=probe.exact_tiny)
    ref = expected.get("reference", expected["torch"])
    row = Row(probe.function, aspect, label, inputs, dtype, probe.torch.expression, probe.jax.expression,
              answers["torch"], answers["jax"], expected.get("reference"), probe.reference_name, "agree")
    claims = []
    for lib in ("torch", "jax"):
        if not close(answers[lib], expected[lib], dtype, slack=slacks[lib], **kw):
            side = getattr(probe, lib)
            claims.append(f"{side.expression} gives {_fmt(answers[lib], dtype)}, the table expects "
                          f"{_fmt(expected[lib], dtype)}")
    if claims:
        row.status, row.detail = "finding", "; ".join(claims)
        return row
    ref_slack = slacks.get("reference", slacks["torch"])
    differs = [lib for lib in ("torch", "jax") if not close(answers[lib], ref, dtype, slack=ref_slack, **kw)]
    if probe.reference is None and not differs:
        differs = [] if close(answers["torch"], answers["jax"], dtype, slack=slacks["jax"], **kw) else ["jax"]
    if not differs:
        return row
    convs = [getattr(probe, lib).convention for lib in differs]
    if any(c is None for c in convs):
        row.status = "finding"
        row.detail = ", ".join(getattr(probe, lib).expression for lib, c in zip(differs, convs) if c is None) + \
            " differs from the reference and the table has no convention for it"
        return row
    row.status, row.conventions = "known", list(dict.fromkeys(c.id for c in convs))
    return row


def _fmt(v: Any, dtype: str = "float64") -> str:
    """The shortest text that reads back as the same ``dtype`` number(s)."""
    if v is None or isinstance(v, str):
        return str(v)
    a = np.asarray(v).astype(dtype)
    if a.ndim == 0:
        return str(a[()])  # NumPy prints a scalar's shortest round-trip text
    return np.array2string(a, separator=", ").replace("\n", "")


# ---- defaults -----------------------------------------------------------------------------------------------
def _default_row(dp: DefaultProbe, L: Libs) -> DefaultRow:
    raw = {}
    for lib, getter in (("torch", dp.torch), ("jax", dp.jax)):
        try:
            raw[lib] = getter(L)
        except Exception as e:  # noqa: BLE001 - an unreadable default is a finding, not a crash
            raw[lib] = f"unreadable: {type(e).__name__}: {e}"
    meaning = {lib: (dp.meaning(lib, v) if not str(v).startswith("unreadable") else v) for lib, v in raw.items()}
    row = DefaultRow(dp.function, dp.parameter, dp.torch_where, dp.jax_where, _show(raw["torch"]), _show(raw["jax"]),
                     meaning["torch"], meaning["jax"], dp.reference, "agree")
    same = meaning["torch"] == meaning["jax"] and (dp.reference is None or meaning["torch"] == dp.reference)
    if same and dp.convention is not None:
        row.status = "finding"
        row.detail = f"the table documents a difference ({dp.convention.id}) that these versions do not have"
    elif not same and dp.convention is None:
        row.status = "finding"
        row.detail = "the defaults mean different things and the table has no convention for it"
    elif not same:
        row.status, row.conventions = "known", [dp.convention.id]
    return row


def _show(v: Any) -> Any:
    """A default as the answer recorded: numbers and strings as they are, None and booleans as
    their Python spelling (``None``, ``True``), anything else by its repr."""
    if isinstance(v, bool) or v is None:
        return repr(v)
    return v if isinstance(v, (int, float, str)) else repr(v)


# ---- the whole audit -------------------------------------------------------------------------------------------
def _stale(probes: list[Probe], rows: list[Row]) -> list[Row]:
    """A documented deviation that no point shows is a claim that stopped being true: a finding."""
    seen = {(r.function, c) for r in rows for c in r.conventions}
    out = []
    for p in probes:
        for lib in ("torch", "jax"):
            side = getattr(p, lib)
            if side.convention is not None and (p.function, side.convention.id) not in seen:
                out.append(Row(p.function, "convention", "every point", "", "-", p.torch.expression, p.jax.expression,
                               None, None, None, p.reference_name, "finding",
                               detail=f"documented convention {side.convention.id!r} of {side.expression} is "
                                      "not observed at any point on these versions"))
    return out


def _fill(defaults: list[DefaultRow], d: dict[str, Any]) -> dict:
    """Each convention with ``{torch}``/``{jax}`` replaced by the defaults it names, as installed."""
    from dataclasses import replace

    from .table import CONVENTIONS

    values = {"softplus-threshold": {"torch": d["softplus.threshold"], "jax": "none"}}
    for r in defaults:
        if r.conventions:
            values.setdefault(r.conventions[0], {"torch": r.torch, "jax": r.jax})
    out = {}
    for cid, c in CONVENTIONS.items():
        v = {"torch": "?", "jax": "?", **values.get(cid, {})}
        out[cid] = replace(c, note=c.note.format(**v), fix=c.fix.format(**v))
    return out


def _family(function: str) -> str:
    """"relu (clamp)" -> "relu", "batch_norm running_mean" -> "batch_norm": what --functions names."""
    return function.split(" ")[0]


def run_audit(*, flax: bool = True, optax: bool = True, functions: list[str] | None = None,
              dtypes: tuple[str, ...] = ("float32", "float64"), progress: Any = None) -> AuditResult:
    """Probe every function pair and default of the table on the installed libraries.

    progress: a ``crosscheck.terminal.Progress`` (``update(done, total, extra)``), or None."""
    start = time.perf_counter()
    bad = [t for t in dtypes if t not in ("float32", "float64")]
    if bad or not dtypes:
        raise UsageError(f"dtypes: choose from float32, float64 (got {', '.join(bad) or 'none'})")
    L, absent = load_libs(flax=flax, optax=optax)
    d = read(L)
    from .table import probes_for

    probes = probes_for(d)
    if functions:
        known = {_family(p.function) for p in probes} | {dp.function for dp in default_probes()}
        unknown = [f for f in functions if f not in known]
        if unknown:
            raise UsageError(f"unknown function {unknown[0]!r} for the audit; the table has "
                             f"{', '.join(sorted(known))}")
        probes = [p for p in probes if _family(p.function) in functions]
    unavailable, rows, run = [], [], []
    for p in probes:
        need = [s.requires for s in (p.torch, p.jax) if s.requires and s.requires in absent]
        if need:
            unavailable.append(f"{p.function}: {need[0]} {absent[need[0]]}")
            continue
        run.append(p)
    pairs = _plan(run, dtypes)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        started = [_jax_lower(L, js, dtype, pool) for dtype in dtypes
                   if (js := [j for _, j in pairs if j.dtype == dtype])]
        total = len(pairs) + len(started)
        for i, (tcall, _) in enumerate(pairs):
            tcall.answer = _torch_run(L, tcall)
            if progress is not None:
                progress.update(i + 1, total, "torch")
        for i, s in enumerate(started):
            _jax_finish(L, s)
            if progress is not None:
                progress.update(len(pairs) + i + 1, total, "JAX")
    for tcall, jcall in pairs:
        rows.extend(_rows_of(tcall, jcall))
    if set(dtypes) == {"float32", "float64"}:  # some conventions show in one dtype only (softplus's in float64)
        rows.extend(_stale(run, rows))
    drows = []
    for dp in default_probes():
        if functions and dp.function not in functions:
            continue
        if dp.requires and dp.requires in absent:
            unavailable.append(f"{dp.function} default {dp.parameter} ({dp.jax_where}): {dp.requires} "
                               f"{absent[dp.requires]}")
            continue
        drows.append(_default_row(dp, L))
    return AuditResult(rows, drows, unavailable, versions(L), _fill(drows, d), time.perf_counter() - start)
