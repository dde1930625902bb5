"""The sandbox wing: untrusted code confined, plain arrays back.

Parent side:

- ``client``: the parent's handle on a worker (``Sandbox``): requests, timeouts, decoding;
- ``targets``: what to load (``Target``), parsed from a TARGET string or a function;
- ``verdicts``: how a run failed, in words (``ImplementationError`` kinds), and its output trimmed;
- ``isolation``: how a worker is launched (namespaces or a plain process), what it may see, with
  ``bwrap`` (bubblewrap), ``hiding`` (where forbidden modules live) and ``notebook`` (cells as code);
- ``boot``: which files make up each side, read as text, and the programs that run them.

Worker side (run in fresh interpreters where the package is hidden):

- ``supervisor`` and ``namespaces``: the process between parent and worker that confines it,
  drops privileges and kills the tree;
- ``worker``, ``protocol``, ``guard``, ``loading``, ``filters``, ``adapters``: the code that runs
  beside the untrusted implementation.

May import: ``crosscheck.errors`` (parent side) and nothing else of crosscheck. The worker side
imports nothing of crosscheck: ``boot`` reads its sources as text and runs each side's files in one
fresh namespace (the worker's and the supervisor's imports of their siblings are for tests that load
them from the package).
"""

from .client import Sandbox
from .protocol import Opaque
from .targets import Target, parse_forbidden, parse_target
from .verdicts import trim_output

__all__ = ["Opaque", "Sandbox", "Target", "parse_forbidden", "parse_target", "trim_output"]
