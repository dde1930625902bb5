"""``check_port``: a torch ``nn.Module`` against its JAX port, on inputs hypothesis draws.

For each drawn input (batch 1 first, then the sizes given), in each dtype and each direction:

* torch -> JAX: torch's weights, converted (the built-in rules or the user's ``convert``), run in JAX;
* JAX -> torch: JAX's own weights (flax's init, the given params, or a fresh draw), loaded into torch
  through ``convert``'s linear transpose (every rule is a rearrangement, so the transpose is the
  inverse; the round trip is checked);

outputs, every torch parameter's gradient (JAX's arrives through ``convert``'s VJP) and the input
gradient are compared with float64 torch under ``crosscheck.tolerance``. A failure is shrunk by
hypothesis and handed to ``crosscheck.port.diagnose``, which locates and names it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError
from .diagnose import Finding, diagnose
from .jaxside import JaxModel, flatten, match_to_template, unflatten, wrap
from .rules import builtin_convert
from .run import JaxRunner, Outcome, Result, TorchSide, compare, worst

__all__ = ["PortResult", "check_port", "DIRECTIONS"]

DIRECTIONS = ("torch->jax", "jax->torch")


@dataclass
class PortResult:
    """``ok`` when every compared quantity agreed on every drawn input; otherwise ``failure`` is the
    (shrunk) failing comparison and ``findings`` what the diagnosis located and named."""

    ok: bool
    outcomes: list[Outcome] = field(default_factory=list)
    failure: Outcome | None = None
    findings: list[Finding] = field(default_factory=list)
    departure: str | None = None
    departing_params: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    examples: int = 0
    seconds: float = 0.0

    def report(self) -> str:
        lines = []
        n = len(self.outcomes)
        if self.ok:
            dts = sorted({o.dtype for o in self.outcomes})
            dirs = sorted({o.direction for o in self.outcomes})
            lines.append(f"port check: PASSED: {n} comparisons over {self.examples} inputs "
                         f"({', '.join(dirs)}; {', '.join(dts)}) in {self.seconds:.1f} s")
        else:
            f = self.failure
            lines.append(f"port check: FAILED ({f.direction}, {f.dtype}, input shape {f.input_shape})")
            for q in f.failing[:8]:
                lines.append(f"  {q.name}: relative error {q.error:.3g} (bound {q.bound:.3g})")
            if len(f.failing) > 8:
                lines.append(f"  ... and {len(f.failing) - 8} more")
            if self.departure:
                lines.append(f"  first departing output: {self.departure}")
            for fd in self.findings:
                lines.append(f"  mistake at {fd.path or '(the model)'} ({fd.module}): {fd.mistake}")
                if fd.detail:
                    lines.append(f"    {fd.detail}")
                if fd.fix:
                    lines.append(f"    fix: {fd.fix}")
            if not self.findings:
                lines.append("  no single known mistake explains it" +
                             (f"; gradients depart first at {self.departing_params[0]}" if self.departing_params
                              else ""))
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def _state(module: Any) -> dict[str, np.ndarray]:
    """torch's float parameters and buffers (float64 NumPy), constants redrawn: LayerNorm's scale of
    ones or BatchNorm's zero running mean would hide a swapped or dropped conversion."""
    rng = np.random.default_rng(1234)
    out = {}
    for k, v in module.state_dict().items():
        if not v.is_floating_point():
            continue
        a = v.detach().cpu().double().numpy().copy()
        if a.size > 1 and np.all(a == a.flat[0]):
            if k.endswith("running_var"):
                a = rng.uniform(0.5, 2.0, a.shape)
            else:
                a = a + rng.normal(0.0, 0.5, a.shape)
        out[k] = a
    return out


def _redraw_constants(tree: dict) -> dict:
    rng = np.random.default_rng(4321)
    flat = flatten(tree)
    out = {}
    for k, v in flat.items():
        a = np.asarray(v, dtype=np.float64)
        if a.size > 1 and np.all(a == a.flat[0]):
            a = rng.uniform(0.5, 2.0, a.shape) if k.endswith("var") else a + rng.normal(0.0, 0.5, a.shape)
        out[k] = a
    return unflatten(out)


