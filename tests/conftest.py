"""Suite-wide settings."""

from __future__ import annotations

import os
from pathlib import Path

# JAX's persistent compilation cache (crosscheck.backends.jax): the suite builds many backends
# that compile the same functions, also across xdist workers; measured 119 s -> 72 s cold.
os.environ.setdefault("CROSSCHECK_JAX_CACHE", str(Path(__file__).resolve().parent.parent / ".cache" / "jax"))

# The suite's own hypothesis profile: `ci` (derandomized, no database) under CI=true, `dev`
# locally, `thorough` with CROSSCHECK_PROFILE=thorough. The profile supplies everything tests do
# not pin (derandomization above all); under `thorough` pinned max_examples are multiplied too
# (crosscheck.profiles.SUITE_SCALE), so a thorough run really runs longer than dev.
from hypothesis import settings  # noqa: E402

from crosscheck import profiles  # noqa: E402

profiles.register_profiles()
settings.load_profile(profiles.HYPOTHESIS_PREFIX + profiles.current_profile())


def pytest_collection_modifyitems(items):
    functions = {id(f): f for f in (getattr(item, "obj", None) for item in items) if f is not None}
    profiles.scale_pinned_examples(functions.values())
