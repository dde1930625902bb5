"""What a submission folder may hold: nothing that leads outside it.

A student's ``notes.py -> /root/secret`` or ``nn.py -> ../solution/nn.py`` would put the
machine's files (or the teacher's solution) in front of the grader, whoever runs it. Before any
part runs, every entry of the submission is looked at without following links: one whose real
path leaves the submission folder, or that cannot be resolved at all (a link loop, a dangling
link), is refused. The checks that could load it (a target in its folder or above) score 0 with
a one-line reason naming it; the other checks are graded as usual.
"""

from __future__ import annotations

import os

__all__ = ["escaping_entries", "blocking_entry"]

_MAX_ENTRIES = 20_000  # a submission is a handful of files; beyond this nothing more is looked at


def escaping_entries(root: str) -> dict[str, str]:
    """``{relative path: reason}`` for every entry of ``root`` that leads outside it (or nowhere)."""
    base = os.path.realpath(root)
    out: dict[str, str] = {}
    seen = 0
    for folder, dirs, files in os.walk(base, followlinks=False, onerror=lambda e: None):
        for name in dirs + files:
            seen += 1
            if seen > _MAX_ENTRIES:
                return out
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, base)
            if not os.path.islink(path):
                continue
            try:
                real = os.path.realpath(path, strict=True)
            except OSError as e:  # a loop (ELOOP), a dangling link (ENOENT)
                out[rel] = f"{rel} is a link that leads nowhere ({e.strerror or e})"
                continue
            if real != base and not real.startswith(base + os.sep):
                out[rel] = f"{rel} is a link to a file outside the submission"
    return out


def blocking_entry(target_path: str, escaping: dict[str, str]) -> str | None:
    """The reason a check of ``target_path`` (relative to the submission) cannot be graded: the
    target itself, a folder on its way, or anything its folder (and so its imports) holds leads out."""
    if not escaping:
        return None
    parts = target_path.split("/")
    for i in range(1, len(parts) + 1):
        reason = escaping.get(os.path.join(*parts[:i]))
        if reason:
            return reason
    folder = os.path.dirname(target_path)
    for rel in sorted(escaping):
        if not folder or rel.startswith(folder + os.sep):
            return escaping[rel]
    return None
