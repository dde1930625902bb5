"""The padded program read back compiled from an earlier process (crosscheck.backends.programs):
the same numbers bit for bit as the traced program, found only under its own key (a patched
native traces anew), and a damaged, foreign or other-writable file is traced over, never trusted."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from crosscheck.compare import compare_batched
from crosscheck.draws import draw
from crosscheck.model import activations as activations_module
from crosscheck.model.conventions import Convention
from crosscheck.model.network import Network
from crosscheck.reference import recursive

jax = pytest.importorskip("jax")

from crosscheck.backends import programs  # noqa: E402
from crosscheck.backends.jax import JaxBackend  # noqa: E402

NETWORKS = [
    (Network((3, 5, 4, 2), ("tanh", "relu", "identity"), loss="softmax_ce", reduction="mean"), None),
    (Network((4, 6, 3), ("elu", "sigmoid"), loss="bce", bias=False), None),
    (Network((2, 7, 3), ("softplus", "gelu"), loss="half_sse"), Convention("rows", "in_out", "row", "pairs")),
    (Network((3, 4, 2), ("sin", "identity"), loss="sse"), Convention("columns", "out_in", "augmented", "pairs")),
]


@pytest.fixture
def fresh_programs(tmp_path, monkeypatch):
    """A cache folder of its own and an empty per-process table: each call is a 'new process'."""
    monkeypatch.setattr(programs, "_store_folder", lambda: str(tmp_path))

    def new_process():
        programs._CALLABLES.clear()
        programs._TRACED.clear()

    new_process()
    yield tmp_path, new_process
    new_process()


@pytest.fixture(scope="module")
def stored_once(tmp_path_factory):
    """A folder holding the float64 program of NETWORKS (one program serves them all), compiled and
    stored once by a first "process" for the tests that start from a stored program (a fresh
    compile costs seconds), with that process's gradients."""
    folder = tmp_path_factory.mktemp("stored")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(programs, "_store_folder", lambda: str(folder))
        programs._CALLABLES.clear()
        programs._TRACED.clear()
        traced = [_run(net, conv)[0] for net, conv in NETWORKS]  # compiled here, the first process
        programs._CALLABLES.clear()
        programs._TRACED.clear()
    assert len(list((folder / programs.STORE_FOLDER).glob("*.xla"))) == 1, "the first process stores it"
    return folder, traced  # and what that first process computed, for the tests to compare with


def _copy_stored(stored_once, folder):
    import shutil

    shutil.copytree(stored_once[0] / programs.STORE_FOLDER, folder / programs.STORE_FOLDER,
                    ignore=shutil.ignore_patterns("*.lock"))


def _run(net, conv, dtype="float64", draws=8, seed=5):
    d = draw(net, seed, batch_size=3, draws=draws, dtype=dtype)
    backend = JaxBackend(mode="padded")
    if conv is None:
        return backend.gradients_batched(net, None, d.params, d.X, d.Y), backend
    return backend.gradients_batched(net, conv, d.params, d.X, d.Y, mode="layout"), backend


def _same(a, b):
    for (Wa, ba), (Wb, bb) in zip(a, b):
        assert np.array_equal(Wa, Wb)
        assert (ba is None) == (bb is None) and (ba is None or np.array_equal(ba, bb))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_stored_program_gives_the_traced_programs_numbers_bit_for_bit(fresh_programs, stored_once, dtype):
    folder, new_process = fresh_programs
    if dtype == "float64":  # the module's first process compiled and stored it
        _copy_stored(stored_once, folder)
        traced = stored_once[1]
    else:
        traced = [_run(net, conv, dtype)[0] for net, conv in NETWORKS]
        assert list((folder / programs.STORE_FOLDER).glob("*.xla")), "the first process stores its program"
    new_process()
    before = programs.stored_loads()
    for (net, conv), first in zip(NETWORKS, traced):
        got, backend = _run(net, conv, dtype)
        _same(got, first)
        assert backend.padded_traces == 0  # read back, not traced
    assert programs.stored_loads() > before
    # and against the program traced directly, nothing stored
    new_process()
    for (net, conv), first in zip(NETWORKS, traced):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(programs, "_store_folder", lambda: None)
            got, backend = _run(net, conv, dtype)
        _same(got, first)
    assert not list((folder / programs.STORE_FOLDER).glob("*.tmp"))


