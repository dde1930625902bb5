"""``crosscheck sweep``: hypothesis invents networks; every route and backend must agree.

One hypothesis example is an architecture (network, convention, batch size, seed). Its
values are D stacked parameter draws (``crosscheck.draws``), so each backend checks all D
in one vectorised call (stacked NumPy matmul, torch.func.vmap, jax.jit(vmap)) while the
float64 recursive route is the verdict behind every draw. The other formula routes and
the numeric oracles check one draw chosen from the example's seed (deterministic, off any
kink). A real disagreement fails the hypothesis example, so hypothesis shrinks it to a
minimal network before it is reported.

``cases`` counts (network, draw, backend) comparisons of independent computations only: the
numpy backend is the verdict route itself (in float32, the same code rounding in float32),
so it runs but is not counted. torch builds every draw in the user's layout; JAX's padded
fast path computes in the canonical one, so a deterministic share of examples
(``backends.jax.native_share``, plus the first example of every layout value) is built
natively by JAX too: in the user's own layout, padded to shape buckets with the architecture as
data, so it compiles once per layout family (``backends.padded.Family``), not per architecture.
``coverage.native`` lists, per backend, the conventions met natively; ``backends.jax`` in the
JSON counts JAX's compiles and their seconds (``compiles``, ``compile_s``).

JAX's call is started first (``JaxBackend.launch_batched``: dispatched asynchronously) and runs
while the float64 reference, the routes and torch are computed; the formula routes are judged
together in one vectorised comparison (``compare_batched``); in float64 the numpy backend's
stacked call is the verdict's own, so it is not computed twice.

Not every difference is a bug, and ``crosscheck.sweep.triage`` says which is which (kink
conventions, float32 rounding, TF32-like precision settings), never by loosening a tolerance.
"""

from __future__ import annotations

import gc
import time
from dataclasses import replace

import numpy as np

from ..backends import available_backends, get_backend
from ..compare import compare_batched, compare_gradients, reference_rounding, worst_of_each
from ..draws import DrawError, Draws, draw
from ..errors import UsageError
from ..model.case import Case
from ..model.conventions import Convention
from ..model.network import Network
from ..reference import get_route, recursive, route_names
from ..reference.forward import loss_value
from ..reference.numeric import CS_TOLERANCE, FD_TOLERANCE, OracleNotApplicable, scaled_error
from ..tolerance import policy_for
from .config import DEFAULT_DRAWS, SweepConfig
from .covering import missing
from .jobs import resolve_jobs, run_jobs
from .result import SweepResult, add_note, failure_report, fingerprint
from .search import search, search_plan
from .triage import explain, float32_context

__all__ = ["run_sweep", "replay"]

# The formula routes are exact algebra in float64 and meet the float64 policy; the numeric
# oracles carry truncation error and are judged by their documented accuracy.
NUMERIC_TOLERANCE = {"finite_difference": FD_TOLERANCE, "complex_step": CS_TOLERANCE}


def _resolve_backends(config: SweepConfig) -> tuple[list, dict]:
    avail = available_backends()
    skipped = {}
    if config.backends is None:
        names = [n for n, why in avail.items() if why is None]
        skipped = {n: why for n, why in avail.items() if why is not None}
    else:
        names = list(config.backends)
        for n in names:
            if n not in avail:
                raise UsageError(f"unknown backend {n!r}; known: {', '.join(avail)}")
    backends = [get_backend(n, device=config.device, precision=config.precision) for n in names]
    return backends, skipped


def _resolve_routes(config: SweepConfig) -> list[str]:
    names = list(config.routes) if config.routes is not None else list(route_names())
    for n in names:
        if n not in route_names():
            raise UsageError(f"unknown route {n!r}; known: {', '.join(route_names())}")
    return names


