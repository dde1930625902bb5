"""The code the sandbox's two fresh interpreters run, and how it gets there.

The supervisor and the worker run ``python -I`` with the package never on their path: their files
are read here as text, once, when this module is imported (before any implementation runs, so a
worker that rewrites them on disk changes nothing), and each side's files are run together in one
fresh namespace by a boot program: ``SUPERVISOR_BOOT`` takes them on its command line, ``BOOT``
reads the worker's from the protocol pipe (``code_frame``). Separate from ``isolation`` (who runs
where, with what) because this is the one place that decides which files make up each side; a new
worker-side or supervisor-side file is added to its list here (and to tests/test_layering.py).
"""

from __future__ import annotations

import json
import os

__all__ = ["WORKER_SOURCES", "SUPERVISOR_SOURCES", "BOOT", "SUPERVISOR_BOOT", "code_frame"]

_HERE = os.path.dirname(os.path.realpath(__file__))


def _source(name: str) -> str:
    with open(os.path.join(_HERE, name), encoding="utf-8") as f:
        return f.read()


# read now, at import, before any implementation runs; in the order each boot runs them (the worker last:
# its package-mode imports name its siblings)
WORKER_SOURCES = [("protocol", _source("protocol.py")), ("filters", _source("filters.py")),
                  ("adapters", _source("adapters.py")), ("guard", _source("guard.py")),
                  ("loading", _source("loading.py")), ("worker", _source("worker.py"))]
SUPERVISOR_SOURCES = [("namespaces", _source("namespaces.py")), ("supervisor", _source("supervisor.py"))]

# runs the supervisor's code, passed after its config, in one fresh namespace (as BOOT does the worker's)
SUPERVISOR_BOOT = """import json, sys
_g = {"__name__": "_crosscheck_supervisor"}
for _name, _text in json.loads(sys.argv[2]):
    exec(compile(_text, "<crosscheck " + _name + ">", "exec"), _g)
sys.exit(_g["main"](sys.argv))
"""

# reads the worker's code from the protocol pipe and runs it in one fresh namespace
BOOT = """import json, os, struct, sys, types
if len(sys.argv) > 3:  # under bubblewrap, which turns a death by signal N into exit 128+N: report the real one
    _pid = os.fork()
    if _pid:
        os.close(int(sys.argv[1]))
        os.close(int(sys.argv[2]))
        _st = os.waitpid(_pid, 0)[1]
        os.write(int(sys.argv[3]), _st.to_bytes(4, "little", signed=True))
        os._exit(0)
    os.close(int(sys.argv[3]))
def _read(n, fd=int(sys.argv[1])):
    b = b""
    while len(b) < n:
        c = os.read(fd, n - len(b))
        if not c:
            sys.exit(0)
        b += c
    return b
_n, = struct.unpack(">Q", _read(8))
_m = sys.modules["_crosscheck_worker"] = types.ModuleType("_crosscheck_worker")
_g = _m.__dict__
for _name, _text in json.loads(_read(_n)):
    exec(compile(_text, "<crosscheck " + _name + ">", "exec"), _g)
del sys.modules["_crosscheck_worker"], _read, _n, _name, _text, _m
sys.exit(_g["main"](sys.argv))
"""


def code_frame() -> bytes:
    """The worker's code, as BOOT reads it: an 8-byte length and a JSON list of (name, text)."""
    body = json.dumps(WORKER_SOURCES).encode()
    return len(body).to_bytes(8, "big") + body
