"""Backends: torch and JAX against the reference in every layout, batched equals the loop,
scoped precision switches, and clear reasons when a backend or device is missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from crosscheck.backends import BACKEND_NAMES, available_backends, get_backend, parse_backends
from crosscheck.backends.base import user_grads_to_canonical
from crosscheck.compare import compare_batched, compare_gradients
from crosscheck.draws import draw
from crosscheck.errors import UsageError
from crosscheck.model import activations as activations_module
from crosscheck.model.case import Case
from crosscheck.model.conventions import Convention
from crosscheck.model.network import Network
from crosscheck.reference import recursive

# per-neuron activations, a kinked one, softmax cross-entropy with mean reduction
NET_BIAS = Network((3, 4, 5, 2), ("tanh", ("relu", "sigmoid", "tanh", "elu", "gelu"), "identity"),
                   loss="softmax_ce", reduction="mean")
NET_NOBIAS = Network((4, 3, 2), ("softplus", "sigmoid"), loss="bce", bias=False)

# every value of every axis at least once (batch x weights x bias x params)
CONVENTIONS_BIAS = [
    Convention("columns", "out_in", "vector", "pairs"),
    Convention("rows", "in_out", "vector", "dict"),
    Convention("rows", "out_in", "column", "pairs"),
    Convention("columns", "in_out", "row", "dict"),
    Convention("rows", "in_out", "row", "pairs"),
    Convention("columns", "out_in", "column", "dict"),
    Convention("rows", "in_out", "augmented", "dict"),
    Convention("columns", "out_in", "augmented", "pairs"),
    Convention("single", "in_out", "vector", "pairs"),
    Convention("single", "out_in", "augmented", "dict"),
]
CONVENTIONS_NOBIAS = [
    Convention("rows", "in_out", "none", "pairs"),
    Convention("columns", "out_in", "none", "dict"),
    Convention("single", "in_out", "none", "dict"),
]
CASES = [(NET_BIAS, c) for c in CONVENTIONS_BIAS] + [(NET_NOBIAS, c) for c in CONVENTIONS_NOBIAS]


def _case(network: Network, conv: Convention, dtype: str, seed: int = 0) -> Case:
    m = 1 if conv.batch == "single" else 3
    d = draw(network, seed, batch_size=m, draws=1, dtype=dtype)
    params, X, Y = d.one(0)
    return Case(network, conv, params, X, Y)


def _up(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def _reference(network: Network, params, X, Y):
    """float64 reference on the (possibly float32-rounded) inputs."""
    return recursive.gradients(network, tuple((_up(W), _up(b)) for W, b in params), _up(X), _up(Y))


def _backend(name: str, **kw):
    """A backend by name; "jax-native"/"jax-padded" and "torch-stacked"/"torch-vmap" pick the
    batched mode."""
    lib, _, mode = name.partition("-")
    pytest.importorskip(lib)
    if lib == "jax" and mode:
        from crosscheck.backends.jax import JaxBackend

        return JaxBackend(mode=mode, **kw)
    if lib == "torch" and mode:
        from crosscheck.backends.torch import TorchBackend

        return TorchBackend(batched=mode, **kw)
    return get_backend(lib, **kw)


@pytest.fixture(scope="module", params=["torch", "jax"])
def autodiff(request):
    return _backend(request.param)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("network,conv", CASES, ids=[f"{n.depth}-{c.describe()}" for n, c in CASES])
def test_backend_matches_reference_in_every_layout(autodiff, network, conv, dtype):
    case = _case(network, conv, dtype)
    got = autodiff.gradients(case)
    for (W, b), (dW, db) in zip(case.params, got):
        assert dW.shape == W.shape and dW.dtype == np.dtype(dtype)
        assert (db is None) == (b is None)
    result = compare_gradients(_reference(network, case.params, case.X, case.Y), got, dtype=dtype)
    assert result.passed, result.summary()


def test_numpy_backend_is_the_reference():
    case = _case(NET_BIAS, CONVENTIONS_BIAS[1], "float64")
    got = get_backend("numpy").gradients(case)
    expected = recursive.gradients(case.network, case.params, case.X, case.Y)
    for (a, b), (c, d) in zip(got, expected):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


@pytest.mark.parametrize("name", ["numpy", "torch-stacked", "torch-vmap", "jax-native", "jax-padded"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batched_equals_the_per_draw_loop(name, dtype):
    backend = _backend(name)
    conv = Convention("rows", "in_out", "column", "dict")
    d = draw(NET_BIAS, 3, batch_size=4, draws=6, dtype=dtype)
    stacked = backend.gradients_batched(NET_BIAS, conv, d.params, d.X, d.Y)
    tol = 1e-13 if dtype == "float64" else 1e-5
    for i in range(d.count):
        one = backend.gradients(Case(NET_BIAS, conv, *d.one(i)))
        for (sW, sb), (W, b) in zip(stacked, one):
            assert sW.dtype == np.dtype(dtype)
            np.testing.assert_allclose(sW[i], W, rtol=tol, atol=tol)
            np.testing.assert_allclose(sb[i], b, rtol=tol, atol=tol)
    worst, ok = compare_batched(_reference(NET_BIAS, d.params, d.X, d.Y), stacked, dtype=dtype)
    assert ok.all(), worst


@pytest.mark.parametrize("name", ["torch-stacked", "torch-vmap", "jax-native", "jax-padded"])
def test_batched_in_every_bias_layout_equals_canonical(name):
    backend = _backend(name)
    d = draw(NET_BIAS, 5, batch_size=2, draws=3)
    canonical = backend.gradients_batched(NET_BIAS, None, d.params, d.X, d.Y)
    for conv in CONVENTIONS_BIAS:
        if conv.batch == "single":
            continue
        got = backend.gradients_batched(NET_BIAS, conv, d.params, d.X, d.Y)
        for (a, b), (c, e) in zip(got, canonical):
            np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(b, e, rtol=1e-12, atol=1e-14)
    d = draw(NET_NOBIAS, 5, batch_size=2, draws=3)
    got = backend.gradients_batched(NET_NOBIAS, None, d.params, d.X, d.Y)
    assert all(db is None for _, db in got)
    assert compare_batched(_reference(NET_NOBIAS, d.params, d.X, d.Y), got)[1].all()


def test_batched_rejects_bad_shapes():
    backend = get_backend("numpy")
    d = draw(NET_BIAS, 0, batch_size=2, draws=2)
    with pytest.raises(ValueError, match="X must be"):
        backend.gradients_batched(NET_BIAS, None, d.params, d.X[0], d.Y)
    with pytest.raises(ValueError, match="W1 must be"):
        bad = ((d.params[0][0][:, :, :2], d.params[0][1]),) + d.params[1:]
        backend.gradients_batched(NET_BIAS, None, bad, d.X, d.Y)


def test_jax_float64_does_not_leak_x64():
    jax = pytest.importorskip("jax")
    backend = get_backend("jax")
    assert not jax.config.jax_enable_x64, "the test process must start with x64 off"
    case = _case(NET_BIAS, CONVENTIONS_BIAS[0], "float64")
    got = backend.gradients(case)
    assert got[0][0].dtype == np.float64  # really computed in float64 ...
    assert jax.numpy.zeros(1).dtype == np.float32  # ... and the switch is off again
    assert not jax.config.jax_enable_x64
    d = draw(NET_BIAS, 1, batch_size=2, draws=2)
    assert backend.gradients_batched(NET_BIAS, None, d.params, d.X, d.Y)[0][0].dtype == np.float64
    assert jax.numpy.zeros(1).dtype == np.float32


def test_jax_highest_precision_is_scoped():
    jax = pytest.importorskip("jax")
    from crosscheck.backends.jax import scoped

    before = jax.config.jax_default_matmul_precision
    with scoped(np.float32, "highest"):
        assert jax.config.jax_default_matmul_precision == "highest"
    assert jax.config.jax_default_matmul_precision == before
    backend = get_backend("jax", precision="highest")
    assert backend.gradients(_case(NET_NOBIAS, CONVENTIONS_NOBIAS[0], "float32")) is not None
    assert jax.config.jax_default_matmul_precision == before
    assert backend.settings()["effective_matmul_precision"] == "highest"


def test_jax_eager_matches_jit():
    pytest.importorskip("jax")
    from crosscheck.backends.jax import JaxBackend

    case = _case(NET_NOBIAS, CONVENTIONS_NOBIAS[1], "float64")
    eager = JaxBackend(jit=False).gradients(case)
    jitted = JaxBackend().gradients(case)
    for (a, _), (b, _) in zip(eager, jitted):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_torch_highest_precision_restores_the_callers_settings():
    torch = pytest.importorskip("torch")
    from crosscheck.backends.torch import highest_precision

    saved = (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    try:
        torch.set_float32_matmul_precision("high")
        torch.backends.cuda.matmul.allow_tf32 = True
        with highest_precision():
            assert torch.get_float32_matmul_precision() == "highest"
            assert not torch.backends.cuda.matmul.allow_tf32
            assert not torch.backends.cudnn.allow_tf32
        assert torch.get_float32_matmul_precision() == "high"
        assert torch.backends.cuda.matmul.allow_tf32
        backend = get_backend("torch", precision="highest")
        backend.gradients(_case(NET_NOBIAS, CONVENTIONS_NOBIAS[0], "float32"))
        assert torch.backends.cuda.matmul.allow_tf32
        s = backend.settings()
        assert s["allow_tf32"] and not s["effective_allow_tf32"]
    finally:
        torch.set_float32_matmul_precision(saved[0])
        torch.backends.cuda.matmul.allow_tf32 = saved[1]
        torch.backends.cudnn.allow_tf32 = saved[2]


@pytest.mark.parametrize("name", ["torch-stacked", "torch-vmap", "jax-native", "jax-padded"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_tanh_derivative_off_by_1e3_is_caught(name, dtype, monkeypatch):
    """A backend whose tanh has the right value but a derivative 1.001x too large fails."""
    lib = pytest.importorskip(name.partition("-")[0])
    tanh = activations_module.ACTIVATIONS["tanh"]
    if name.startswith("torch"):
        wrong = lambda t: (lambda x: t.tanh(x) + 1e-3 * (t.tanh(x) - t.tanh(x).detach()))  # noqa: E731
        monkeypatch.setitem(activations_module.ACTIVATIONS, "tanh", replace(tanh, torch=wrong))
    else:
        stop = lib.lax.stop_gradient
        wrong = lambda j: (lambda x: j.numpy.tanh(x) + 1e-3 * (j.numpy.tanh(x) - stop(j.numpy.tanh(x))))  # noqa: E731
        monkeypatch.setitem(activations_module.ACTIVATIONS, "tanh", replace(tanh, jax=wrong))
    backend = _backend(name)
    net = Network((3, 4, 2), ("tanh", "identity"))
    d = draw(net, 11, batch_size=5, draws=20, dtype=dtype)
    got = backend.gradients_batched(net, None, d.params, d.X, d.Y)
    worst, ok = compare_batched(_reference(net, d.params, d.X, d.Y), got, dtype=dtype)
    assert not ok.any(), worst


def test_backend_nan_reaches_the_comparison_in_place():
    net = Network((2, 3, 2), ("tanh", "identity"))
    conv = Convention("rows", "in_out", "augmented", "dict")
    d = draw(net, 0, batch_size=2, draws=1)
    case = Case(net, conv, *d.one(0))
    user = conv.params_to_user(recursive.gradients(net, case.params, case.X, case.Y), net, gradient=True)
    user["dW1"][0, 1] = np.nan  # user layout (n_in + 1, n_out + 1): input 0, neuron 1
    user["dW2"][3, 0] = np.inf  # the bias row of layer 2
    canon = user_grads_to_canonical(conv, net, user)
    assert np.isnan(canon[0][0][1, 0]) and np.isfinite(np.delete(canon[0][0].ravel(), 2)).all()
    assert np.isnan(canon[1][1][0]) and np.isfinite(canon[1][0]).all()
    result = compare_gradients(recursive.gradients(net, case.params, case.X, case.Y), canon)
    assert not result.passed and {p.reason for p in result.failures()} == {"nan"}


# ---- registry ---------------------------------------------------------------------------

def test_registry_names_and_availability():
    assert BACKEND_NAMES == ("numpy", "torch", "jax")
    avail = available_backends()
    assert set(avail) == set(BACKEND_NAMES) and avail["numpy"] is None
    assert parse_backends("torch, numpy,torch") == ["torch", "numpy"]
    with pytest.raises(UsageError, match="unknown backend"):
        parse_backends("numpy,tensorflow")


def test_missing_backend_gives_a_one_line_reason(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    reason = available_backends()["jax"]
    assert reason and "not installed" in reason and "\n" not in reason
    assert "jax" not in parse_backends(None)
    with pytest.raises(UsageError, match="jax is not installed"):
        get_backend("jax")


def test_unknown_name_device_or_precision_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown backend"):
        get_backend("tensorflow")
    with pytest.raises(UsageError, match="device"):
        get_backend("numpy", device="tpu")
    with pytest.raises(UsageError, match="precision"):
        get_backend("numpy", precision="fast")
    numpy_on_cuda = get_backend("numpy", device="cuda")  # the reference stays on the CPU, and says so
    assert numpy_on_cuda.device == "cpu" and "cuda" in numpy_on_cuda.settings()["note"]


@pytest.mark.parametrize("name", ["torch", "jax"])
def test_cuda_missing_is_a_usage_error(name):
    lib = pytest.importorskip(name)
    has_gpu = lib.cuda.is_available() if name == "torch" else any(d.platform == "gpu" for d in lib.devices())
    if has_gpu:
        pytest.skip("a GPU is present")
    with pytest.raises(UsageError, match="cuda"):
        get_backend(name, device="cuda")


def test_importing_backends_imports_neither_torch_nor_jax():
    code = ("import sys, crosscheck.backends as b, crosscheck.backends.torch, crosscheck.backends.jax;"
            "b.available_backends();"
            "print(sorted(m for m in ('torch', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_torch_batched_mode_is_checked():
    pytest.importorskip("torch")
    from crosscheck.backends.torch import TorchBackend

    assert TorchBackend().batched == "stacked" and TorchBackend().settings()["batched"] == "stacked"
    with pytest.raises(UsageError, match="batched must be"):
        TorchBackend(batched="loop")


def test_torch_small_calls_run_on_one_thread_and_restore_the_callers_count(monkeypatch):
    torch = pytest.importorskip("torch")
    from crosscheck.backends import torch as torch_backend

    saved = torch.get_num_threads()
    seen = []
    real_loss = torch_backend.user_loss

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(torch_backend, "user_loss", spy)
    try:
        torch.set_num_threads(2)
        backend = get_backend("torch")
        net = NET_NOBIAS
        d = draw(net, 3, batch_size=4, draws=8)
        backend.gradients_batched(net, None, d.params, d.X, d.Y)
        backend.gradients(_case(net, CONVENTIONS_NOBIAS[0], "float64"))
        assert seen == [1, 1] and torch.get_num_threads() == 2
        monkeypatch.setattr(torch_backend, "SMALL_ENTRIES", 1)  # every array counts as large now
        backend.gradients_batched(net, None, d.params, d.X, d.Y)
        assert seen[-1] == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)


def test_jax_launch_then_wait_equals_the_one_step_call():
    pytest.importorskip("jax")
    backend = get_backend("jax")
    net = NET_NOBIAS
    d = draw(net, 5, batch_size=3, draws=8)
    wait = backend.launch_batched(net, None, d.params, d.X, d.Y)
    other = backend.gradients_batched(net, None, d.params, d.X, d.Y)  # work done while it runs
    got = wait()
    for (gW, gb), (oW, ob) in zip(got, other):
        assert np.array_equal(gW, oW) and (gb is None) == (ob is None)
