"""The examples a sweep checks, in order: a covering design first, then hypothesis's search.

Separate from ``crosscheck.sweep.run`` because two drivers walk the same sequence: one process
checking each example as it comes (hypothesis shrinks the first failure at once), and
``crosscheck.sweep.jobs``, where this process only generates the examples and forked jobs check
them. Hypothesis's search is deterministic in its seed and in the test's outcomes, so a search whose
test passes every example (the generating walk) meets the same examples in the same order as one
that checks them and passes; a second walk that checks again meets the first failure again, and
shrinks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import SweepConfig
from .covering import covering_architectures

__all__ = ["SearchPlan", "search_plan", "search", "SWEEP_L2", "SWEEP_L1"]

SWEEP_L2 = (0.0, 0.0, 0.0, 0.1, 0.7)  # penalty strengths a sweep draws from
SWEEP_L1 = (0.0, 0.0, 0.0, 0.05, 0.3)


@dataclass(frozen=True)
class SearchPlan:
    """``first``: the covering examples, checked before hypothesis's; ``max_examples``: the total."""

    strategy: Any
    settings: Any
    first: list
    max_examples: int


def search_plan(config: SweepConfig) -> SearchPlan:
    from hypothesis import HealthCheck

    from ..profiles import settings_for
    from ..strategies import architectures, conventions, networks

    cfg = config
    # every target form each loss takes, every reduction, and a penalty on a share of the
    # networks (35% of 500 drawn; 0 comes first, so shrinking drops a penalty first)
    nets = networks(depth=cfg.depth, widths=cfg.widths, activations=cfg.activations, losses=cfg.losses,
                    targets=None, l2=SWEEP_L2, l1=SWEEP_L1, penalty_forms=None, penalty_bias=None)
    strategy = architectures(networks=nets, conventions=conventions(), batch_sizes=cfg.batch_sizes)
    overrides = {"deadline": None, "database": None, "suppress_health_check": list(HealthCheck)}
    if cfg.examples:
        overrides["max_examples"] = cfg.examples
    total = settings_for(cfg.profile, **overrides).max_examples
    # the first examples: a covering design (crosscheck.sweep.covering), within the same total
    first = covering_architectures(activations=cfg.activations, losses=cfg.losses, depth=cfg.depth,
                                   widths=cfg.widths, batch_sizes=cfg.batch_sizes)
    first = first[:max(total - 1, 0)]
    settings = settings_for(cfg.profile, **{**overrides, "max_examples": max(total - len(first), 1)})
    return SearchPlan(strategy, settings, first, total)


def search(plan: SearchPlan, seed: int, test: Callable[[tuple], None]) -> None:
    """``test(arch)`` on hypothesis's examples (not the covering ones), seeded; an AssertionError
    from ``test`` is shrunk by hypothesis and raised again from here."""
    from hypothesis import given
    from hypothesis import seed as hseed

    @hseed(seed)
    @plan.settings
    @given(plan.strategy)
    def sweep_example(arch):
        test(arch)

    sweep_example()
