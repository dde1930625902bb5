"""Each convention's "how to make them agree", run: after the fix, torch and JAX give the same answer
(values and derivatives, float64) at the point where the audit shows them differ."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy
F = torch.nn.functional

from crosscheck.audit.table import CONVENTIONS  # noqa: E402


def t_eval(f, x):
    """torch value and derivative of sum(f(x)) in float64."""
    t = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    y = f(t)
    (g,) = torch.autograd.grad(y.sum(), t)
    return y.detach().numpy(), g.numpy()


def j_eval(f, x):
    with jax.enable_x64(True):
        xj = jnp.asarray(np.asarray(x, dtype=np.float64))
        y, vjp = jax.vjp(f, xj)
        (g,) = vjp(jnp.ones_like(y))
        return np.asarray(y), np.asarray(g)


def agree(a, b):
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-300)


def differ(a, b):
    assert not all(np.allclose(u, v, rtol=1e-12, atol=0) for u, v in zip(a, b))


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_fix_of(convention):
    FIXES[convention]()


def _gelu():
    x = [-1.0, 1.0, 3.0]
    differ(t_eval(F.gelu, x), j_eval(jax.nn.gelu, x))
    agree(t_eval(F.gelu, x), j_eval(lambda v: jax.nn.gelu(v, approximate=False), x))
    agree(t_eval(lambda v: F.gelu(v, approximate="tanh"), x), j_eval(jax.nn.gelu, x))


def _softplus():
    x = [20.001, 30.0]
    differ(t_eval(F.softplus, x), j_eval(jax.nn.softplus, x))
    agree(t_eval(lambda v: torch.logaddexp(v, torch.zeros_like(v)), x), j_eval(jax.nn.softplus, x))
    agree(t_eval(F.softplus, x), j_eval(lambda v: jnp.where(v > 20.0, v, jax.nn.softplus(v)), x))


def _relu_spellings():
    x = [0.0]
    differ(t_eval(lambda v: torch.clamp(v, min=0), x), j_eval(lambda v: jnp.clip(v, min=0.0), x))
    differ(t_eval(lambda v: torch.maximum(v, torch.zeros_like(v)), x), j_eval(jax.nn.relu, x))
    agree(t_eval(torch.relu, x), j_eval(jax.nn.relu, x))
    agree(t_eval(lambda v: torch.where(v > 0, v, torch.zeros_like(v)), x),
          j_eval(lambda v: jnp.where(v > 0, v, 0.0), x))


def _abs():
    x = [0.0]
    differ(t_eval(torch.abs, x), j_eval(jnp.abs, x))

    @jax.custom_jvp
    def abs0(v):
        return jnp.abs(v)

    @abs0.defjvp
    def _(primals, tangents):
        (v,), (dv,) = primals, tangents
        return jnp.abs(v), jnp.where(v == 0, 0.0, jnp.sign(v)) * dv

    agree(t_eval(torch.abs, x), j_eval(abs0, x))


def _leaky():
    x = [0.0]
    differ(t_eval(F.leaky_relu, x), j_eval(jax.nn.leaky_relu, x))
    agree(t_eval(F.leaky_relu, x), j_eval(lambda v: jnp.where(v > 0, v, 0.01 * v), x))


def _hardtanh():
    x = [-1.0, 1.0]
    differ(t_eval(F.hardtanh, x), j_eval(jax.nn.hard_tanh, x))
    agree(t_eval(lambda v: torch.clamp(v, -1, 1), x), j_eval(jax.nn.hard_tanh, x))


def _max():
    x = [3.0, 3.0, 1.0]
    differ(t_eval(lambda v: torch.max(v, dim=-1).values, x), j_eval(lambda v: jnp.max(v, axis=-1), x))
    agree(t_eval(lambda v: torch.amax(v, dim=-1), x), j_eval(lambda v: jnp.max(v, axis=-1), x))


def _norm():
    x = [0.0, 0.0]
    differ(t_eval(torch.linalg.vector_norm, x), j_eval(jnp.linalg.norm, x))
    t = t_eval(torch.linalg.vector_norm, x)
    y, g = j_eval(lambda v: jnp.sqrt(jnp.sum(v * v) + 1e-300), x)
    np.testing.assert_allclose(g, t[1])
    np.testing.assert_allclose(y, t[0], atol=1e-150)


def _var():
    x = [0.0, 1.0, 3.0]
    differ(t_eval(torch.var, x), j_eval(jnp.var, x))
    agree(t_eval(lambda v: torch.var(v, correction=0), x), j_eval(jnp.var, x))
    agree(t_eval(torch.var, x), j_eval(lambda v: jnp.var(v, ddof=1), x))


A, Y = [[0.5, -1.0], [2.0, 0.0]], torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)


def _mse():
    yj = jnp.asarray(np.asarray(Y))
    agree(t_eval(lambda a: F.mse_loss(a, Y), A), j_eval(lambda a: jnp.mean((a - yj) ** 2), A))
    sse_mean = t_eval(lambda a: F.mse_loss(a, Y, reduction="sum") / a.shape[0], A)
    from crosscheck.audit.models import MODELS

    a = np.asarray(A)
    np.testing.assert_allclose(sse_mean[0], MODELS["mse"].value(a, Y.numpy()))
    with jax.enable_x64(True):
        agree(sse_mean, j_eval(lambda v: ((v - yj) ** 2).sum(-1).mean(), A))


def _optax_l2():
    optax = pytest.importorskip("optax")
    yj = jnp.asarray(np.asarray(Y))
    differ(t_eval(lambda a: F.mse_loss(a, Y), A), j_eval(lambda a: optax.l2_loss(a, yj).mean(), A))
    agree(t_eval(lambda a: F.mse_loss(a, Y), A), j_eval(lambda a: optax.squared_error(a, yj).mean(), A))


def _bce():
    p, y = [[0.0], [0.5]], torch.tensor([[1.0], [1.0]], dtype=torch.float64)
    yj = jnp.asarray(np.asarray(y))
    clamped = t_eval(lambda v: F.binary_cross_entropy(v, y), p)
    naive = j_eval(lambda v: -(yj * jnp.log(v) + (1 - yj) * jnp.log1p(-v)).mean(), p)
    assert np.isinf(naive[0]) and np.isfinite(clamped[0])
    fixed = j_eval(lambda v: -(yj * jnp.maximum(jnp.log(v), -100) + (1 - yj) * jnp.maximum(jnp.log1p(-v), -100))
                   .mean(), p)
    np.testing.assert_allclose(fixed[0], clamped[0])  # the value; torch's derivative clamps p(1-p) instead


def _ignore_index():
    optax = pytest.importorskip("optax")
    z = [[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]]
    labels = jnp.array([2, -100])
    keep = labels != -100
    torch_ce = t_eval(lambda v: F.cross_entropy(v, torch.tensor([2, -100])), z)

    def masked(v):
        per = optax.softmax_cross_entropy_with_integer_labels(v, jnp.where(keep, labels, 0))
        return (per * keep).sum() / keep.sum()

    agree(torch_ce, j_eval(masked, z))


def _expm1():
    x = [-30.0]
    differ(t_eval(F.elu, x), j_eval(jax.nn.elu, x))

    @jax.custom_jvp
    def elu(v):
        return jax.nn.elu(v)

    @elu.defjvp
    def _(primals, tangents):
        (v,), (dv,) = primals, tangents
        return elu(v), jnp.where(v > 0, 1.0, jnp.exp(jnp.minimum(v, 0.0))) * dv

    agree(t_eval(F.elu, x), j_eval(elu, x))


def _gelu_tail():
    x = [-10.0]
    exact = j_eval(lambda v: jax.nn.gelu(v, approximate=False), x)
    differ(t_eval(F.gelu, x), exact)
    agree(t_eval(F.gelu, x), j_eval(lambda v: 0.5 * v * (1 + jax.scipy.special.erf(v / 2 ** 0.5)), x))
    np.testing.assert_allclose(t_eval(lambda v: 0.5 * v * torch.special.erfc(-v / 2 ** 0.5), x)[0], exact[0],
                               rtol=1e-12)


def _ftz():
    with jax.enable_x64(False):
        j = float(jax.nn.softplus(jnp.float32(-100.0)))
    t = torch.tensor([-100.0])
    assert j == 0.0 and F.softplus(t).item() > 0
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush denormals in torch")
    try:
        assert F.softplus(t).item() == j
    finally:
        torch.set_flush_denormal(False)


def _softmax_dim():
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])
    with jax.enable_x64(True):
        for tf, jf in ((F.softmax, jax.nn.softmax), (F.log_softmax, jax.nn.log_softmax)):
            np.testing.assert_allclose(tf(torch.tensor(x), dim=-1).numpy(), np.asarray(jf(jnp.asarray(x))))
            assert not np.allclose(tf(torch.tensor(x), dim=0).numpy(), np.asarray(jf(jnp.asarray(x))))


def _loss_reduction():
    optax = pytest.importorskip("optax")
    z, p = [[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]], [[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]
    pt = torch.tensor(p, dtype=torch.float64)
    with jax.enable_x64(True):
        per = optax.softmax_cross_entropy(jnp.asarray(z), jnp.asarray(p))
    assert per.shape == (2,)
    agree(t_eval(lambda v: F.cross_entropy(v, pt), z),
          j_eval(lambda v: optax.softmax_cross_entropy(v, jnp.asarray(p)).mean(), z))
    np.testing.assert_allclose(F.cross_entropy(torch.tensor(z), pt, reduction="none").numpy(), np.asarray(per))


def _flax_norm(kind):
    linen = pytest.importorskip("flax.linen")
    x = np.array([[1.0, 3.0, -2.0, 0.5], [0.0, 2.0, 1.0, -1.0]], dtype=np.float32)
    if kind == "layer":
        torch_out = torch.nn.LayerNorm(4)(torch.tensor(x)).detach().numpy()
        make = lambda eps: linen.LayerNorm(epsilon=eps) if eps else linen.LayerNorm()  # noqa: E731
    else:
        torch_out = torch.nn.GroupNorm(2, 4)(torch.tensor(x)).detach().numpy()
        make = lambda eps: linen.GroupNorm(num_groups=2, epsilon=eps) if eps else linen.GroupNorm(num_groups=2)  # noqa: E731
    outs = {}
    for eps in (None, 1e-5):
        m = make(eps)
        v = m.init(jax.random.key(0), jnp.asarray(x))
        outs[eps] = np.asarray(m.apply(v, jnp.asarray(x)))
    assert not np.allclose(outs[None], torch_out, rtol=1e-7, atol=0)
    np.testing.assert_allclose(outs[1e-5], torch_out, rtol=2e-6, atol=1e-6)


def _batchnorm(stat):
    linen = pytest.importorskip("flax.linen")
    x = np.array([[1.0], [3.0]], dtype=np.float32)
    bn = torch.nn.BatchNorm1d(1)
    bn.train()
    bn(torch.tensor(x))

    def flax_stats(momentum):
        m = linen.BatchNorm(use_running_average=False, momentum=momentum)
        v = {"params": {"scale": jnp.ones(1), "bias": jnp.zeros(1)},
             "batch_stats": {"mean": jnp.zeros(1), "var": jnp.ones(1)}}
        return m.apply(v, jnp.asarray(x), mutable=["batch_stats"])[1]["batch_stats"]

    if stat == "mean":
        assert not np.allclose(flax_stats(0.99)["mean"], bn.running_mean.numpy())
        np.testing.assert_allclose(flax_stats(0.9)["mean"], bn.running_mean.numpy(), rtol=1e-6)
    else:  # the batch-variance term differs by m / (m - 1) = 2
        new_torch = bn.running_var.numpy() - 0.9
        new_flax = np.asarray(flax_stats(0.9)["var"]) - 0.9
        np.testing.assert_allclose(new_torch, new_flax * 2, rtol=1e-5)


def _same_padding():
    w = torch.tensor(np.random.RandomState(0).normal(size=(2, 2, 3, 3)))
    x = np.random.RandomState(1).normal(size=(1, 2, 4, 4))

    def lax(padding):  # the kernel made inside j_eval's float64 scope
        return lambda v: jax.lax.conv_general_dilated(v, jnp.asarray(w.numpy()), (2, 2), padding)
    differ(t_eval(lambda v: F.conv2d(v, w, stride=2, padding=1), x), j_eval(lax("SAME"), x))
    agree(t_eval(lambda v: F.conv2d(v, w, stride=2, padding=1), x), j_eval(lax([(1, 1), (1, 1)]), x))
    agree(t_eval(lambda v: F.conv2d(F.pad(v, (0, 1, 0, 1)), w, stride=2), x), j_eval(lax("SAME"), x))


def _avgpool():
    x = np.random.RandomState(2).normal(size=(1, 1, 5, 5))
    pad = ((0, 0), (0, 0), (1, 1), (1, 1))

    def window_sum(v):
        return jax.lax.reduce_window(v, 0.0, jax.lax.add, (1, 1, 3, 3), (1, 1, 2, 2), pad)
    exclude = t_eval(lambda v: F.avg_pool2d(v, 3, 2, padding=1, count_include_pad=False), x)
    differ(exclude, j_eval(lambda v: window_sum(v) / 9, x))
    agree(t_eval(lambda v: F.avg_pool2d(v, 3, 2, padding=1), x), j_eval(lambda v: window_sum(v) / 9, x))
    agree(exclude, j_eval(lambda v: window_sum(v) / window_sum(jnp.ones_like(v)), x))


def _attention_float32():
    x = np.random.RandomState(3).normal(size=(1, 1, 3, 4))

    def by_hand(v):
        return jax.nn.softmax(v @ jnp.swapaxes(v, -1, -2) / jnp.sqrt(4.0), axis=-1) @ v

    def library(v):
        q = jnp.swapaxes(v, 1, 2)
        return jnp.swapaxes(jax.nn.dot_product_attention(q, q, q), 1, 2)
    torch_side = t_eval(lambda v: F.scaled_dot_product_attention(v, v, v), x)
    differ(torch_side, j_eval(library, x))
    agree(torch_side, j_eval(by_hand, x))


FIXES = {
    "gelu-approximate": _gelu, "softplus-threshold": _softplus, "maximum-tie": _relu_spellings,
    "clamp-bound-inside": _relu_spellings, "abs-sign": _abs, "leaky-relu-kink": _leaky,
    "hardtanh-bound": _hardtanh, "max-tie": _max, "norm-at-zero": _norm, "var-correction": _var,
    "mse-mean-elements": _mse, "optax-l2-half": _optax_l2, "bce-log-clamp": _bce, "ignore-index": _ignore_index,
    "jax-expm1-grad": _expm1, "gelu-erf-tail": _gelu_tail, "xla-ftz": _ftz, "softmax-dim": _softmax_dim,
    "loss-reduction": _loss_reduction, "layernorm-eps": lambda: _flax_norm("layer"),
    "groupnorm-eps": lambda: _flax_norm("group"), "batchnorm-momentum": lambda: _batchnorm("mean"),
    "batchnorm-running-var": lambda: _batchnorm("var"), "same-padding-asymmetric": _same_padding,
    "avgpool-count-include-pad": _avgpool, "attention-softmax-float32": _attention_float32,
}


def test_every_convention_has_a_fix_test():
    assert set(FIXES) == set(CONVENTIONS)
