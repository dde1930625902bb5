"""The JAX backend: jax.grad for one case, jax.jit(jax.vmap(jax.grad)) for many draws.

jax is imported inside functions only. float64 runs inside ``jax.enable_x64(True)``, a
context manager (a jax config State), so 64-bit mode never leaks into the caller's process:
after a float64 call ``jax.numpy.zeros(1).dtype`` is float32 again. float32 calls do not
touch the flag. precision "highest" wraps each call in ``jax.default_matmul_precision("highest")``;
"default" leaves JAX's own default, which is TF32-like for float32 on GPUs (docs/measurements.md).

Compiling is the cost in JAX (0.13-0.3 s per new architecture, docs/measurements.md), so ``jit=True``
(the default) keeps one jitted function per (network, convention, dtype, precision, device)
in an LRU cache; jit itself caches the compiled executable per input shape, so a new batch
size or draw count compiles once and then hits. ``jit=False`` runs jax.grad eagerly.

``gradients_batched`` has three modes (``JaxBackend(mode=...)``):

- ``"native"``: jit(vmap(grad)) of the network built in the user's convention at its exact
  shapes, one compile per architecture;
- ``"padded"``: every small architecture zero-padded to a few bucket shapes, in the canonical
  layout, with activations, loss, target form, reduction and penalty as data, so one compile
  per dtype serves a whole sweep (``crosscheck.backends.padded``: what is padded, why the real
  entries' gradient is unchanged, and the exactly-zero check on the padding);
- ``"auto"`` (default): padded where it pays, native where a compile is amortised. Padded
  for small networks (``padded.fits``: widths, batch size, a loss it can pad) met for the
  first ``AUTO_NATIVE_REPEATS`` times with fewer than ``AUTO_NATIVE_DRAWS`` draws; native
  once an architecture recurs that often (or is compiled already), for large draw counts
  (the padded arithmetic would then cost more than a compile) and for anything larger.
  Measured in benchmarks/bench_sweep.py and bench_batched.py.

The per-case ``gradients(case)`` is always native, in the case's own convention. So that a
sweep still meets JAX building each user layout, ``gradients_batched(..., mode="layout")``
feeds the user's own arrays to the same padded program (``padded.pack_layout``): JAX
differentiates the user's in_out transposes and augmented weights, and one compile per dtype
and bucket serves every layout instead of one per architecture (exact native where the network
does not fit the buckets).
``native_share(seed)`` picks a deterministic ``1 / NATIVE_SHARE`` of examples by their seed
(``crosscheck.sweep`` adds the first example of every layout value it has not yet seen).
``CROSSCHECK_JAX_MODE=native|padded|auto`` sets the mode where the caller passes none (as
``crosscheck sweep`` does).

JAX's persistent compilation cache is on by default (``enable_persistent_cache``), in
``$CROSSCHECK_JAX_CACHE`` or else ``$XDG_CACHE_HOME/crosscheck/jax`` (``~/.cache/crosscheck/jax``),
so a second run reads its programs instead of compiling them. ``CROSSCHECK_JAX_CACHE=off``
turns it off. ``compile_stats()`` counts the compiles since the backend was made
(``crosscheck.backends.compiles``).
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import UsageError
from ..model.case import Case, Gradients
from ..model.conventions import Convention
from ..model.network import Network
from . import padded, programs
from .base import (
    Backend,
    Ops,
    canonical_for,
    check_batched,
    pack_user_grads,
    split_user_params,
    user_grads_to_canonical,
    user_loss,
)
from .compiles import compile_counter

__all__ = ["JaxBackend", "jax_settings", "scoped", "preload", "MODES", "AUTO_NATIVE_DRAWS", "AUTO_NATIVE_REPEATS",
           "enable_persistent_cache", "default_cache_dir", "native_share", "NATIVE_SHARE", "CACHE_ENV"]

_CACHE_SIZE = 256
MODES = ("auto", "padded", "native")
# "auto" compiles the native function from this many draws per call on (bench_batched.py:
# padded ~55 us per draw of an 8-7-5-3 net, native ~1.5 us plus a 0.15-0.3 s compile) ...
AUTO_NATIVE_DRAWS = 4096
# ... and for an architecture met this often (a compile then costs about as much as the
# padded calls it saves: ~1-2 ms each at 64 draws against 0.13-0.3 s per native compile)
AUTO_NATIVE_REPEATS = 128
# a sweep builds the user's layout natively on 1 in NATIVE_SHARE examples (by seed), beside the
# first example of each layout value: one compile each (0.13-0.3 s), so a 100-example sweep
# spends ~1-3 s more and every batch/weights/bias/params value meets jax.grad in its own layout
NATIVE_SHARE = 16
CACHE_ENV = "CROSSCHECK_JAX_CACHE"  # a directory, or "off" (also 0, false, no, none) for no cache
_CACHE_OFF = ("off", "0", "false", "no", "none")
MODE_ENV = "CROSSCHECK_JAX_MODE"  # the default mode where none is passed (the sweep passes none)


def native_share(seed: int) -> bool:
    """Whether the example with this hypothesis ``seed`` is in the native share (deterministic:
    a multiplicative hash, so consecutive seeds spread evenly)."""
    return (int(seed) * 2654435761) % (1 << 32) % NATIVE_SHARE == 0


def _jax():
    import jax

    return jax


def _ops() -> Ops:
    jax = _jax()
    jnp = jax.numpy

    def take(x, idx, axis):
        return jnp.take(x, jnp.asarray(idx), axis=axis)

    return Ops(jax, lambda xs, axis: jnp.concatenate(xs, axis=axis), take, "jax")


@contextlib.contextmanager
def scoped(dtype: Any, precision: str) -> Iterator[None]:
    """x64 on for float64 only, and the matmul precision, for the duration of the block."""
    jax = _jax()
    with contextlib.ExitStack() as stack:
        if np.dtype(dtype) == np.float64:
            stack.enter_context(jax.enable_x64(True))
        if precision == "highest":
            stack.enter_context(jax.default_matmul_precision("highest"))
        yield


def jax_settings() -> dict:
    """JAX's version, devices, x64 flag and default matmul precision as they are now."""
    jax = _jax()
    try:
        import jaxlib

        jaxlib_version = getattr(jaxlib, "__version__", "unknown")
    except ImportError:
        jaxlib_version = "not installed"
    devices = [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in jax.devices()]
    return {
        "version": jax.__version__,
        "jaxlib_version": jaxlib_version,
        "default_backend": jax.default_backend(),
        "devices": devices,
        "gpu_available": _has_gpu(),
        "x64_enabled": bool(jax.config.jax_enable_x64),
        "default_matmul_precision": jax.config.jax_default_matmul_precision or "default",
    }


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/crosscheck/jax``, or ``~/.cache/crosscheck/jax`` without XDG_CACHE_HOME."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "crosscheck", "jax")


