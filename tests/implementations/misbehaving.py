"""Implementations that fail to run, in every way the sandbox must survive (and two that
try to cheat). Checked with the torch preset: rows / out_in / vector / pairs."""

import os
import signal
import sys
import time

import numpy as np

from .correct import torch_style


def raises(params, X, Y):
    raise ValueError("shapes (4,3) and (2,) not aligned: my bug")


def hangs(params, X, Y):
    time.sleep(3600)


def returns_none(params, X, Y):
    torch_style(params, X, Y)  # computed, then forgot to return


def returns_nan(params, X, Y):
    grads = torch_style(params, X, Y)
    dW, db = grads[-1]
    grads[-1] = (dW * np.nan, db)
    return grads


def exits(params, X, Y):
    os._exit(0)


def calls_sys_exit(params, X, Y):
    sys.exit("giving up")


def crashes(params, X, Y):
    os.kill(os.getpid(), signal.SIGSEGV)


def allocates(params, X, Y):
    hog = np.ones((512, 2**20 // 8))  # 512 MB, past a small --memory cap
    return torch_style(params, X, Y) + [hog]


def noisy(params, X, Y):
    """Right gradients, and two megabytes of debug prints per call."""
    print("debug " * 350_000)
    print("warning: " + "w" * 100_000, file=sys.stderr)
    return torch_style(params, X, Y)


def wrong_container(params, X, Y):
    return {f"W{i}": g for i, (g, _) in enumerate(torch_style(params, X, Y), start=1)}


def returns_strings(params, X, Y):
    return [("dW", "db") for _ in params]


def cheats_by_monkeypatching(params, X, Y):
    """Wrong gradients (twice too large), after patching everything a comparison might use in this process."""
    np.allclose = lambda *a, **k: True
    np.array_equal = lambda *a, **k: True
    np.testing.assert_allclose = lambda *a, **k: None
    np.linalg.norm = lambda *a, **k: 0.0
    try:
        import crosscheck
        import crosscheck.compare as compare

        class _Passed:
            passed = True
        compare.compare_gradients = lambda *a, **k: _Passed()
        crosscheck.compare_gradients = compare.compare_gradients
    except ImportError:
        pass
    return [(2 * dW, 2 * db) for dW, db in torch_style(params, X, Y)]


def cheats_on_the_protocol(params, X, Y):
    """Wrong gradients, plus garbage written to every pipe it can find in its own process."""
    for fd in range(3, 64):
        try:
            if os.path.isfile(f"/proc/self/fd/{fd}") or not os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                continue
            os.write(fd, b"\x00\x00\x00\x00\x00\x00\x00\x02{}" + b"verdict: pass\n" * 10)
        except OSError:
            pass
    return [(2 * dW, 2 * db) for dW, db in torch_style(params, X, Y)]