def test_a_patched_native_is_not_served_by_an_earlier_program(fresh_programs, stored_once, monkeypatch):
    folder, new_process = fresh_programs
    net = Network((3, 4, 2), ("tanh", "identity"))
    _copy_stored(stored_once, folder)  # the right program, stored
    got, backend = _run(net, None)
    assert backend.padded_traces == 0  # it would serve this network: read back
    new_process()
    tanh = activations_module.ACTIVATIONS["tanh"]
    stop = jax.lax.stop_gradient
    wrong = lambda j: (lambda x: j.numpy.tanh(x) + 1e-3 * (j.numpy.tanh(x) - stop(j.numpy.tanh(x))))  # noqa: E731
    monkeypatch.setitem(activations_module.ACTIVATIONS, "tanh", replace(tanh, jax=wrong))
    d = draw(net, 11, batch_size=5, draws=20)
    expected = recursive.gradients(net, d.params, d.X, d.Y)
    backend = JaxBackend(mode="padded")
    worst, ok = compare_batched(expected, backend.gradients_batched(net, None, d.params, d.X, d.Y))
    assert not ok.any(), worst
    assert backend.padded_traces == 1  # a new key: traced, not read back


def test_a_damaged_program_is_traced_over(fresh_programs, stored_once):
    folder, new_process = fresh_programs
    net, conv = NETWORKS[0]
    _copy_stored(stored_once, folder)
    first, _ = _run(net, conv)
    new_process()
    (stored,) = (folder / programs.STORE_FOLDER).glob("*.xla")
    stored.write_bytes(stored.read_bytes()[:100])
    new_process()
    before = programs.stored_loads()
    got, backend = _run(net, conv)
    _same(got, first)
    assert programs.stored_loads() == before and backend.padded_traces == 1
    new_process()  # the damaged file was replaced by a good one
    got, backend = _run(net, conv)
    _same(got, first)
    assert programs.stored_loads() == before + 1 and backend.padded_traces == 0


def _stored_file(folder):
    (stored,) = (folder / programs.STORE_FOLDER).glob("*.xla")
    return stored


def test_a_program_file_others_could_write_is_not_loaded(fresh_programs, stored_once):
    """A stored program is machine code: only a file the user alone could have written runs."""
    folder, new_process = fresh_programs
    net, conv = NETWORKS[0]
    _copy_stored(stored_once, folder)
    first, _ = _run(net, conv)
    stored = _stored_file(folder)
    stored.chmod(0o666)
    new_process()
    before = programs.stored_loads()
    got, backend = _run(net, conv)
    _same(got, first)
    assert programs.stored_loads() == before and backend.padded_traces == 1


def test_a_foreign_pickle_is_refused_without_running_it(fresh_programs, stored_once, tmp_path):
    """The stored wrapper is unpickled with JAX's own classes only: a file that would call
    anything else (here os.system) is refused, and the program is traced over it."""
    import pickle

    folder, new_process = fresh_programs
    net, conv = NETWORKS[1]
    _copy_stored(stored_once, folder)
    first, _ = _run(net, conv)
    stored = _stored_file(folder)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    stored.write_bytes(pickle.dumps(Payload()))
    new_process()
    before = programs.stored_loads()
    got, backend = _run(net, conv)
    _same(got, first)
    assert not marker.exists()
    assert programs.stored_loads() == before and backend.padded_traces == 1


def test_a_program_whose_read_back_copy_differs_is_not_stored(fresh_programs, monkeypatch):
    """Before a program is stored it is read back and run: a copy that does not give the same
    numbers bit for bit (or fails to load) is never stored."""
    folder, new_process = fresh_programs
    real = programs._deserialize

    def off_by_one_ulp(data, inputs):
        fn = real(data, inputs)
        return lambda *args: tuple(np.nextafter(np.asarray(g), np.inf) for g in fn(*args))

    monkeypatch.setattr(programs, "_deserialize", off_by_one_ulp)
    net, conv = NETWORKS[2]
    _run(net, conv)
    assert not list((folder / programs.STORE_FOLDER).glob("*.xla"))


def test_a_second_process_waits_for_the_first_ones_compile(tmp_path):
    """The lock beside a stored program (what makes a cold two-job sweep compile once; end to end in
    tests/test_sweep_jobs.py, slow): a process that finds the lock taken waits until the holder has
    stored its program, then finds it there."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    path = tmp_path / "program.xla"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from crosscheck.backends.programs import _compiling\n"
         f"with _compiling(Path({str(path)!r})):\n"
         "    print('holding', flush=True); time.sleep(1.0); Path(" + repr(str(path)) + ").write_bytes(b'x')"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert holder.stdout.readline().strip() == "holding"
    t0 = time.monotonic()
    with programs._compiling(path):
        waited = time.monotonic() - t0
        assert path.read_bytes() == b"x"  # stored by the holder before it let go
    assert holder.wait(timeout=30) == 0 and waited > 0.5
