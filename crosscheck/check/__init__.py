"""The check job: an implementation under test, run confined, compared with the reference, diagnosed.

- ``job``: ``check_implementation`` and ``crosscheck check`` (phases, report, reproduction line);
- ``extras``: gradient entries that are not parameters (``dA{l}``).

May import: model, reference, compare, tolerance, draws, strategies, sandbox, diagnosis, layers,
and the sweep's triage (one shared kink test); never the grade or the audit.
"""

from .job import CheckReport, check_implementation

__all__ = ["CheckReport", "check_implementation"]
