"""Suite-wide settings."""

from __future__ import annotations

import os
from pathlib import Path

# JAX's persistent compilation cache (crosscheck.backends.jax): the suite builds many backends
# that compile the same functions, also across xdist workers; measured 119 s -> 72 s cold.
os.environ.setdefault("CROSSCHECK_JAX_CACHE", str(Path(__file__).resolve().parent.parent / ".cache" / "jax"))

# The suite's own hypothesis profile: `ci` (derandomized, no database) under CI=true, `dev`
# locally, `thorough` with CROSSCHECK_PROFILE=thorough. Tests that pin max_examples keep it;
# the profile supplies everything else (derandomization above all).
from hypothesis import settings  # noqa: E402

from crosscheck import profiles  # noqa: E402

profiles.register_profiles()
settings.load_profile(profiles.HYPOTHESIS_PREFIX + profiles.current_profile())
