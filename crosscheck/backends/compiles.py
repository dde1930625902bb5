"""How often JAX compiled, and for how long: listeners on ``jax.monitoring``'s events.

JAX records an event duration for every step of a jit cache miss: tracing the Python function
(``/jax/core/compile/jaxpr_trace_duration``), lowering it to MLIR
(``.../jaxpr_to_mlir_module_duration``) and the XLA compile (``.../backend_compile_duration``,
which also covers a read from the persistent compilation cache; such a read also records the
event ``/jax/compilation_cache/cache_hits``). The listeners are registered once per process and
only add to counters; ``CompileCounter.since`` gives the difference to an earlier snapshot.

Counts are process-wide: everything JAX compiles between two snapshots is in them (in a sweep,
that is the JAX backend's programs; eager jax.numpy calls outside jit compile too).

jax is imported inside functions only.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["CompileCounter", "compile_counter"]

_BACKEND = "/jax/core/compile/backend_compile_duration"
_TRACE = "/jax/core/compile/jaxpr_trace_duration"
_LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_CACHE_HIT = "/jax/compilation_cache/cache_hits"


@dataclass
class CompileCounter:
    """Running totals since the listeners were registered.

    backend:    XLA compile requests (each a jit cache miss that reached XLA)
    cache_hits: those served from the persistent compilation cache
    seconds:    tracing + lowering + compiling (or reading the cache), summed"""

    backend: int = 0
    cache_hits: int = 0
    traces: int = 0
    seconds: float = 0.0

    def snapshot(self) -> CompileCounter:
        return CompileCounter(self.backend, self.cache_hits, self.traces, self.seconds)

    def since(self, before: CompileCounter) -> dict:
        """What happened after ``before``: ``compiles`` (XLA compiles, persistent-cache reads
        excluded), ``cache_hits``, ``traces`` and ``compile_s``."""
        hits = self.cache_hits - before.cache_hits
        return {"compiles": self.backend - before.backend - hits, "cache_hits": hits,
                "traces": self.traces - before.traces, "compile_s": round(self.seconds - before.seconds, 4)}


_counter: CompileCounter | None = None
_lock = threading.Lock()


def compile_counter() -> CompileCounter:
    """The process's counter; registers the ``jax.monitoring`` listeners on first use."""
    global _counter
    with _lock:
        if _counter is None:
            import jax.monitoring

            counter = CompileCounter()

            def on_duration(event: str, duration: float, **_: object) -> None:
                if event == _BACKEND:
                    counter.backend += 1
                elif event == _TRACE:
                    counter.traces += 1
                elif event != _LOWER:
                    return
                counter.seconds += duration

            def on_event(event: str, **_: object) -> None:
                if event == _CACHE_HIT:
                    counter.cache_hits += 1

            jax.monitoring.register_event_duration_secs_listener(on_duration)
            jax.monitoring.register_event_listener(on_event)
            _counter = counter
    return _counter
