"""crosscheck.backends.fingerprint: a function's code as a key, equal across processes, changed by
any change to what the function computes, and None (trace instead) where it cannot be read."""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from dataclasses import replace

import numpy as np
import pytest

from crosscheck.backends import padded
from crosscheck.backends.fingerprint import fingerprint
from crosscheck.model import activations as activations_module

SCALE = 2.0


def scaled(x):
    return SCALE * x


def factory(k):
    return lambda x: k * x


def test_the_same_code_gives_the_same_fingerprint_and_other_code_another():
    assert fingerprint(scaled) == fingerprint(scaled)
    assert fingerprint(factory(2)) == fingerprint(factory(2))
    assert fingerprint(factory(2)) != fingerprint(factory(3))  # a closure's value is part of it
    assert fingerprint(lambda x: x + 1) != fingerprint(lambda x: x - 1)
    assert fingerprint(lambda x: x * 1.0) != fingerprint(lambda x: x * 1)  # constants by type too
    assert fingerprint(functools.partial(factory(2), 1)) != fingerprint(functools.partial(factory(2), 2))
    assert fingerprint(np.tanh) != fingerprint(np.sin)  # library functions: named


def test_a_changed_global_changes_the_fingerprint(monkeypatch):
    before = fingerprint(scaled)
    monkeypatch.setattr(sys.modules[__name__], "SCALE", 3.0)
    assert fingerprint(scaled) != before


def helper(x):
    return x + 1


def uses_helper(x):
    return helper(x) * 2


def test_a_patched_helper_a_function_calls_changes_the_fingerprint(monkeypatch):
    before = fingerprint(uses_helper)
    monkeypatch.setattr(sys.modules[__name__], "helper", lambda x: x + 2)
    assert fingerprint(uses_helper) != before


def recursive(n):
    return 1 if n <= 1 else n * recursive(n - 1)


def test_recursion_is_read_once():
    assert fingerprint(recursive) is not None


def test_what_cannot_be_read_exactly_gives_none():
    lock = threading.Lock()  # no text without an address
    assert fingerprint(lambda: lock) is None
    assert fingerprint(object()) is None
    assert fingerprint(lambda: np) is not None  # a library module: named
    assert fingerprint(lambda: activations_module) is None  # one of ours: its attributes could change unseen
    tanh = activations_module.ACTIVATIONS["tanh"]
    assert fingerprint(lambda: tanh) is None  # an object of ours: its methods' code is not read


def test_the_natives_key_is_the_same_in_another_process():
    jax = pytest.importorskip("jax")
    here = padded.natives_key(jax)
    assert here[0] == "code"  # the tables' natives are read from their code, not traced
    code = "import jax; from crosscheck.backends import padded; print(repr(padded.natives_key(jax)))"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert there.strip() == repr(here)


def test_a_patched_native_or_constant_changes_the_natives_key(monkeypatch):
    jax = pytest.importorskip("jax")
    before = padded.natives_key(jax)
    with monkeypatch.context() as m:
        m.setattr(activations_module, "LEAKY_SLOPE", activations_module.LEAKY_SLOPE * 2)
        assert padded.natives_key(jax) != before
    tanh = activations_module.ACTIVATIONS["tanh"]
    rewritten = replace(tanh, jax=lambda j: (lambda x: j.numpy.tanh(x)))
    monkeypatch.setitem(activations_module.ACTIVATIONS, "tanh", rewritten)
    assert padded.natives_key(jax) != before


def test_a_native_that_cannot_be_read_is_traced(monkeypatch):
    jax = pytest.importorskip("jax")
    lock = threading.Lock()
    tanh = activations_module.ACTIVATIONS["tanh"]
    unreadable = lambda j: (lambda x: j.numpy.tanh(x) if lock else x)  # noqa: E731
    monkeypatch.setitem(activations_module.ACTIVATIONS, "tanh", replace(tanh, jax=unreadable))
    key = padded.natives_key(jax)
    assert key[0] == "trace" and "tanh" in key[1]
