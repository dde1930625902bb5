"""How a run in the sandbox went, in words: the ``ImplementationError`` for each way the worker can
fail (its ``kind`` one of ``KINDS``), and what the implementation printed, trimmed, to go with it.

Separate from ``client``, which moves requests and replies and decides *that* a run failed: the
wording here is what every report and exit code reads (``crosscheck.check``, the layer check,
grading), so it is kept in one place. Texts from the worker arrive already renamed and escaped
(``Sandbox._rename``); nothing here reads the pipes.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from ..errors import ImplementationError

__all__ = ["KINDS", "trim_output", "join_output", "output_of", "drain", "failed_import", "failed_call", "died"]

# ImplementationError kinds the sandbox raises
KINDS = ("raised", "timeout", "crash", "exit", "memory", "bad_output", "import", "forbidden")

OUTPUT_KEEP = 4000  # characters kept from each end of a call's stdout / stderr


# ---- what the implementation printed -------------------------------------------------------------

def trim_output(text: str, keep: int = OUTPUT_KEEP) -> str:
    """Head and tail of ``text`` with a marker for what was left out."""
    if len(text) <= 2 * keep:
        return text
    return f"{text[:keep]}\n... [{len(text) - 2 * keep} characters omitted] ...\n{text[-keep:]}"


def join_output(stdout: str, stderr: str) -> str:
    parts = []
    if stdout.strip():
        parts.append("stdout:\n" + stdout.rstrip())
    if stderr.strip():
        parts.append("stderr:\n" + stderr.rstrip())
    return "\n".join(parts)


def output_of(stdout: str, stderr: str) -> str:
    """Both streams under their names, trimmed: the output an ``ImplementationError`` carries."""
    return trim_output(join_output(stdout, stderr))


def drain(f: Any) -> str:
    """Everything written to ``f`` since the last drain, trimmed, then empty the file."""
    fd = f.fileno()
    size = os.fstat(fd).st_size
    keep = OUTPUT_KEEP * 4  # bytes: a UTF-8 character takes at most four
    if size <= 2 * keep:
        text = os.pread(fd, size, 0).decode("utf-8", "replace")
    else:
        head = os.pread(fd, keep, 0).decode("utf-8", "replace")
        tail = os.pread(fd, keep, size - keep).decode("utf-8", "replace")
        text = f"{head}\n... [{size - 2 * keep} bytes omitted] ...\n{tail}"
    os.ftruncate(fd, 0)
    return trim_output(text)


# ---- what went wrong ------------------------------------------------------------------------------

def failed_import(status: Any, message: str, output: str, display: str, memory: int | None) -> ImplementationError:
    """The worker's answer to loading TARGET ``display`` when it is not "ready" (nor "usage")."""
    if status == "forbidden":
        return ImplementationError(message, kind="forbidden", output=output)
    if status == "memory":
        return ImplementationError(f"importing {display} exceeded the memory cap of {memory} "
                                   f"MB (--memory): {message}", kind="memory", output=output)
    return ImplementationError(f"importing {display} failed: {message}", kind="import", output=output)


def failed_call(status: Any, message: str, output: str, memory: int | None) -> ImplementationError:
    """The worker's reply to a call when its status is not "ok"."""
    if status == "forbidden":
        return ImplementationError(message, kind="forbidden", output=output)
    if status == "raised":
        return ImplementationError(f"the implementation raised {message}", kind="raised", output=output)
    if status == "memory":
        return ImplementationError(f"the implementation exceeded the memory cap of {memory} MB "
                                   f"(--memory): {message}", kind="memory", output=output)
    if status == "exit":
        return ImplementationError(f"the implementation called {message} instead of returning gradients",
                                   kind="exit", output=output)
    return ImplementationError(f"the implementation's process sent an unexpected reply ({status!r})",
                               kind="bad_output", output=output)


def died(code: int | None, killed: bool) -> ImplementationError:
    """The worker's pipe closed: its exit status ``code`` (negative: the signal) in words. A SIGKILL
    that crosscheck did not send (``killed``) is most likely the kernel's out-of-memory killer."""
    if code is not None and code < 0:
        sig = -code
        name = _signal_name(sig)
        if sig == signal.SIGKILL and not killed:
            return ImplementationError(f"the implementation's process was killed ({name}), most likely for "
                                       f"running out of memory", kind="memory")
        return ImplementationError(f"the implementation's process crashed with {name}", kind="crash")
    return ImplementationError(f"the implementation's process exited with status {code} instead of "
                               "returning gradients (os._exit or exit in its code?)", kind="exit")


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
