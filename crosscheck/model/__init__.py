"""The model wing: the one description of a network and of the layouts it is written in.

Owns the network (widths, activations, loss, targets, reductions, penalties), the activation
and loss tables, the conventions (batch, weights, bias, params) and their exact conversions,
the case (network + convention + arrays), the presets and the kink conventions of the
frameworks. Pure data and formulas on NumPy arrays.

May import: numpy and ``crosscheck.errors`` only. Everything else in crosscheck builds on it.
"""

from .case import Case, Gradients
from .conventions import Convention
from .network import Network

__all__ = ["Case", "Convention", "Gradients", "Network"]
