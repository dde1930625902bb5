"""The diagnosis wing: explaining a mismatch between an implementation and the reference.

Owns the alternatives searched (losses, reductions, penalties), the implied derivative per unit,
the reconstructed intermediates and the catalogue of named mistakes read off that evidence,
the re-drawn cases where a mistake is visible, and the symptoms of a return value.
Runs only on a failure, in the parent process, on plain arrays.

May import: ``crosscheck.model``, ``crosscheck.reference``, ``crosscheck.draws`` and
``crosscheck.errors``; never a backend, the sandbox or a job.
"""

from .catalogue import Diagnosis
from .diagnose import diagnose

__all__ = ["Diagnosis", "diagnose"]
