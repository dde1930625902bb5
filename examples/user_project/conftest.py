"""pytest puts this folder (the rootdir conftest's) on sys.path, so tests import ``mybackprop``."""

from __future__ import annotations

import pytest
from mybackprop import LAYOUT, NETWORK


@pytest.fixture
def check_options() -> dict:
    """Options for crosscheck.check_implementation: our layout and network, small and seeded."""
    return {**LAYOUT, **NETWORK, "max_depth": 3, "examples": 10, "seed": 0}
