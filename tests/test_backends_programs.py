"""The padded program read back from an earlier process's export (crosscheck.backends.programs):
the same numbers bit for bit as the traced program, found only under its own key (a patched
native traces anew), and a damaged file is traced over, never trusted."""

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
pytest.importorskip("flatbuffers")

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
    monkeypatch.setattr(programs, "_export_folder", lambda: str(tmp_path))

    def new_process():
        programs._CALLABLES.clear()
        programs._TRACED.clear()

    new_process()
    yield tmp_path, new_process
    new_process()


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
def test_an_exported_program_gives_the_traced_programs_numbers_bit_for_bit(fresh_programs, dtype):
    folder, new_process = fresh_programs
    traced = []
    for net, conv in NETWORKS:
        got, backend = _run(net, conv, dtype)
        traced.append(got)
    stored = list((folder / programs.EXPORT_FOLDER).glob("*.jaxexport"))
    assert stored, "the first process stores its program"
    new_process()
    before = programs.exported_loads()
    for (net, conv), first in zip(NETWORKS, traced):
        got, backend = _run(net, conv, dtype)
        _same(got, first)
        assert backend.padded_traces == 0  # read back, not traced
    assert programs.exported_loads() > before
    # and against the program traced directly, without any export
    new_process()
    for (net, conv), first in zip(NETWORKS, traced):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(programs, "_export_folder", lambda: None)
            got, backend = _run(net, conv, dtype)
        _same(got, first)
    assert not list((folder / programs.EXPORT_FOLDER).glob("*.tmp"))


def test_a_patched_native_is_not_served_by_an_earlier_export(fresh_programs, monkeypatch):
    folder, new_process = fresh_programs
    net = Network((3, 4, 2), ("tanh", "identity"))
    _run(net, None)  # the right program, exported
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


def test_a_damaged_export_is_traced_over(fresh_programs):
    folder, new_process = fresh_programs
    net, conv = NETWORKS[0]
    first, _ = _run(net, conv)
    (stored,) = (folder / programs.EXPORT_FOLDER).glob("*.jaxexport")
    stored.write_bytes(stored.read_bytes()[:100])
    new_process()
    before = programs.exported_loads()
    got, backend = _run(net, conv)
    _same(got, first)
    assert programs.exported_loads() == before and backend.padded_traces == 1
    new_process()  # the damaged file was replaced by a good one
    got, backend = _run(net, conv)
    _same(got, first)
    assert programs.exported_loads() == before + 1 and backend.padded_traces == 0
