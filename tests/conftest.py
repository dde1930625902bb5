"""Suite-wide settings."""

from __future__ import annotations

import os
from pathlib import Path

# JAX's persistent compilation cache (crosscheck.backends.jax): the suite builds many backends
# that compile the same functions, also across xdist workers; measured 119 s -> 72 s cold.
os.environ.setdefault("CROSSCHECK_JAX_CACHE", str(Path(__file__).resolve().parent.parent / ".cache" / "jax"))