def _inverse(convert: Callable, sd: dict[str, np.ndarray]) -> Callable:
    """``convert``'s linear transpose at ``sd``'s shapes: JAX's parameters -> a torch state dict."""
    import jax

    with jax.enable_x64(True):
        primal = {k: np.zeros(v.shape, np.float64) for k, v in sd.items()}
        t = jax.jit(jax.linear_transpose(convert, primal))

    def inverse(params: Any) -> dict[str, np.ndarray]:
        with jax.enable_x64(True):
            (back,) = t(jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params))
            return {k: np.asarray(v) for k, v in back.items()}
    return inverse


def _draw_inputs(input_shape, sizes, input_dtype, input_range, examples, pad_ids, test):
    """Run ``test(x)`` on inputs hypothesis draws: each symbolic size (a string in ``input_shape``)
    from ``sizes`` (the first size is the batch's, default 1, 2), shrunk toward the first
    choice; the values from a drawn seed. Returns the failing x (after shrinking) or None."""
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    symbols = [d for d in input_shape if isinstance(d, str)]
    choices = {s: list(sizes.get(s, [1, 2] if i == 0 and input_shape[0] == s else [])) for i, s in
               enumerate(symbols)}
    for s, c in choices.items():
        if not c:
            raise UsageError(f"input_shape names size {s!r}: give its choices, e.g. sizes={{{s!r}: [4, 8]}} "
                             f"(--size {s}=4,8)")
    failing: list = []

    # the first choice of every size (batch 1) runs first: most mistakes fail there, unshrunk
    @settings(max_examples=examples, database=None, deadline=None, derandomize=True, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @example({s: c[0] for s, c in choices.items()}, 0)
    @given(st.fixed_dictionaries({s: st.sampled_from(c) for s, c in choices.items()}),
           st.integers(0, 7))
    def prop(sz, seed):
        shape = tuple(sz[d] if isinstance(d, str) else int(d) for d in input_shape)
        rng = np.random.default_rng(seed)
        if input_dtype == "int":
            lo, hi = input_range
            x = rng.integers(lo, hi, shape).astype(np.int64)
            for i, p in enumerate(pad_ids):  # a padding token is present, so its row's gradient is compared
                if lo <= p < hi and x.size > i:
                    x.flat[i] = p
        else:
            x = rng.normal(0.0, 1.0, shape)
        if not test(x):
            failing[:] = [x]
            raise AssertionError("port differs")

    try:
        prop()
    except AssertionError:
        pass
    return failing[0] if failing else None


def check_port(torch_module: Any, jax_model: Any, *, input_shape: Sequence, sizes: dict | None = None,
               params: Any = None, convert: Callable | None = None, input_dtype: str = "float",
               input_range: tuple[int, int] = (0, 10), dtypes: Sequence[str] = ("float64", "float32"),
               directions: Sequence[str] = DIRECTIONS, examples: int = 4, diagnose_failure: bool = True,
               seed: int = 0, train: bool = False) -> PortResult:
    """Compare ``torch_module`` with ``jax_model`` (module docstring).

    ``input_shape``: torch's layout, ints or size names (``("B", 3, "H", "H")``: the same name is the
    same size, so H = W); ``sizes``: each name's choices (the first name, if it leads, is the batch:
    default 1, 2). ``params``: a pure function's parameters (or a flax module's variables);
    ``convert(state_dict) -> params``: the user's conversion (JAX-traceable); default the built-in
    rules (``crosscheck.port.rules``). ``input_dtype``: "float" or "int" (token ids in
    ``input_range``). ``train=True``: torch in training mode, the JAX model returning
    ``(output, new_variables)`` (flax linen: its batch_stats, mutable); the running statistics after
    the step are compared too (``crosscheck.port.train``)."""
    import os

    import torch

    start = time.perf_counter()
    if os.environ.get("CROSSCHECK_JAX_CACHE"):  # the suite's compile cache (crosscheck.backends.jax)
        from ..backends.jax import enable_persistent_cache

        enable_persistent_cache()
    for d in dtypes:
        if d not in ("float64", "float32"):
            raise UsageError(f"dtypes: choose from float64, float32 (got {d!r})")
    for d in directions:
        if d not in DIRECTIONS:
            raise UsageError(f"directions: choose from {', '.join(DIRECTIONS)} (got {d!r})")
    if input_dtype not in ("float", "int"):
        raise UsageError(f"input_dtype must be 'float' or 'int', got {input_dtype!r}")
    if not isinstance(torch_module, torch.nn.Module):
        raise UsageError(f"the torch model must be a torch.nn.Module, got {type(torch_module).__name__}")
    sizes = dict(sizes or {})
    saved = {k: v.detach().clone() for k, v in torch_module.state_dict().items()}  # given back at the end
    was_training = torch_module.training
    try:
        return _check(torch_module, jax_model, input_shape, sizes, params, convert, input_dtype, input_range,
                      dtypes, directions, examples, diagnose_failure, seed, start, train)
    finally:
        with torch.no_grad():
            own = torch_module.state_dict()
            for k, v in saved.items():
                own[k].data = v
        torch_module.train(was_training)


def _check(torch_module, jax_model, input_shape, sizes, params, convert, input_dtype, input_range, dtypes,
           directions, examples, diagnose_failure, seed, start, train=False) -> PortResult:
    torch_module.train(train)
    sd = _state(torch_module)
    param_names = [n for n, p in torch_module.named_parameters() if p.requires_grad]
    pad_ids = [m.padding_idx for m in torch_module.modules()
               if type(m).__name__ == "Embedding" and m.padding_idx is not None]

    example_shape = tuple((sizes.get(d, [1])[0] if isinstance(d, str) else d) for d in input_shape)

    example = np.zeros(example_shape, np.int32 if input_dtype == "int" else np.float32)
    jm: JaxModel = wrap(jax_model, params, example)
    if convert is None:
        rules = builtin_convert(torch_module)
        if jm.template is not None:
            def user_convert(s, rules=rules, template=jm.template):
                return match_to_template(rules(s), template)[0]
        else:
            user_convert = rules
    else:
        user_convert = convert
    try:
        import jax

        converted = _call64(user_convert, sd)
    except UsageError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's convert fails on torch's state dict
        raise UsageError(f"convert(state_dict) failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None

    weight_sets: dict[str, dict[str, np.ndarray]] = {}
    notes: list[str] = []
    if "torch->jax" in directions:
        weight_sets["torch->jax"] = sd
    if "jax->torch" in directions:
        has_values = jm.template is not None and all(
            not isinstance(v, jax.ShapeDtypeStruct) for v in jax.tree_util.tree_leaves(jm.template))
        jax_own = jm.template if has_values else _redraw_from(converted)
        jax_own = _redraw_constants(jax_own)
        try:
            back = _inverse(user_convert, sd)(jax_own)
            again = flatten(jax.tree_util.tree_map(np.asarray, _call64(user_convert, back)))
            own = flatten(jax_own)
            if set(again) != set(own) or any(not np.allclose(again[k], own[k], rtol=0, atol=1e-12) for k in own):
                raise ValueError("convert(inverse(params)) != params")
            weight_sets["jax->torch"] = {**sd, **back}
        except Exception as e:  # noqa: BLE001 - a convert that is not a rearrangement has no transpose inverse
            notes.append(f"jax->torch not compared: convert is not a rearrangement of entries "
                         f"({type(e).__name__}: {str(e).splitlines()[0][:120]})")
    tside = TorchSide(torch_module)
    stats = None
    if train:
        if jm.apply_train is None:
            raise UsageError("train=True needs a flax linen module or a function returning (output, new_params)")
        from .train import StatsRunner

        train_apply = jm.apply_train
        runner = JaxRunner(lambda v, xx: train_apply(v, xx)[0], user_convert)
        try:
            stats = StatsRunner(train_apply, user_convert, _inverse(user_convert, sd))
        except Exception as e:  # noqa: BLE001 - no transpose: the statistics cannot be mapped back
            notes.append(f"running statistics not compared: convert is not a rearrangement ({type(e).__name__})")
    else:
        runner = JaxRunner(jm.apply, user_convert)
    outcomes: list[Outcome] = []
    rng = np.random.default_rng(seed)
    cots: dict[tuple, list[np.ndarray]] = {}
    count = [0]
    rounded: dict[str, dict[str, np.ndarray]] = {}  # float32-rounded weights, one dict per direction

    def cot_for(shapes):
        if shapes not in cots:
            cots[shapes] = [rng.normal(0.0, 1.0, s) for s in shapes]
        return cots[shapes]

    def one(x: np.ndarray, direction: str, dtype: str) -> Outcome:
        w = weight_sets[direction]
        oc = Outcome(direction, dtype, tuple(x.shape))
        if dtype == "float64":
            tside.load(w, "float64")
            shapes = tside.shapes(x)
            n_out = _n_out(runner, w, x, "float64", len(shapes))
            cot = cot_for(shapes)[:n_out]
            exp = tside.run(w, x, "float64", cot, n_out)
            got = _jax_run(runner, w, x, "float64", cot, n_out, oc)
            if got is not None:
                oc.quantities = compare(got, exp, "float64", param_names)
                if stats is not None:  # torch's buffers hold the statistics after exp's forward
                    from .train import stats_quantities

                    oc.quantities += stats_quantities(tside, stats, w, x)
            return oc
        if direction not in rounded:
            rounded[direction] = {k: v.astype(np.float32).astype(np.float64) for k, v in w.items()}
        w32 = rounded[direction]
        x32 = x if x.dtype.kind in "iu" else x.astype(np.float32).astype(np.float64)
        tside.load(w32, "float64")
        shapes = tside.shapes(x32)
        n_out = _n_out(runner, w32, x32, "float64", len(shapes))
        cot = [c.astype(np.float32).astype(np.float64) for c in cot_for(shapes)][:n_out]
        exp = tside.run(w32, x32, "float64", cot, n_out)
        xin = x32 if x.dtype.kind in "iu" else x32.astype(np.float32)
        ref32 = tside.run(w32, xin, "float32", cot, n_out)
        e_ref = worst(ref32, exp, param_names)
        got = _jax_run(runner, w32, xin, "float32", cot, n_out, oc)
        if got is not None:
            oc.quantities = compare(got, exp, "float32", param_names, e_ref)
        return oc

    def test(x: np.ndarray) -> bool:
        count[0] += 1
        ok = True
        for direction in weight_sets:
            for dtype in dtypes:
                oc = one(x, direction, dtype)
                outcomes.append(oc)
                if not oc.ok:
                    ok = False
                    test.last = oc  # type: ignore[attr-defined]
                    return False
        return ok

    failing_x = _draw_inputs(tuple(input_shape), sizes, input_dtype, input_range, examples, pad_ids, test)
    result = PortResult(failing_x is None, outcomes, notes=notes, examples=count[0])
    if failing_x is not None:
        result.failure = test.last  # type: ignore[attr-defined]
        if diagnose_failure:
            direction = result.failure.direction
            d = diagnose(torch_module, jm, user_convert, weight_sets[direction], failing_x, param_names,
                         tside, runner, cot_for)
            result.findings, result.departure, result.departing_params = d.findings, d.departure, d.params
            result.notes.extend(d.notes)
            if stats is not None and not d.findings:
                from .train import name_stats

                result.findings = name_stats(torch_module, tside, stats, weight_sets[direction], failing_x)
    result.seconds = time.perf_counter() - start
    return result


def _call64(f: Callable, sd: dict) -> Any:
    import jax

    with jax.enable_x64(True):
        return jax.jit(f)({k: np.asarray(v, np.float64) for k, v in sd.items()})


def _redraw_from(converted: Any) -> dict:
    """JAX weights for a pure function without given params: a fresh draw shaped like the conversion
    (each leaf keeps its scale), so the JAX -> torch direction compares weights torch never made."""
    rng = np.random.default_rng(99)
    flat = flatten(converted)
    out = {}
    for k, v in flat.items():
        a = np.asarray(v, dtype=np.float64)
        s = float(a.std()) or 0.5
        out[k] = np.abs(rng.normal(1.0, 0.3, a.shape)) if k.endswith("var") else rng.normal(0.0, s, a.shape)
    return unflatten(out)


def _n_out(runner: JaxRunner, w, x, dtype: str, n_torch: int) -> int:
    """Outputs compared: all when both return as many arrays, else the first (torch's LSTM returns
    (output, (h, c)), a port may return the output alone)."""
    try:
        n_jax = runner.count(w, x, dtype)
    except Exception:  # noqa: BLE001 - the run itself will report the JAX model's error
        return n_torch
    return n_torch if n_jax == n_torch else 1


def _jax_run(runner: JaxRunner, w, x, dtype, cot, n_out, oc: Outcome) -> Result | None:
    try:
        return runner.run(w, x, dtype, cot, n_out)
    except Exception as e:  # noqa: BLE001 - the JAX model raising on this input is the answer
        msg = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        oc.note = msg
        from .run import Quantity

        oc.quantities = [Quantity(f"JAX model raised {msg}", float("inf"), 0.0)]
        return None
