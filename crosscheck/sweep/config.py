"""What a sweep is asked: ``SweepConfig`` (every option that shapes a sweep, and the command line
that runs it again), ``--shard I/N`` parsed, and the default number of draws per example.

Separate from ``crosscheck.sweep.run`` because the faces (the CLI's argument parsing, the pytest
plugin's fixture, the memory estimate) build and read a configuration without the machinery that
runs one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError

__all__ = ["SweepConfig", "parse_shard", "parse_jobs", "DEFAULT_DRAWS", "MAX_JOBS"]

MAX_JOBS = 256
DEFAULT_DRAWS = 64  # benchmarks/README.md: 64 draws/example balances draws/s and architectures/s


@dataclass(frozen=True)
class SweepConfig:
    backends: tuple[str, ...] | None = None  # None: every installed one
    routes: tuple[str, ...] | None = None  # None: all six
    dtype: str = "float64"
    device: str = "cpu"
    precision: str = "default"
    examples: int | None = None  # None: the profile's max_examples
    draws: int | None = None
    seed: int = 0
    profile: str | None = None
    kinks: bool = False
    strict_kinks: bool = False
    shard: tuple[int, int] | None = None
    activations: tuple[str, ...] | None = None
    losses: tuple[str, ...] | None = None
    depth: tuple[int, int] = (1, 4)
    widths: tuple[int, int] = (2, 9)
    batch_sizes: tuple[int, int] = (1, 6)
    jobs: int | None = None  # forked processes sharing the examples (crosscheck.sweep.jobs); None: auto

    def command(self) -> str:
        """The command line that runs this sweep again (every option that shapes it)."""
        parts = ["crosscheck sweep", f"--seed {self.seed}", f"--dtype {self.dtype}"]
        if self.backends:
            parts.append(f"--backends {','.join(self.backends)}")
        if self.routes:
            parts.append(f"--routes {','.join(self.routes)}")
        if self.examples:
            parts.append(f"--examples {self.examples}")
        if self.draws:
            parts.append(f"--draws {self.draws}")
        if self.device != "cpu":
            parts.append(f"--device {self.device}")
        if self.precision != "default":
            parts.append(f"--precision {self.precision}")
        if self.profile:
            parts.append(f"--profile {self.profile}")
        if self.kinks:
            parts.append("--kinks")
        if self.strict_kinks:
            parts.append("--strict-kinks")
        if self.shard:
            parts.append(f"--shard {self.shard[0]}/{self.shard[1]}")
        if self.jobs is not None:
            parts.append(f"--jobs {self.jobs}")
        if self.activations:
            parts.append(f"--activations {','.join(self.activations)}")
        if self.losses:
            parts.append(f"--losses {','.join(self.losses)}")
        return " ".join(parts)


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like I/N (e.g. 2/4), got {text!r}") from None
    if n < 1 or not 1 <= i <= n:
        raise UsageError(f"--shard I/N needs 1 <= I <= N, got {text!r}")
    return i, n


def parse_jobs(text: str | int | None) -> int | None:
    """``--jobs``: a count from 1, or ``auto`` (None)."""
    if text is None or str(text).strip().lower() == "auto":
        return None
    try:
        n = int(str(text))
    except ValueError:
        raise UsageError(f"--jobs must be a count or auto, got {text!r}") from None
    if not 1 <= n <= MAX_JOBS:
        raise UsageError(f"--jobs must be between 1 and {MAX_JOBS} (or auto), got {n}")
    return n
