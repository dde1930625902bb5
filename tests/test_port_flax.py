"""The port check with flax (optional: skipped without it): linen modules with the built-in rules
placed into flax's own parameter tree, flax's defaults named from the audit's table, train vs eval
mode, and an nnx module."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("jax")
pytest.importorskip("flax")

import _port_models as pm  # noqa: E402
import flax.linen as nn  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from crosscheck.port import check_port  # noqa: E402


class FlaxCNN(nn.Module):
    """The CNN of _port_models in flax: NHWC inside, torch's NCHW at the door."""

    padding2: object = ((1, 1), (1, 1))

    def setup(self):
        self.conv1 = nn.Conv(4, (3, 3), padding=((1, 1), (1, 1)))
        self.conv2 = nn.Conv(4, (3, 3), strides=(2, 2), padding=self.padding2)
        self.head = nn.Dense(3)

    def __call__(self, x):
        x = jnp.transpose(x, (0, 2, 3, 1))
        h = self.conv2(nn.relu(self.conv1(x)))
        return self.head(h.mean((1, 2)))


class FlaxMLP(nn.Module):
    eps: float | None = 1e-5  # None: flax's own default

    def setup(self):
        self.fc1, self.fc2, self.head = nn.Dense(8), nn.Dense(8), nn.Dense(4)
        self.ln = nn.LayerNorm() if self.eps is None else nn.LayerNorm(epsilon=self.eps)

    def __call__(self, x):
        return self.head(self.ln(self.fc2(nn.gelu(self.fc1(x), approximate=False))))


class FlaxBN(nn.Module):
    train: bool = False

    @nn.compact
    def __call__(self, x):
        h = nn.Dense(6, name="fc")(x)
        h = nn.BatchNorm(use_running_average=not self.train, momentum=0.9, epsilon=1e-5, name="bn")(h)
        return nn.Dense(3, name="head")(nn.relu(h))


CNN_OPTS = dict(input_shape=("B", 4, "H", "H"), sizes={"H": [4]})


def test_a_flax_cnn_port_passes_both_directions_and_dtypes():
    result = check_port(pm.seeded(pm.CNN), FlaxCNN(), examples=2, **CNN_OPTS)
    assert result.ok, result.report()
    assert {o.direction for o in result.outcomes} == {"torch->jax", "jax->torch"}
    assert {o.dtype for o in result.outcomes} == {"float64", "float32"}


def test_flax_same_padding_is_named_at_its_conv_and_located_by_intermediates():
    result = check_port(pm.seeded(pm.CNN), FlaxCNN(padding2="SAME"), dtypes=("float64",),
                        directions=("torch->jax",), examples=1, **CNN_OPTS)
    assert not result.ok
    assert result.departure == "conv2", result.report()
    assert result.findings[0].path == "conv2" and "'SAME' padding" in result.findings[0].mistake


def test_flax_layernorm_default_eps_is_named_from_the_audit_table():
    result = check_port(pm.seeded(pm.MLP), FlaxMLP(eps=None), input_shape=("B", 8), dtypes=("float64",),
                        directions=("torch->jax",), examples=1)
    f = result.findings[0]
    assert f.path == "ln" and "eps 1e-06 where torch uses 1e-05 (flax's default" in f.mistake, result.report()
    assert f.convention == "layernorm-eps" and f.fix == "flax.linen.LayerNorm(epsilon=1e-05)"
    assert result.departure == "ln"


def test_flax_batchnorm_in_training_mode_is_train_vs_eval():
    result = check_port(pm.seeded(pm.BNNet), FlaxBN(train=True), input_shape=("B", 6), sizes={"B": [2]},
                        dtypes=("float64",), directions=("torch->jax",), examples=1)
    assert not result.ok
    assert "train vs eval mode" in result.findings[0].mistake and result.findings[0].path == "bn", result.report()


def test_a_flax_batchnorm_port_passes():
    result = check_port(pm.seeded(pm.BNNet), FlaxBN(), input_shape=("B", 6), sizes={"B": [2]}, examples=1)
    assert result.ok, result.report()


def test_an_nnx_port_passes():
    from flax import nnx

    class NNXMLP(nnx.Module):
        def __init__(self):
            rngs = nnx.Rngs(0)
            self.fc1, self.fc2, self.head = nnx.Linear(8, 8, rngs=rngs), nnx.Linear(8, 8, rngs=rngs), \
                nnx.Linear(8, 4, rngs=rngs)
            self.ln = nnx.LayerNorm(8, epsilon=1e-5, rngs=rngs)

        def __call__(self, x):
            return self.head(self.ln(self.fc2(nnx.gelu(self.fc1(x), approximate=False))))

    result = check_port(pm.seeded(pm.MLP), NNXMLP(), input_shape=("B", 8), examples=1)
    assert result.ok, result.report()


@pytest.mark.slow
def test_the_docs_cnn_port_is_what_docs_port_md_says():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "docs" / "port" / "cnn_port.py"
    spec = importlib.util.spec_from_file_location("docs_port_cnn", path)
    cnn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cnn)
    opts = dict(input_shape=("B", 3, "H", "H"), sizes={"H": [8]})
    assert check_port(cnn.make_torch(), cnn.make_jax(), examples=2, **opts).ok
    bad = check_port(cnn.make_torch(), cnn.make_jax_same(), examples=1, **opts)
    assert bad.departure == "conv2" and bad.findings[0].path == "conv2"
    assert "'SAME' padding" in bad.findings[0].mistake


def test_flax_batchnorm_running_statistics_in_training_mode_are_named():
    """flax updates the running variance with the biased batch variance (no flag changes it), and its
    default momentum 0.99 is the old statistics' weight: both named after one training step."""
    opts = dict(input_shape=("B", 6), sizes={"B": [3]}, dtypes=("float64",), directions=("torch->jax",),
                examples=1, train=True)
    r = check_port(pm.seeded(pm.BNNet), FlaxBN(train=True), **opts)
    assert [q.name for q in r.failure.failing] == ["bn.running_var (after one training step)"], r.report()
    assert r.findings[0].path == "bn" and "biased batch variance" in r.findings[0].mistake

    class DefaultMomentum(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.Dense(6, name="fc")(x)
            h = nn.BatchNorm(use_running_average=False, epsilon=1e-5, name="bn")(h)
            return nn.Dense(3, name="head")(nn.relu(h))
    r = check_port(pm.seeded(pm.BNNet), DefaultMomentum(), **opts)
    assert "flax's default momentum 0.99" in r.findings[0].mistake, r.report()
