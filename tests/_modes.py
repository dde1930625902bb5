"""The sandbox's isolation modes as pytest parameters: bubblewrap's is skipped, with the reason, where it
cannot run (not installed, or no namespaces for it), so every machine runs the same test ids."""

from __future__ import annotations

import pytest

from crosscheck.sandbox.bwrap import bwrap_problem

WHY_NO_BWRAP = bwrap_problem()
BWRAP = pytest.param("bwrap", marks=pytest.mark.skipif(WHY_NO_BWRAP is not None,
                                                       reason=f"isolation bwrap: {WHY_NO_BWRAP}"))
MODES = ["process", BWRAP]