class _Sweep:
    """The state of one sweep: backends, counters, the summary table, the last failure."""

    def __init__(self, config: SweepConfig, progress: bool) -> None:
        self.config = config
        self.routes = _resolve_routes(config)
        self.backends, skipped = _resolve_backends(config)
        for backend in self.backends:
            if hasattr(backend, "fit_buckets"):  # one padded program fitted to this sweep's networks
                backend.fit_buckets(depth=config.depth[1], width=config.widths[1] + 1,
                                    samples=config.batch_sizes[1])
        self.result = SweepResult(config, skipped_backends=skipped)
        self.progress = progress
        self.index = 0
        self.indices: list[int] = []  # the example index of each fingerprint (jobs merge by it)
        self.seen_networks: set[str] = set()
        self.cov = {k: set() for k in ("activations", "losses", "batch", "weights", "bias", "params",
                                        "reductions", "targets", "penalties", "loss_targets")}
        self.native: dict[str, set] = {b.name: set() for b in self.backends if b.name != "numpy"}
        self.native_axes: set[tuple[str, str]] = set()  # (axis, value) JAX has built natively
        self.last_failure: dict | None = None
        self.t0 = time.perf_counter()
        self._progress_line: object | None = None  # a crosscheck.terminal.Progress once ticking
        self.max_examples = config.examples or 0
        self.policy = policy_for(config.dtype, config.device, config.precision)  # the backends'
        self.route_policy = policy_for("float64")  # the formula routes: exact algebra in float64

    # ---- one example -----------------------------------------------------------------
    def check(self, net: Network, conv: Convention, m: int, seed: int) -> None:
        cfg = self.config
        index = self.index
        self.index += 1
        if cfg.shard and index % cfg.shard[1] != cfg.shard[0] - 1 and self.last_failure is None:
            return  # another shard's example (once failing, every example: hypothesis shrinks fully)
        D = cfg.draws or DEFAULT_DRAWS
        try:
            draws = draw(net, seed, batch_size=m, draws=D, kinks=cfg.kinks, dtype=cfg.dtype)
        except DrawError:
            from hypothesis import reject

            reject()  # no valid values for this architecture: not a case, not a failure
        # backends that compute asynchronously (JAX) start first and run while the NumPy
        # reference, the routes and the other backends are computed here
        launched = {b.name: self._launch(b, net, conv, draws, seed) for b in self.backends
                    if hasattr(b, "launch_batched")}
        d64 = draws.astype(np.float64)
        expected = recursive.gradients(net, d64.params, d64.X, d64.Y)
        if cfg.dtype == "float64" and any(b.name == "numpy" for b in self.backends):
            # the numpy backend is this very call (recursive, stacked, on the same float64 values):
            # its result is the verdict's, so it is not computed twice (numpy is never counted)
            launched["numpy"] = (False, lambda: expected)
        res = self.result
        res.examples += 1
        res.draws += D
        res.fingerprints.append(fingerprint(net, conv, m, seed))
        self.indices.append(index)
        self.seen_networks.add(net.describe())
        self._cover(net, conv)
        problems: list[dict] = []
        problems += self._check_routes(net, conv, d64, expected, _route_draw(seed, draws.on_kink))
        for backend in self.backends:
            problems += self._check_backend(backend, net, conv, draws, d64, expected, seed,
                                            launched.get(backend.name))
        if self.progress:
            self._tick()
        if problems:
            self.last_failure = {
                "network": net.to_dict(), "convention": conv.to_dict(), "batch_size": m, "seed": seed,
                "draws": D, "dtype": cfg.dtype, "kinks": cfg.kinks, "problems": problems,
            }
            first = problems[0]
            raise AssertionError(f"{first['who']} disagrees with the reference on {net.describe()} "
                                 f"({conv.describe()}, m={m}): {first['summary']}")

    def _cover(self, net: Network, conv: Convention) -> None:
        self.cov["activations"].update(n.partition(":")[0] for n in net.activation_names())
        self.cov["losses"].add(net.loss)
        self.cov["reductions"].add(net.reduction)
        self.cov["targets"].add(net.targets)
        self.cov["loss_targets"].add(f"{net.loss}/{net.targets}")
        self.cov["penalties"].add("none" if not net.has_penalty else
                                  "+".join([t for t in ("l2", "l1") if getattr(net, t)] + [net.penalty_form]
                                           + (["bias"] if net.penalty_bias else [])))
        for axis in ("batch", "weights", "bias", "params"):
            self.cov[axis].add(getattr(conv, axis))

    def _record(self, net: Network, conv: Convention, who: str, worst: float) -> None:
        for act in {n.partition(":")[0] for n in net.activation_names()}:
            cells = self.result.table.setdefault((act, who), {})
            for axis in ("batch", "weights", "bias"):
                key = getattr(conv, axis)
                cells[key] = max(cells.get(key, 0.0), float(worst))

    def _check_routes(self, net, conv, d64: Draws, expected, j: int) -> list[dict]:
        """The other formula routes and the numeric oracles on draw ``j`` (``_route_draw``)."""
        params0, X0, Y0 = d64.one(j)
        exp0 = tuple((W[j], None if b is None else b[j]) for W, b in expected)
        problems = []
        formula: dict[str, tuple] = {}  # route -> its gradients, judged together below
        loss0 = None
        for name in self.routes:
            if name == "recursive":
                continue
            if name in ("finite_difference", "complex_step") and d64.on_kink[j]:
                continue  # numeric oracles are meaningless exactly on a kink
            try:
                got = get_route(name)(net, params0, X0, Y0)
            except (OracleNotApplicable, UsageError):
                # an oracle that does not apply here (not analytic, too large) refuses: not a check
                self.result.skipped_routes[name] = self.result.skipped_routes.get(name, 0) + 1
                continue
            except Exception as e:  # noqa: BLE001 - a route crashing is a finding
                problems.append({"who": f"route {name}", "draw": j,
                                 "summary": f"raised {type(e).__name__}: {e}"})
                continue
            self.result.route_checks += 1
            if name in NUMERIC_TOLERANCE:
                # numeric oracles are judged in their own unit (crosscheck.reference.numeric)
                if loss0 is None:  # the same for both oracles
                    loss0 = loss_value(net, params0, X0, Y0)
                err = scaled_error(got, exp0, loss0)
                self._record(net, conv, "numeric oracles", err)
                if not err <= NUMERIC_TOLERANCE[name]:
                    problems.append({"who": f"route {name}", "draw": j,
                                     "summary": f"scaled error {err:.2e} > {NUMERIC_TOLERANCE[name]:.0e} "
                                                "(max |numeric - analytic| / max(1, |L|, max |grad|))"})
                continue
            formula[name] = got
        if not formula:
            return problems
        # every formula route in one vectorised comparison (compare_batched: compare_gradients'
        # metric and policy, each route one "draw"); a failing route is compared again one by one
        # for its per-parameter verdict and hint
        worst = worst_of_each(exp0, list(formula.values()), policy=self.route_policy)
        for i, (name, got) in enumerate(formula.items()):
            w = None if worst is None else float(worst[i])
            if w is not None and w <= self.route_policy.rtol:
                self._record(net, conv, "formula routes", w)
                continue
            cmp = compare_gradients(exp0, got, dtype="float64")
            self._record(net, conv, "formula routes", cmp.worst_rel_error)
            if not cmp.passed:
                problems.append({"who": f"route {name}", "draw": j, "summary": cmp.summary(),
                                 "comparison": cmp.to_dict()})
        return problems

    def _native(self, backend, conv: Convention, seed: int) -> bool:
        """Whether this example builds the user's layout natively in ``backend`` (jax: the
        native share, or a layout value not yet met natively; torch always; numpy never)."""
        if backend.name != "jax":
            return backend.name != "numpy"
        from ..backends.jax import native_share

        axes = {(a, getattr(conv, a)) for a in ("batch", "weights", "bias", "params")}
        return native_share(seed) or not axes <= self.native_axes

    def _launch(self, backend, net, conv, draws: Draws, seed: int) -> tuple[bool, object]:
        """``(native, wait)``: whether this example builds the user's layout natively in
        ``backend``, and a function returning its gradients of every draw (started here where
        the backend can run asynchronously), or the exception the backend raised."""
        native = self._native(backend, conv, seed)
        launch = getattr(backend, "launch_batched", None)
        try:
            if backend.name == "jax" and native:
                wait = launch(net, conv, draws.params, draws.X, draws.Y, mode="layout")
                self.native_axes |= {(a, getattr(conv, a)) for a in ("batch", "weights", "bias", "params")}
            elif launch is not None:
                wait = launch(net, conv, draws.params, draws.X, draws.Y)
            else:
                def wait():
                    return backend.gradients_batched(net, conv, draws.params, draws.X, draws.Y)
        except Exception as e:  # noqa: BLE001 - the backend failing is a finding, not a crash
            wait = e
        return native, wait

    def _check_backend(self, backend, net, conv, draws: Draws, d64: Draws, expected, seed: int = 0,
                       launched: tuple[bool, object] | None = None) -> list[dict]:
        cfg = self.config
        native, wait = launched or self._launch(backend, net, conv, draws, seed)
        try:
            if isinstance(wait, Exception):
                raise wait
            got = wait()
        except Exception as e:  # noqa: BLE001 - the backend failing is a finding, not a crash
            return [{"who": backend.name, "summary": f"raised {type(e).__name__}: {e}"}]
        if got is expected:  # the verdict's own call (numpy, float64): identical by construction
            worst, ok = np.zeros(draws.count), np.ones(draws.count, dtype=bool)
        else:
            worst, ok = compare_batched(expected, got, policy=self.policy)
        if backend.name != "numpy":  # the verdict route compared with itself is no case
            self.result.cases += draws.count
            if native:
                self.native[backend.name].add(conv.describe())
        self._record(net, conv, backend.name, float(np.max(worst)))
        problems = []
        bad = np.flatnonzero(~ok)
        # float32: past rtol, a draw may reach rtol + 10x the reference's own float32 error (tolerance.py)
        e_ref = reference_rounding(expected, recursive.gradients(net, draws.params, draws.X, draws.Y)) \
            if bad.size and cfg.dtype == "float32" else None
        # JAX's padded fast path is canonical; its one-case path, used below for every
        # disagreement, builds the convention natively, as torch's paths always do.
        for d in map(int, bad):
            case, case64 = Case(net, conv, *draws.one(d)), Case(net, conv, *d64.one(d))
            exp_d = tuple((W[d], None if b is None else b[d]) for W, b in expected)
            got_d = tuple((W[d], None if b is None else b[d]) for W, b in got)
            finding = explain(backend, case, case64, exp_d, on_kink=bool(draws.on_kink[d]),
                              strict_kinks=cfg.strict_kinks, device=cfg.device, precision=cfg.precision,
                              got=got_d, reference_error=None if e_ref is None else float(e_ref[d]))
            if finding is not None:
                self._note(finding)
                continue
            problems.append(self._problem(backend, net, conv, case, d64, d, exp_d, float(worst[d]),
                                          None if e_ref is None else float(e_ref[d])))
            break
        return problems

    def _problem(self, backend, net, conv, case: Case, d64: Draws, d: int, exp_d, worst_d: float,
                 e_ref: float | None) -> dict:
        """The failure record of draw ``d``, judged again through the backend's one-case path."""
        cfg = self.config
        policy = policy_for(cfg.dtype, cfg.device, cfg.precision)
        cmp = compare_gradients(exp_d, backend.gradients(case), policy=policy)
        bound = policy.rtol if e_ref is None else float(policy.bound(e_ref))
        if cmp.worst_rel_error > bound or cmp.failures() and any(p.reason != "value" for p in cmp.failures()):
            summary = cmp.summary()
        else:
            summary = (f"its vectorised call is off by a relative {worst_d:.2e} on draw {d} while "
                       "its one-case call agrees: a bug in the batched path")
        problem = {"who": backend.name, "draw": d, "summary": summary, "comparison": cmp.to_dict(),
                   "other": "numpy reference (recursive, float64)"}
        if e_ref is not None:
            def recompute64():  # the same vectorised path, one draw, in float64 (no new compile)
                one = tuple((W[d:d + 1], None if b is None else b[d:d + 1]) for W, b in d64.params)
                Y1 = None if d64.Y is None else d64.Y[d:d + 1]
                g = backend.gradients_batched(net, conv, one, d64.X[d:d + 1], Y1)
                return tuple((W[0], None if b is None else b[0]) for W, b in g)

            context = float32_context(backend, exp_d, recompute64, device=cfg.device, precision=cfg.precision)
            problem["float32"] = {"reference_error": e_ref, "bound": bound, "context": context}
            problem["summary"] += (f"; the float32 reference's own error here is {e_ref:.1e}, so float32 "
                                   f"rounding explains at most {bound:.1e}; {context}")
        return problem

    def _note(self, note: dict) -> None:
        add_note(self.result.notes, note)

    def _tick(self) -> None:
        """The progress line (a TTY only: ``run_from_args`` decides), from 2 s on, with an ETA."""
        if self._progress_line is None:
            from ..terminal import Progress

            self._progress_line = Progress("  sweep", enabled=True)
        r = self.result
        total = self.max_examples
        if self.config.shard:
            total = -(-total // self.config.shard[1])
        self._progress_line.update(min(r.examples, total), total, f"examples  {r.cases:,} cases")

    # ---- the whole run -----------------------------------------------------------------
    def run(self) -> SweepResult:
        from hypothesis.errors import UnsatisfiedAssumption

        plan = search_plan(self.config)
        self.max_examples = plan.max_examples
        try:
            for arch in plan.first:
                try:
                    self.check(*arch)
                except UnsatisfiedAssumption:  # no valid values for it (reject()): not a case
                    continue
            search(plan, self.config.seed, lambda arch: self.check(*arch))
        except AssertionError:
            self.result.passed = False
            self.result.failures.append(failure_report(self.config, self.last_failure))
        finally:
            if self._progress_line is not None:
                self._progress_line.close()
        return self._finish()

    def run_collect(self) -> tuple[SweepResult, set[str], list[int]]:
        """``run()`` with what merging jobs needs besides the result (``crosscheck.sweep.jobs``)."""
        result = self.run()
        return result, self.seen_networks, self.indices

    def _finish(self) -> SweepResult:
        r = self.result
        r.elapsed_s = time.perf_counter() - self.t0
        r.architectures = len(self.seen_networks)
        r.coverage = {
            "routes": list(self.routes),
            "backends": [b.name for b in self.backends],
            **{k: sorted(v) for k, v in self.cov.items()},
            "native": {name: sorted(v) for name, v in self.native.items()},
        }
        r.coverage["missing"] = missing(r.coverage, self.config.activations, self.config.losses)
        r.environment = _environment(self.backends, self.config)
        r.backend_stats = {b.name: b.compile_stats() for b in self.backends if hasattr(b, "compile_stats")}
        return r


def _route_draw(seed: int, on_kink: np.ndarray) -> int:
    """The draw the other routes and the numeric oracles check: chosen from the example's seed
    (deterministic, so a replay checks the same one), among the draws off every kink."""
    off = np.flatnonzero(~np.asarray(on_kink))
    pool = off if off.size else np.arange(len(on_kink))
    # splitmix64's finaliser: the seed's bits mixed evenly, for a thousandth of a generator's cost
    z = (int(seed) + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return int(pool[(z ^ (z >> 31)) % pool.size])


_MASK64 = (1 << 64) - 1


def _environment(backends, config: SweepConfig) -> dict:
    env = {"device": config.device, "dtype": config.dtype, "precision": config.precision}
    for b in backends:
        try:
            env[b.name] = b.settings()
        except Exception as e:  # noqa: BLE001 - the audit must not break the sweep
            env[b.name] = {"error": str(e)}
    return env


def run_sweep(config: SweepConfig, *, progress: bool = False) -> SweepResult:
    """Run a sweep (or one shard of it) and return its result; never raises on a mismatch.

    ``config.jobs`` forked processes share the examples (``crosscheck.sweep.jobs``; None: one per
    core where that is safe and pays); the result is the same as one process's."""
    from ..profiles import settings_for

    examples = config.examples or settings_for(config.profile).max_examples
    jobs, why = resolve_jobs(config, examples)
    # the process's objects so far (torch's, JAX's, the caller's) are out of the collector's way for
    # the sweep: collections scan only what the sweep makes (0.5 ms of each example's 10 otherwise)
    gc.freeze()
    try:
        return _run(config, progress, jobs, why)
    finally:
        gc.unfreeze()


def _run(config: SweepConfig, progress: bool, jobs: int, why: str) -> SweepResult:
    if jobs > 1:
        # what every job needs, imported once here rather than in each job after the fork (as one
        # job imports its backends before its clock starts)
        import hypothesis  # noqa: F401

        from .. import strategies  # noqa: F401
        from ..backends import available_backends, import_backends, preload_backends

        names = config.backends or [n for n, why in available_backends().items() if why is None]
        import_backends(names)
        t0 = time.perf_counter()  # what one process imports on its clock (its first JAX call's) counts here too
        preloaded = preload_backends(names, dtype=config.dtype, precision=config.precision)
        return run_jobs(config, jobs, _Sweep, progress, t0=t0, preloaded=preloaded)
    result = _Sweep(config, progress).run()
    result.environment["jobs"] = 1
    if why:
        result.environment["jobs_note"] = why
    return result


def replay(config: SweepConfig, spec: dict) -> SweepResult:
    """Check exactly one architecture from a failure report's ``reproduce`` JSON."""
    cfg = replace(config, draws=spec.get("draws", config.draws), dtype=spec.get("dtype", config.dtype),
                  kinks=spec.get("kinks", config.kinks))
    sweep = _Sweep(cfg, progress=False)
    net = Network.from_dict(spec["network"])
    conv = Convention.from_dict(spec["convention"])
    try:
        sweep.check(net, conv, int(spec["batch_size"]), int(spec["seed"]))
    except AssertionError:
        sweep.result.passed = False
        sweep.result.failures.append(failure_report(sweep.config, sweep.last_failure))
    return sweep._finish()

