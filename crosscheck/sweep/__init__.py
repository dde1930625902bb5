"""The sweep job: hypothesis invents networks, every backend and route is compared with the reference.

- ``run``: the sweep itself (``run_sweep``, ``replay``);
- ``config``: what a sweep is asked (``SweepConfig``, ``--shard``);
- ``result``: what it answers (``SweepResult``, the failure record and its reproduce command);
- ``args``: ``crosscheck sweep`` from the command line, limits and ``--replay``;
- ``triage``: a disagreement that only looks like a bug (kink conventions, float32 rounding);
- ``report``: the terminal summary, the failure report, JSON.

May import: the wings below it (model, reference, backends, compare, tolerance, draws,
strategies, environment, profiles, output); never another job.
"""

from .config import DEFAULT_DRAWS, SweepConfig, parse_shard
from .result import SweepResult
from .run import replay, run_sweep

__all__ = ["DEFAULT_DRAWS", "SweepConfig", "SweepResult", "parse_shard", "replay", "run_sweep"]