def enable_persistent_cache(directory: str | None = None) -> str | None:
    """JAX's persistent compilation cache in ``directory`` (default: ``$CROSSCHECK_JAX_CACHE``, else
    ``default_cache_dir()``); ``CROSSCHECK_JAX_CACHE=off`` leaves it off.

    Process-wide (jax.config); a directory the caller already configured is kept, and a
    directory that cannot be created or written is skipped (no cache, no error). Returns the
    directory in use, or None."""
    jax = _jax()
    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    if directory is None:
        env = os.environ.get(CACHE_ENV)
        if env is not None and env.strip().lower() in _CACHE_OFF:
            return None
        directory = env or default_cache_dir()
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None
    if not os.access(directory, os.W_OK | os.X_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", directory)
    # crosscheck's compiles take 0.1-2 s, many under JAX's default 1 s threshold for storing
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return directory


def preload(dtype: Any = np.float64, precision: str = "default") -> dict:
    """Import what a process's first padded call imports (JAX's executable loader) and read
    ``padded.natives_key`` for ``dtype``, without starting JAX's runtime: a process about to fork sweep
    jobs does this once for all of them (``crosscheck.sweep.jobs``). Returns what
    ``JaxBackend.adopt`` takes."""
    import jax.experimental.serialize_executable  # noqa: F401

    dtype = _check_dtype(dtype)
    with scoped(dtype, precision):
        return {"natives": {dtype.name: padded.natives_key(_jax())}}


def _has_gpu() -> bool:
    try:
        return len(_jax().devices("gpu")) > 0
    except RuntimeError:
        return False


def _tf32_like(precision: str | None) -> bool:
    # JAX's "default" (and "high", bf16_3x) lowers float32 GPU matmuls below full float32
    return (precision or "default") not in ("highest", "float32", "F32_F32_F32")


class JaxBackend(Backend):
    name = "jax"

    def __init__(self, device: str = "cpu", precision: str = "default", *, jit: bool = True,
                 mode: str | None = None) -> None:
        super().__init__(device, precision)
        if mode == "padded" and not jit:
            raise UsageError("jax backend: mode 'padded' exists to share one compile; it needs jit=True")
        source = "" if mode else f" (from ${MODE_ENV})"
        mode = mode or os.environ.get(MODE_ENV) or "auto"
        if mode not in MODES:
            raise UsageError(f"jax backend: mode must be one of {', '.join(MODES)}; got {mode!r}{source}")
        jax = _jax()
        if device == "cuda":
            if not _has_gpu():
                raise UsageError(f"jax: device 'cuda' asked for but JAX sees no GPU (jax {jax.__version__}, "
                                 f"devices: {', '.join(d.platform for d in jax.devices())}; "
                                 "install jax[cuda12] or jax[cuda13])")
            self._device = jax.devices("gpu")[0]
        else:
            self._device = jax.devices("cpu")[0]
        self.jit = jit
        self.mode = mode
        self._fns: OrderedDict[tuple, Any] = OrderedDict()
        self._padded_uses: OrderedDict[tuple, int] = OrderedDict()  # auto mode: padded calls per architecture
        self.calls = {"padded": 0, "layout": 0, "native": 0}
        self.padded_traces = 0  # how often this backend's calls traced a padded program (a compile each)
        self.programs: set[tuple[str, str]] = set()  # (family, dtype) of the padded programs it ran
        self.compilation_cache = enable_persistent_cache()
        self._compiles = compile_counter()
        self._compiles_at_start = self._compiles.snapshot()
        self._stored_at_start = programs.stored_loads()
        self._natives: dict[str, tuple] = {}  # dtype -> padded.natives_key(), on the first padded call
        self.smallest_bucket = padded.SMALLEST  # (depth, width, samples): fit_buckets

    def _put(self, a: Any) -> Any:
        if a is None:
            return None
        # ascontiguousarray would make a 0-d array (a scalar argument) 1-d
        return _jax().device_put(np.ascontiguousarray(a) if np.ndim(a) else np.asarray(a), self._device)

    def _key(self, network: Network, conv: Convention, dtype: Any, has_y: bool, batched: bool) -> tuple:
        return (network, conv, np.dtype(dtype).name, has_y, batched, self.precision, self.jit)

    def _function(self, network: Network, conv: Convention, dtype: Any, has_y: bool, batched: bool):
        key = self._key(network, conv, dtype, has_y, batched)
        fn = self._fns.get(key)
        if fn is not None:
            self._fns.move_to_end(key)
            return fn
        jax = _jax()
        ops = _ops()
        k = network.depth
        separate = conv.has_bias and not conv.augmented
        alpha_np = np.asarray(network.alpha, dtype=dtype)

        def loss(flat, X, Y):
            Ws = list(flat[:k])
            bs = list(flat[k:]) if separate else [None] * k
            return user_loss(ops, network, conv, Ws, bs, X, Y, jax.numpy.asarray(alpha_np))

        fn = jax.grad(loss)
        if batched:
            fn = jax.vmap(fn, in_axes=(0, 0, 0 if has_y else None))
        if self.jit:
            fn = jax.jit(fn)
        self._fns[key] = fn
        if len(self._fns) > _CACHE_SIZE:
            self._fns.popitem(last=False)
        return fn

    def _run(self, network: Network, conv: Convention, user: Any, X: np.ndarray, Y: np.ndarray | None,
             batched: bool) -> Gradients:
        dtype = _check_dtype(X.dtype)
        if Y is not None and np.asarray(Y).dtype.kind in "iu":
            Y = np.asarray(Y, dtype=np.int32)  # class labels: JAX's default integer without x64
        Ws, bs = split_user_params(conv, network, user)
        flat = [np.asarray(a) for a in Ws] + [np.asarray(b) for b in bs if b is not None]
        with scoped(dtype, self.precision):
            fn = self._function(network, conv, dtype, Y is not None, batched)
            grads = fn(tuple(self._put(a) for a in flat), self._put(X), self._put(Y))
            host = [np.asarray(g) for g in grads]  # inside the scope: x64 arrays stay float64
        k = network.depth
        it = iter(host[k:])
        dbs = [None if b is None else next(it) for b in bs]
        return user_grads_to_canonical(conv, network, pack_user_grads(conv, host[:k], dbs))

    def gradients(self, case: Case) -> Gradients:
        params, X, Y = case.user_inputs()
        return self._run(case.network, case.convention, params, X, Y, batched=False)

    def gradients_batched(self, network: Network, convention: Convention | None, params: Any,
                          X: np.ndarray, Y: np.ndarray | None, *, mode: str | None = None) -> Gradients:
        """jit(vmap(grad)) over the leading draw axis.

        Native mode builds the network in ``convention``'s layout (canonical if None); padded
        mode computes in the canonical layout, whatever ``convention`` says (module docstring).
        ``mode="native"`` forces the exact native build for this call; ``mode="layout"`` the
        padded program of the convention's own layout family (a sweep's native share)."""
        return self.launch_batched(network, convention, params, X, Y, mode=mode)()

    def launch_batched(self, network: Network, convention: Convention | None, params: Any,
                       X: np.ndarray, Y: np.ndarray | None, *, mode: str | None = None) -> Callable[[], Gradients]:
        """``gradients_batched`` in two steps: this call starts the computation, the returned
        function waits for it and returns the gradients (with the padding checked).

        A padded or layout call is dispatched asynchronously (JAX runs it on its own threads),
        so a caller can do other work, e.g. the NumPy reference and torch, before it waits: a
        sweep's JAX share then costs its packing and dispatch, not its run time. Other calls
        compute here. Errors of the computation itself may surface only when waiting."""
        if mode not in (None, "native", "layout"):
            raise UsageError(f"jax backend: a call's mode may only be forced to 'native' or 'layout'; got {mode!r}")
        conv = convention or canonical_for(network)
        conv.check_network(network)
        D = check_batched(network, params, X, Y)
        if mode == "layout":
            if self.jit and padded.fits(network, X.shape[2], conv) and D < AUTO_NATIVE_DRAWS:
                self.calls["layout"] += 1
                return self._launch_padded(network, conv, params, X, Y, D, layout=True)
            mode = "native"
        if mode is None and self.batched_mode(network, X.shape[2], D, conv, X.dtype, Y is not None) == "padded":
            self.calls["padded"] += 1
            key = self._key(network, conv, X.dtype, Y is not None, True)
            self._padded_uses[key] = self._padded_uses.pop(key, 0) + 1
            if len(self._padded_uses) > 16 * _CACHE_SIZE:
                self._padded_uses.popitem(last=False)
            return self._launch_padded(network, conv, params, X, Y, D, layout=False)
        self.calls["native"] += 1
        user = conv.params_to_user(params, network)
        done = self._run(network, conv, user, conv.x_to_user(X), conv.y_to_user(Y, network.targets), batched=True)
        return lambda: done

    def batched_mode(self, network: Network, m: int, draws: int, convention: Convention | None = None,
                     dtype: Any = np.float64, has_y: bool | None = None) -> str:
        """``"padded"`` or ``"native"``: what ``gradients_batched`` does for this call."""
        if self.mode == "native" or not self.jit:
            return "native"
        if self.mode == "padded":
            if not padded.paddable(network):
                raise UsageError(f"jax backend: mode 'padded' cannot pad loss {network.loss!r}; use mode 'auto'")
            return "padded"
        if not padded.fits(network, m) or draws >= AUTO_NATIVE_DRAWS:
            return "native"
        has_y = network.loss_fn.needs_target if has_y is None else has_y
        key = self._key(network, convention or canonical_for(network), dtype, has_y, True)
        if key in self._fns or self._padded_uses.get(key, 0) >= AUTO_NATIVE_REPEATS:
            return "native"  # compiled already, or recurring enough to be worth a compile
        return "padded"

    def _launch_padded(self, network: Network, conv: Convention, params: Any, X: np.ndarray,
                       Y: np.ndarray | None, D: int, *, layout: bool) -> Callable[[], Gradients]:
        """The padded program on canonical arrays (``layout=False``), or on the user's own arrays
        in ``conv`` (``padded.pack_layout``: in_out and augmented weights go in as they are),
        dispatched; the returned function waits, unpacks and checks the padding."""
        dtype = _check_dtype(X.dtype)
        if layout:
            shape = padded.padded_shape(network, X.shape[2], D, conv, self.smallest_bucket)
            Ws, bs = split_user_params(conv, network, conv.params_to_user(params, network))
            Yu = conv.y_to_user(Y, network.targets)
            args = padded.pack_layout(network, conv, Ws, bs, conv.x_to_user(X), Yu, shape)
        else:
            shape = padded.padded_shape(network, X.shape[2], D, smallest=self.smallest_bucket)
            args = padded.pack(network, params, X, Y, shape)
        with scoped(dtype, self.precision):
            key = self._program_key(dtype)
            before = programs.program_traces(key)
            inputs = tuple(args[k] for k in padded.ARGS)
            if self._device != _jax().devices()[0]:
                # one transfer for all arguments (one device_put per array costs more than the call)
                fn = programs.traced_program(key)
                inputs = _jax().device_put(inputs, self._device)
            else:
                # the program traced here or read back compiled (crosscheck.backends.programs);
                # NumPy arguments go straight to it (jit's own transfer is cheaper than a
                # device_put first)
                fn = programs.padded_program(key, inputs)
            pending = fn(*inputs)  # returns before the program has run
            self.padded_traces += programs.program_traces(key) - before
        self.programs.add((f"K={shape.depth} P={shape.width} M={shape.samples} D={shape.draws}", dtype.name))

        def finish() -> Gradients:
            with scoped(dtype, self.precision):  # inside the scope: x64 arrays stay float64
                gW, gb = (np.asarray(g) for g in pending)
            if not layout:
                return padded.unpack(network, gW, gb, D)
            dWs, dbs = padded.unpack_layout(network, conv, gW, gb, D)
            return user_grads_to_canonical(conv, network, pack_user_grads(conv, dWs, dbs))

        return finish

    def fit_buckets(self, *, depth: int, width: int, samples: int) -> None:
        """Fit the smallest padded bucket to a sweep's largest sizes (an augmented layout's extra
        neuron included in ``width``): where they fit ``padded.SWEEP_BUCKET`` (the default sweep's
        ranges), that bucket, so one program serves every network the sweep draws with less
        padding; otherwise the general ``padded.SMALLEST``. Only these two, so sweeps with other
        ranges share programs instead of compiling one each."""
        K, P, M = padded.SWEEP_BUCKET
        fits = depth <= K and width <= P and samples <= M
        self.smallest_bucket = padded.SWEEP_BUCKET if fits else padded.SMALLEST

    def _program_key(self, dtype: np.dtype) -> tuple:
        """The padded program's key for ``dtype`` (``crosscheck.backends.programs``); called inside
        the dtype's scope, as the program is traced."""
        if dtype.name not in self._natives:
            self._natives[dtype.name] = padded.natives_key(_jax())
        return (self.precision, dtype.name, self._natives[dtype.name])

    def adopt(self, preloaded: dict) -> None:
        """Take ``preload()``'s natives key, read by the process that forked this one an instant ago
        (the tables cannot have changed in between), instead of reading them again."""
        self._natives.update(preloaded.get("natives", {}))

    def warm_up(self, dtype: Any = np.float64, draws: int = 64) -> None:
        """Load (trace, or read back compiled) the padded program of the smallest bucket for
        ``draws`` draws, as the first padded call of a sweep would: a forked sweep job does this
        while its first examples are still being generated (``crosscheck.sweep.jobs``). Runs the
        program once on zeros; no call is counted."""
        if self.mode == "native" or not self.jit:
            return
        dtype = _check_dtype(dtype)
        net = Network((2, 2), ("identity",))
        params = ((np.zeros((draws, 2, 2), dtype), np.zeros((draws, 2), dtype)),)
        zeros = np.zeros((draws, 2, 1), dtype)
        args = padded.pack(net, params, zeros, zeros, padded.padded_shape(net, 1, draws, smallest=self.smallest_bucket))
        with scoped(dtype, self.precision):
            key = self._program_key(dtype)
            inputs = tuple(args[k] for k in padded.ARGS)
            if self._device == _jax().devices()[0]:
                _jax().block_until_ready(programs.padded_program(key, inputs)(*inputs))

    def compile_stats(self) -> dict:
        """Compiles since this backend was made (process-wide, ``crosscheck.backends.compiles``):
        ``compiles`` (XLA compiles; persistent-cache reads excluded), ``cache_hits``, ``traces``,
        ``compile_s``, the padded ``programs`` this backend ran (bucket shape and dtype), and how many
        were read back compiled (``stored``) from an earlier process instead of traced
        (``crosscheck.backends.programs``)."""
        stats = self._compiles.since(self._compiles_at_start)
        stats["stored"] = programs.stored_loads() - self._stored_at_start
        stats["programs"] = sorted(f"{family} {dtype}" for family, dtype in self.programs)
        stats["calls"] = dict(self.calls)
        return stats

    def cache_info(self) -> dict:
        return {"functions": len(self._fns), "max": _CACHE_SIZE, "padded_traces": self.padded_traces,
                "calls": dict(self.calls)}

    def settings(self) -> dict:
        s = jax_settings()
        effective = "highest" if self.precision == "highest" else s["default_matmul_precision"]
        s.update(backend="jax", device=self.device, precision=self.precision, jit=self.jit, mode=self.mode,
                 compilation_cache=self.compilation_cache,
                 dtypes=["float32", "float64"], x64="scoped: enabled only inside float64 calls",
                 effective_matmul_precision=effective,
                 tf32_like=self.device == "cuda" and _tf32_like(effective))
        return s


def _check_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float64, np.float32):
        raise UsageError(f"jax backend: dtype must be float64 or float32, got {dt.name}")
    return dt
