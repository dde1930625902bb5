"""The sandbox wing: untrusted code confined, plain arrays back.

- ``client``: the parent's handle on a worker (``Sandbox``), targets, timeouts, decoding;
- ``isolation``: how a worker is launched (namespaces or a plain process), what it may see;
- ``supervisor``: the process between parent and worker that drops privileges and kills the tree;
- ``worker`` and ``protocol``: the code that runs beside the untrusted implementation.

May import: ``crosscheck.errors`` (client and isolation side) and nothing else of crosscheck.
The worker side (``worker``, ``protocol``, ``supervisor``) imports nothing of crosscheck: its
sources are read as text and run in a fresh interpreter where the package is hidden (the
worker's one import of ``protocol`` is for tests that load it from the package).
"""

from .client import Opaque, Sandbox, Target, parse_forbidden, parse_target, trim_output

__all__ = ["Opaque", "Sandbox", "Target", "parse_forbidden", "parse_target", "trim_output"]
