"""One ``[[check]]`` of a grading config, and the keys that describe its network.

Below the config reader, the parts, the layer grading and the runner, which all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CheckSpec", "NETWORK_KEYS"]

# the options that shape the network of a function check (a layer check takes none of them)
NETWORK_KEYS = ("batch", "weights", "bias", "params", "hidden", "output", "loss", "reduction", "depth",
                "max_depth", "max_width", "output_width", "targets", "l2", "l1", "penalty_form", "penalty_bias",
                "min_depth", "flat_order")


@dataclass(frozen=True)
class CheckSpec:
    """One ``[[check]]``, with the ``[grade]`` defaults filled in. ``options`` holds the
    `crosscheck check` options (list-valued ``hidden``/``loss``/``depth`` expanded later into parts)."""

    index: int  # 1-based position in the file
    name: str
    target: str  # relative to the submission, as written
    points: float
    options: dict[str, Any]
    visibility: str = "visible"
    adapter: str | None = None  # a teacher's "file.py:function", relative to the config, run in place of target

    @property
    def kind(self) -> str:
        """"layers" for a layer check (``api`` given), else "function"."""
        return "layers" if self.options.get("api") else "function"

    @property
    def path(self) -> str:
        """The file part of the target (``nn.py`` of ``nn.py:loss_grads``)."""
        return self.target.partition(":")[0]

    @property
    def attr(self) -> str | None:
        return self.target.partition(":")[2] or None
