"""The audit table: every function pair torch and JAX spell the same, where to probe it, and every
known convention that makes their answers differ (with the fix).

Adding a function is one ``Probe`` in ``probes_for``; a documented difference is a ``Side`` with a
``model`` (what the spelling computes, ``crosscheck.audit.models``) and a ``convention``. Kink
subgradients come from ``crosscheck.model.kinks`` (the table the sweep's triage reads), and
thresholds and slopes from the installed libraries' signatures (``defaults``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..model.kinks import KINK_CONVENTIONS
from . import models as M
from .spec import Convention, Point, Probe, Side

__all__ = ["probes_for", "CONVENTIONS"]


def _c(id: str, note: str, fix: str) -> Convention:
    return Convention(id, note, fix)


CONVENTIONS: dict[str, Convention] = {c.id: c for c in (
    _c("gelu-approximate", "jax.nn.gelu defaults to approximate=True (the tanh form); torch's F.gelu to "
       "the exact erf form", "jax.nn.gelu(x, approximate=False)  # or F.gelu(x, approximate='tanh')"),
    _c("softplus-threshold", "torch's F.softplus returns x itself where beta*x > threshold ({torch}): "
       "value and derivative differ from log(1+exp(x)) by ~exp(-threshold) (visible in float64)",
       "torch.logaddexp(x, torch.zeros_like(x)) is exact in torch; jnp.where(x > {torch}, x, "
       "jax.nn.softplus(x)) reproduces torch in JAX"),
    _c("maximum-tie", "maximum/clip split a tie: derivative 1/2 to each argument at the kink",
       "torch.relu / jax.nn.relu (derivative 0 at 0) in both"),
    _c("clamp-bound-inside", "torch.clamp counts the bound as inside: derivative 1 at the bound; "
       "jnp.clip splits the tie (1/2)", "torch.relu / jax.nn.relu in both, or write the same where()"),
    _c("abs-sign", "jnp.abs has derivative 1 at 0 (select(x >= 0, 1, -1)); torch.abs uses sign(0) = 0",
       "torch.sign(x) * g, or jnp.where(x == 0, 0, jnp.sign(x)) in a custom_jvp"),
    _c("leaky-relu-kink", "jax.nn.leaky_relu is where(x >= 0, x, slope*x): derivative 1 at 0; torch "
       "takes the negative slope there", "jnp.where(x > 0, x, 0.01 * x) in JAX reproduces torch"),
    _c("hardtanh-bound", "jax.nn.hard_tanh has derivative 1 at +-1 (the bounds count as inside); "
       "torch's F.hardtanh 0", "jnp.clip(x, -1, 1) splits the tie (1/2); torch.clamp(x, -1, 1) gives 1 like JAX"),
    _c("max-tie", "torch.max(x, dim) returns an argmax: its derivative goes to one maximum; jnp.max "
       "splits a tie evenly", "torch.amax(x, dim) splits evenly like jnp.max"),
    _c("norm-at-zero", "jnp.linalg.norm's derivative at the zero vector is nan (x / |x| = 0/0); "
       "torch.linalg.vector_norm defines it as 0", "jnp.sqrt(jnp.sum(x * x) + eps), or a double-where "
       "guard, in JAX"),
    _c("var-correction", "torch.var/std default to the unbiased estimate (correction={torch}); jnp.var/std "
       "to the biased one (ddof={jax})", "torch.var(x, correction=0) or jnp.var(x, ddof=1)"),
    _c("mse-mean-elements", "F.mse_loss(reduction='mean') averages over all m*n elements; crosscheck's "
       "sse with mean reduction sums over outputs and averages over the m samples",
       "F.mse_loss(a, y, reduction='sum') / m is crosscheck's sse/mean; in JAX ((a - y) ** 2).sum(-1).mean()"),
    _c("optax-l2-half", "optax.l2_loss is 1/2 (a - y)^2 per element, not the squared error",
       "optax.squared_error(a, y).mean() equals F.mse_loss(a, y)"),
    _c("bce-log-clamp", "F.binary_cross_entropy clamps each log at -100 (and the derivative's p(1-p) at "
       "1e-12): finite where log(0) is -inf", "jnp.maximum(jnp.log(p), -100) in JAX reproduces torch; "
       "better, use logits: F.binary_cross_entropy_with_logits / optax.sigmoid_binary_cross_entropy"),
    _c("ignore-index", "F.cross_entropy drops samples labelled ignore_index ({torch}) from the sum and the "
       "count; JAX's take_along_axis / optax give nan for that label",
       "mask in JAX: optax.softmax_cross_entropy_with_integer_labels(z, jnp.where(keep, y, 0)) "
       "averaged over keep"),
    _c("softmax-dim", "F.softmax/log_softmax have no default axis (dim=None: an implicit, deprecated "
       "choice by input rank); jax.nn.softmax uses the last axis", "pass dim=-1 to F.softmax / F.log_softmax"),
    _c("loss-reduction", "torch losses average by default (reduction='mean'); optax losses return "
       "per-example values", "append .mean() to the optax loss, or pass reduction='none' to torch"),
    _c("layernorm-eps", "LayerNorm's eps: torch {torch}, flax {jax}", "flax.linen.LayerNorm(epsilon={torch}) "
       "or torch.nn.LayerNorm(n, eps={jax})"),
    _c("groupnorm-eps", "GroupNorm's eps: torch {torch}, flax {jax}", "flax.linen.GroupNorm(epsilon={torch}) "
       "or torch.nn.GroupNorm(g, c, eps={jax})"),
    _c("batchnorm-momentum", "BatchNorm momentum is opposite conventions: torch running = (1 - m) running + "
       "m batch (default m = {torch}); flax running = m running + (1 - m) batch (default m = {jax})",
       "flax.linen.BatchNorm(momentum=0.9) matches torch's default; torch.nn.BatchNorm1d(n, momentum=0.01) "
       "matches flax's"),
    _c("batchnorm-running-var", "BatchNorm's running variance: torch updates it with the unbiased batch "
       "variance, flax with the biased one (both normalise with the biased one)",
       "no option changes either; rescale by m / (m - 1) when porting running statistics"),
    _c("jax-expm1-grad", "JAX differentiates expm1 as expm1(x) + 1: elu/selu derivatives lose their digits "
       "in the negative tail (exactly 0 in float32 below x ~ -17; 1.7e-4 relative error at x = -30 in float64)",
       "a jax.custom_jvp whose derivative is alpha * exp(x) for x <= 0 agrees with torch (exact); "
       "the difference is below 1e-7 in absolute terms"),
    _c("gelu-erf-tail", "torch's erf gelu computes 0.5 x (1 + erf(x/sqrt2)): in the far negative tail 1 + erf "
       "cancels to 0 (x < -8 in float64); jax.nn.gelu(approximate=False) uses erfc there and keeps the "
       "~1e-16 and smaller values", "0.5 * x * (1 + jax.scipy.special.erf(x / 2 ** 0.5)) reproduces torch in JAX; "
       "0.5 * x * torch.special.erfc(-x / 2 ** 0.5) is exact in torch"),
    _c("same-padding-asymmetric", "'SAME' padding (lax, flax.linen.Conv's default) pads total // 2 before and the "
       "rest after: asymmetric when the total is odd (an even kernel, or stride 2 on an even size); torch's "
       "padding=p pads p on both sides", "explicit pairs in JAX: padding=[(1, 1), (1, 1)]; or F.pad(x, (0, 1, 0, 1)) "
       "before a padding=0 conv in torch"),
    _c("avgpool-count-include-pad", "a window sum divided by the window size counts padded zeros (torch's "
       "avg_pool2d default, count_include_pad=True); count_include_pad=False divides by the real entries only",
       "divide the window sum by the window sum of ones: reduce_window(x) / reduce_window(ones_like(x)) in JAX"),
    _c("attention-softmax-float32", "jax.nn.dot_product_attention computes its softmax in float32 whatever the "
       "input dtype: float64 attention agrees with torch's to ~1e-7, not 1e-15 (both scale by 1/sqrt(d) and "
       "read a boolean mask as True = may attend; nn.MultiheadAttention's attn_mask is the opposite, True = masked)",
       "write it out in float64: jax.nn.softmax(q @ k.T / jnp.sqrt(d), axis=-1) @ v"),
    _c("xla-ftz", "XLA on CPU flushes some float32 results below the smallest normal number (1.2e-38) "
       "to 0; torch keeps the subnormal",
       "torch.set_flush_denormal(True) flushes in torch too; or compare tails in float64"),
)}


def _kink_model(function: str, library: str, expression: str, value, prime) -> M.Model:
    """``value`` with the derivative ``prime`` except exactly at the kinks, where it is what
    crosscheck.model.kinks records for ``expression`` (the claim the audit then checks)."""
    at = {c.kink: c.subgradient for c in KINK_CONVENTIONS
          if c.function == function and c.library == library and c.expression == expression}
    if not at:
        raise KeyError(f"{expression} is not in crosscheck.model.kinks")
    return M.with_kinks(value, prime, at)


def _relu_value(x):
    return np.maximum(x, 0 * x)


def _relu_prime(x):
    return (x > 0).astype(x.dtype)


def _ew(label_x: list[tuple[str, float]]) -> tuple[Point, ...]:
    return tuple(Point(label, x) for label, x in label_x)


_RELU_POINTS = _ew([("negative", -2.0), ("kink", 0.0), ("positive", 1.5)])


def _relu_spelling(name: str, texpr: str, tmake, jexpr: str, jmake, convention: str | None = None) -> Probe:
    """relu spelled another way; its derivative at 0 is the one crosscheck.model.kinks records."""
    ref = M.activation("relu")
    sides = []
    for lib, expr, make in (("torch", texpr, tmake), ("jax", jexpr, jmake)):
        model = _kink_model("relu", lib, expr, _relu_value, _relu_prime)
        g = [c.subgradient for c in KINK_CONVENTIONS if c.expression == expr][0]
        conv = CONVENTIONS[convention] if g != 0.0 and convention else None
        sides.append(Side(expr, make, model if conv else None, conv))
    return Probe(name, ref, "crosscheck.model.activations relu (relu'(0) = 0)", sides[0], sides[1], _RELU_POINTS)


def _scalar(f):
    """A make() for a function of x alone."""
    return lambda L: (lambda x, t: f(L)(x))


def _activation_probes(d: dict[str, Any]) -> list[Probe]:
    thr, beta = d["softplus.threshold"], d["softplus.beta"]
    lo, hi = d["hardtanh.min_val"], d["hardtanh.max_val"]
    P = []
    P.append(_relu_spelling("relu", "torch.relu(x)", _scalar(lambda L: L.torch.relu),
                            "jax.nn.relu(x)", _scalar(lambda L: L.jax.nn.relu)))
    P.append(_relu_spelling("relu (where)", "torch.where(x > 0, x, 0)",
                            _scalar(lambda L: lambda x: L.torch.where(x > 0, x, L.torch.zeros_like(x))),
                            "jnp.where(x > 0, x, 0)", _scalar(lambda L: lambda x: L.jnp.where(x > 0, x, 0.0))))
    P.append(_relu_spelling("relu (maximum)", "torch.maximum(x, 0)",
                            _scalar(lambda L: lambda x: L.torch.maximum(x, L.torch.zeros_like(x))),
                            "jnp.maximum(x, 0)", _scalar(lambda L: lambda x: L.jnp.maximum(x, 0.0)), "maximum-tie"))
    P.append(_relu_spelling("relu (clamp)", "torch.clamp(x, min=0)",
                            _scalar(lambda L: lambda x: L.torch.clamp(x, min=0)),
                            "jnp.clip(x, min=0)", _scalar(lambda L: lambda x: L.jnp.clip(x, min=0.0)),
                            "clamp-bound-inside"))
    P.append(Probe("abs", M.MODELS["abs"], "|x|, sign(0) = 0 (the minimum-norm subgradient)",
                   Side("torch.abs(x)", _scalar(lambda L: L.torch.abs)),
                   Side("jnp.abs(x)", _scalar(lambda L: L.jnp.abs),
                        _kink_model("abs", "jax", "jnp.abs(x)", np.abs, np.sign), CONVENTIONS["abs-sign"]),
                   _RELU_POINTS))
    slope, alpha = d["leaky_relu.negative_slope.jax"], d["elu.alpha.jax"]  # JAX's own defaults
    P.append(Probe("leaky_relu", M.activation("leaky_relu"),
                   "crosscheck.model.activations leaky_relu (slope 0.01 at 0)",
                   Side("F.leaky_relu(x)", _scalar(lambda L: L.F.leaky_relu)),
                   Side("jax.nn.leaky_relu(x)", _scalar(lambda L: L.jax.nn.leaky_relu),
                        _kink_model("leaky_relu", "jax", "jax.nn.leaky_relu(x)",
                                    lambda x: np.where(x > 0, x, slope * x), lambda x: np.where(x > 0, 1.0, slope)),
                        CONVENTIONS["leaky-relu-kink"]),
                   _ew([("negative", -2.0), ("kink", 0.0), ("positive", 1.5), ("tail", -1000.0)])))
    for name, texpr, tf, jexpr, jf, pts in (
        ("elu", "F.elu(x)", lambda L: L.F.elu, "jax.nn.elu(x)", lambda L: L.jax.nn.elu,
         [("tail", -30.0), ("negative", -1.0), ("kink", 0.0), ("positive", 1.5)]),
        ("selu", "F.selu(x)", lambda L: L.F.selu, "jax.nn.selu(x)", lambda L: L.jax.nn.selu,
         [("tail", -30.0), ("negative", -1.0), ("kink", 0.0), ("positive", 1.5)]),
        ("silu", "F.silu(x)", lambda L: L.F.silu, "jax.nn.silu(x)", lambda L: L.jax.nn.silu,
         [("tail", -100.0), ("tail", -30.0), ("negative", -1.0), ("zero", 0.0), ("positive", 1.0), ("tail", 30.0)]),
        ("sigmoid", "torch.sigmoid(x)", lambda L: L.torch.sigmoid, "jax.nn.sigmoid(x)", lambda L: L.jax.nn.sigmoid,
         [("tail", -1000.0), ("tail", -30.0), ("zero", 0.0), ("positive", 1.0), ("tail", 30.0), ("tail", 1000.0)]),
        ("tanh", "torch.tanh(x)", lambda L: L.torch.tanh, "jnp.tanh(x)", lambda L: L.jnp.tanh,
         [("tail", -20.0), ("negative", -1.0), ("zero", 0.0), ("positive", 1.0), ("tail", 20.0)]),
        ("log_sigmoid", "F.logsigmoid(x)", lambda L: L.F.logsigmoid, "jax.nn.log_sigmoid(x)",
         lambda L: L.jax.nn.log_sigmoid,
         [("tail", -1000.0), ("tail", -30.0), ("zero", 0.0), ("positive", 1.0), ("tail", 30.0), ("tail", 1000.0)]),
    ):
        ref = M.activation(name) if name in ("elu", "sigmoid", "tanh") else M.MODELS[name]
        own = name in ("elu", "sigmoid", "tanh")
        where = f"crosscheck.model.activations {name}" if own else f"{name} (audit models)"
        jside = Side(jexpr, _scalar(jf))
        if name in ("elu", "selu"):  # JAX's expm1 derivative (and selu's kink from crosscheck.model.kinks)
            expm1 = M.expm1_grad(alpha) if name == "elu" else M.expm1_grad(M.SELU_ALPHA, M.SELU_SCALE)
            at = {c.kink: c.subgradient for c in KINK_CONVENTIONS if c.function == name and c.library == "jax"}
            jside = Side(jexpr, _scalar(jf), M.with_kinks(lambda x, m=expm1: m.value(x, None),
                                                          lambda x, m=expm1: m.vjp(x, None, 1.0), at),
                         CONVENTIONS["jax-expm1-grad"])
        P.append(Probe(name, ref, where, Side(texpr, _scalar(tf)), jside, _ew(pts)))
    gelu_pts = _ew([("tail", -10.0), ("negative", -1.0), ("zero", 0.0), ("positive", 1.0), ("positive", 3.0)])
    P.append(Probe("gelu", M.activation("gelu"), "crosscheck.model.activations gelu (erf form)",
                   Side("F.gelu(x)", _scalar(lambda L: L.F.gelu), M.gelu_one_plus_erf(), CONVENTIONS["gelu-erf-tail"]),
                   Side("jax.nn.gelu(x)", _scalar(lambda L: L.jax.nn.gelu), M.activation("gelu_tanh"),
                        CONVENTIONS["gelu-approximate"]), gelu_pts))
    P.append(Probe("gelu (erf)", M.activation("gelu"), "crosscheck.model.activations gelu (erf form)",
                   Side("F.gelu(x, approximate='none')", _scalar(lambda L: lambda x: L.F.gelu(x, approximate="none")),
                        M.gelu_one_plus_erf(), CONVENTIONS["gelu-erf-tail"]),
                   Side("jax.nn.gelu(x, approximate=False)",
                        _scalar(lambda L: lambda x: L.jax.nn.gelu(x, approximate=False))), gelu_pts))
    P.append(Probe("gelu (tanh)", M.activation("gelu_tanh"), "crosscheck.model.activations gelu_tanh",
                   Side("F.gelu(x, approximate='tanh')", _scalar(lambda L: lambda x: L.F.gelu(x, approximate="tanh"))),
                   Side("jax.nn.gelu(x, approximate=True)",
                        _scalar(lambda L: lambda x: L.jax.nn.gelu(x, approximate=True))), gelu_pts))
    P.append(Probe("softplus", M.activation("softplus"), "crosscheck.model.activations softplus (log(1 + exp(x)))",
                   Side("F.softplus(x)", _scalar(lambda L: L.F.softplus), M.softplus_threshold(thr, beta),
                        CONVENTIONS["softplus-threshold"]),
                   Side("jax.nn.softplus(x)", _scalar(lambda L: L.jax.nn.softplus)),
                   _ew([("tail", -1000.0), ("tail", -30.0), ("zero", 0.0), ("positive", 1.0),
                        ("below threshold", thr / beta - 1e-3), ("threshold", thr / beta),
                        ("above threshold", thr / beta + 1e-3), ("tail", 30.0), ("tail", 1000.0)])))
    # XLA flushes some float32 subnormal results to zero; compared exactly below the smallest normal
    P.append(Probe("softplus (subnormal)", M.activation("softplus"), "crosscheck.model.activations softplus",
                   Side("F.softplus(x)", _scalar(lambda L: L.F.softplus)),
                   Side("jax.nn.softplus(x)", _scalar(lambda L: L.jax.nn.softplus),
                        M.ftz(M.activation("softplus")), CONVENTIONS["xla-ftz"]),
                   _ew([("float32 subnormal result", -100.0)]), dtypes=("float32",), exact_tiny=True))
    P.append(Probe("hardtanh", M.MODELS["hardtanh"], "clip(x, -1, 1), derivative 0 at the bounds (as relu'(0))",
                   Side("F.hardtanh(x)", _scalar(lambda L: L.F.hardtanh)),
                   Side("jax.nn.hard_tanh(x)", _scalar(lambda L: L.jax.nn.hard_tanh),
                        _kink_model("hardtanh", "jax", "jax.nn.hard_tanh(x)", lambda x: np.clip(x, -1, 1),
                                    lambda x: (np.abs(x) < 1).astype(x.dtype)), CONVENTIONS["hardtanh-bound"]),
                   _ew([("outside", lo - 1.0), ("kink", lo), ("inside", 0.5), ("kink", hi), ("outside", hi + 1.0)])))
    P.append(Probe("relu6", M.MODELS["relu6"], "clip(x, 0, 6), derivative 0 at the kinks",
                   Side("F.relu6(x)", _scalar(lambda L: L.F.relu6)), Side("jax.nn.relu6(x)",
                                                                        _scalar(lambda L: L.jax.nn.relu6)),
                   _ew([("negative", -1.0), ("kink", 0.0), ("inside", 3.0), ("kink", 6.0), ("outside", 7.0)])))
    return P


def _rows(*xs) -> tuple[Point, ...]:
    return tuple(Point(label, x) for label, x in xs)


def _vector_probes(d: dict[str, Any]) -> list[Probe]:
    w = np.array([1.0, -2.0, 3.0])
    pts = _rows(("distinct", [1.0, 2.0, 3.0]), ("tie", [1.0, 1.0, 1.0]), ("tail", [1000.0, 0.0, -1000.0]))
    P = [
        Probe("softmax", M.SOFTMAX, "exp(x) / sum(exp(x)) over the last axis",
              Side("F.softmax(x, dim=-1)", _scalar(lambda L: lambda x: L.F.softmax(x, dim=-1))),
              Side("jax.nn.softmax(x)", _scalar(lambda L: L.jax.nn.softmax)), pts, elementwise=False, weights=w),
        Probe("log_softmax", M.LOG_SOFTMAX, "x - logsumexp(x) over the last axis",
              Side("F.log_softmax(x, dim=-1)", _scalar(lambda L: lambda x: L.F.log_softmax(x, dim=-1))),
              Side("jax.nn.log_softmax(x)", _scalar(lambda L: L.jax.nn.log_softmax)), pts, elementwise=False,
              weights=w),
        Probe("max", M.MAX_SPLIT, "max over the last axis; a tie splits the derivative evenly",
              Side("torch.max(x, dim=-1).values", _scalar(lambda L: lambda x: L.torch.max(x, dim=-1).values),
                   M.MAX_FIRST, CONVENTIONS["max-tie"]),
              Side("jnp.max(x, axis=-1)", _scalar(lambda L: lambda x: L.jnp.max(x, axis=-1))),
              _rows(("distinct", [1.0, 3.0, 2.0]), ("tie", [3.0, 3.0, 1.0])), elementwise=False),
        Probe("max (amax)", M.MAX_SPLIT, "max over the last axis; a tie splits the derivative evenly",
              Side("torch.amax(x, dim=-1)", _scalar(lambda L: lambda x: L.torch.amax(x, dim=-1))),
              Side("jnp.max(x, axis=-1)", _scalar(lambda L: lambda x: L.jnp.max(x, axis=-1))),
              _rows(("distinct", [1.0, 3.0, 2.0]), ("tie", [3.0, 3.0, 1.0])), elementwise=False),
        Probe("norm", M.NORM, "sqrt(sum(x^2)); derivative 0 at the zero vector (minimum-norm subgradient)",
              Side("torch.linalg.vector_norm(x)", _scalar(lambda L: L.torch.linalg.vector_norm)),
              Side("jnp.linalg.norm(x)", _scalar(lambda L: L.jnp.linalg.norm), M.NORM_NAN_AT_ZERO,
                   CONVENTIONS["norm-at-zero"]),
              _rows(("nonzero", [3.0, 4.0]), ("zero vector", [0.0, 0.0])), elementwise=False),
        Probe("var", M.MODELS["var"], "NumPy's np.var: the biased (population) variance, ddof=0",
              Side("torch.var(x)", _scalar(lambda L: L.torch.var), M.variance(d["var.correction"]),
                   CONVENTIONS["var-correction"]),
              Side("jnp.var(x)", _scalar(lambda L: L.jnp.var), M.variance(d["var.ddof"])
                   if d["var.ddof"] else None, CONVENTIONS["var-correction"] if d["var.ddof"] else None),
              _rows(("values", [0.0, 1.0, 3.0])), elementwise=False),
    ]
    return P


def _loss(f):
    """A make() for a loss of (x, target)."""
    return lambda L: f(L)


_Z = [[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]]


def _loss_probes(d: dict[str, Any]) -> list[Probe]:
    mse_pts = (Point("values", [[0.5, -1.0], [2.0, 0.0]], [[0.0, 0.0], [1.0, 1.0]]),)
    torch_mse = Side("F.mse_loss(a, y)", _loss(lambda L: L.F.mse_loss), M.DEVIATIONS["mse_elements"](),
                     CONVENTIONS["mse-mean-elements"])
    bce_pts = (Point("interior", [[0.3], [0.8]], [[1.0], [0.0]]),
               Point("log clamp: p = 0, y = 1", [[0.0], [0.5]], [[1.0], [1.0]]),
               Point("log clamp: p = 1e-50, y = 1", [[1e-50], [0.5]], [[1.0], [1.0]]),
               Point("log clamp: p = 1, y = 0", [[1.0]], [[0.0]]))
    logit_pts = (Point("interior", [[0.5], [-1.0]], [[1.0], [0.0]]), Point("zero", [[0.0]], [[0.3]]),
                 Point("tail", [[100.0], [-100.0]], [[0.0], [1.0]]),
                 Point("tail", [[1000.0], [-1000.0]], [[0.0], [1.0]]))
    label_pts = (Point("distinct", _Z, [2, 0], True), Point("tie", [[0.0, 0.0, 0.0]], [1], True),
                 Point("tail", [[1000.0, 0.0, -1000.0]], [2], True))
    prob_pts = (Point("distinct", _Z, [[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]),
                Point("tail", [[1000.0, 0.0, -1000.0]], [[0.0, 0.0, 1.0]]))
    smooth = 0.1
    ii = d["cross_entropy.ignore_index"]
    P = [
        Probe("mse", M.MODELS["mse"], "crosscheck.model.losses sse, mean over samples", torch_mse,
              Side("jnp.mean((a - y) ** 2)", _loss(lambda L: lambda a, y: L.jnp.mean((a - y) ** 2)),
                   M.DEVIATIONS["mse_elements"](), CONVENTIONS["mse-mean-elements"]), mse_pts, elementwise=False),
        Probe("mse (optax.l2_loss)", M.MODELS["mse"], "crosscheck.model.losses sse, mean over samples", torch_mse,
              Side("optax.l2_loss(a, y).mean()", _loss(lambda L: lambda a, y: L.optax.l2_loss(a, y).mean()),
                   M.DEVIATIONS["l2_half_elements"](), CONVENTIONS["optax-l2-half"], requires="optax"),
              mse_pts, elementwise=False),
        Probe("bce", M.MODELS["bce"], "crosscheck.model.losses bce, mean over samples",
              Side("F.binary_cross_entropy(p, y)", _loss(lambda L: L.F.binary_cross_entropy),
                   M.DEVIATIONS["bce_clamped"](-100.0, float(np.float32(1e-12))), CONVENTIONS["bce-log-clamp"]),
              Side("-(y * jnp.log(p) + (1 - y) * jnp.log1p(-p)).mean()",
                   _loss(lambda L: lambda p, y: -(y * L.jnp.log(p) + (1 - y) * L.jnp.log1p(-p)).mean())),
              bce_pts, elementwise=False),
        Probe("bce_with_logits", M.MODELS["bce_with_logits"], "softplus(z) - y z, mean",
              Side("F.binary_cross_entropy_with_logits(z, y)", _loss(lambda L: L.F.binary_cross_entropy_with_logits)),
              Side("(jax.nn.softplus(z) - y * z).mean()",
                   _loss(lambda L: lambda z, y: (L.jax.nn.softplus(z) - y * z).mean())), logit_pts, elementwise=False),
        Probe("bce_with_logits (optax)", M.MODELS["bce_with_logits"], "softplus(z) - y z, mean",
              Side("F.binary_cross_entropy_with_logits(z, y)", _loss(lambda L: L.F.binary_cross_entropy_with_logits)),
              Side("optax.sigmoid_binary_cross_entropy(z, y).mean()",
                   _loss(lambda L: lambda z, y: L.optax.sigmoid_binary_cross_entropy(z, y).mean()), requires="optax"),
              logit_pts, elementwise=False),
        Probe("cross_entropy (labels)", M.MODELS["cross_entropy"],
              "crosscheck.model.losses softmax_ce of one_hot(y), mean",
              Side("F.cross_entropy(z, y)", _loss(lambda L: L.F.cross_entropy)),
              Side("-jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], -1).mean()",
                   _loss(lambda L: lambda z, y: -L.jnp.take_along_axis(L.jax.nn.log_softmax(z), y[:, None],
                                                                       axis=-1).mean())),
              label_pts, elementwise=False),
        Probe("cross_entropy (labels, optax)", M.MODELS["cross_entropy"], "crosscheck.model.losses softmax_ce, mean",
              Side("F.cross_entropy(z, y)", _loss(lambda L: L.F.cross_entropy)),
              Side("optax.softmax_cross_entropy_with_integer_labels(z, y).mean()",
                   _loss(lambda L: lambda z, y: L.optax.softmax_cross_entropy_with_integer_labels(z, y).mean()),
                   requires="optax"), label_pts, elementwise=False),
        Probe("cross_entropy (ignore_index)", M.MODELS["cross_entropy"], "no class -100: nan",
              Side("F.cross_entropy(z, y)", _loss(lambda L: L.F.cross_entropy), M.ce_labels(ignore_index=ii),
                   CONVENTIONS["ignore-index"]),
              Side("-jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], -1).mean()",
                   _loss(lambda L: lambda z, y: -L.jnp.take_along_axis(L.jax.nn.log_softmax(z), y[:, None],
                                                                       axis=-1).mean())),
              (Point(f"label {ii}", _Z, [2, ii], True),), elementwise=False, derivative=False),
        Probe("cross_entropy (probabilities)", M.MODELS["cross_entropy_probs"],
              "crosscheck.model.losses softmax_ce, mean",
              Side("F.cross_entropy(z, p)", _loss(lambda L: L.F.cross_entropy)),
              Side("-(p * jax.nn.log_softmax(z)).sum(-1).mean()",
                   _loss(lambda L: lambda z, p: -(p * L.jax.nn.log_softmax(z)).sum(-1).mean())),
              prob_pts, elementwise=False),
        Probe("cross_entropy (probabilities, optax)", M.MODELS["cross_entropy_probs"],
              "crosscheck.model.losses softmax_ce",
              Side("F.cross_entropy(z, p)", _loss(lambda L: L.F.cross_entropy)),
              Side("optax.softmax_cross_entropy(z, p).mean()",
                   _loss(lambda L: lambda z, p: L.optax.softmax_cross_entropy(z, p).mean()), requires="optax"),
              prob_pts, elementwise=False),
        Probe("label_smoothing", M.ce_labels(smoothing=smooth), "softmax_ce of (1 - e) one_hot + e / k, e = 0.1",
              Side("F.cross_entropy(z, y, label_smoothing=0.1)",
                   _loss(lambda L: lambda z, y: L.F.cross_entropy(z, y, label_smoothing=smooth))),
              Side("-((0.9 * jax.nn.one_hot(y, k) + 0.1 / k) * jax.nn.log_softmax(z)).sum(-1).mean()",
                   _loss(lambda L: lambda z, y: -(((1 - smooth) * L.jax.nn.one_hot(y, z.shape[-1], dtype=z.dtype)
                                                   + smooth / z.shape[-1]) * L.jax.nn.log_softmax(z)).sum(-1).mean())),
              label_pts, elementwise=False),
        Probe("label_smoothing (optax)", M.ce_labels(smoothing=smooth), "softmax_ce of smoothed one_hot, e = 0.1",
              Side("F.cross_entropy(z, y, label_smoothing=0.1)",
                   _loss(lambda L: lambda z, y: L.F.cross_entropy(z, y, label_smoothing=smooth))),
              Side("optax.softmax_cross_entropy(z, optax.smooth_labels(jax.nn.one_hot(y, k), 0.1)).mean()",
                   _loss(lambda L: lambda z, y: L.optax.softmax_cross_entropy(
                       z, L.optax.smooth_labels(L.jax.nn.one_hot(y, z.shape[-1], dtype=z.dtype), smooth)).mean()),
                   requires="optax"),
              label_pts, elementwise=False),
    ]
    return P


def probes_for(defaults: dict[str, Any]) -> list[Probe]:
    """Every probe, with thresholds, slopes and bounds read from the installed libraries
    (``defaults``: the values of ``crosscheck.audit.defaults.read``)."""
    from .layer_probes import layer_probes

    return _activation_probes(defaults) + _vector_probes(defaults) + _loss_probes(defaults) + \
        behaviour_probes(defaults) + layer_probes(CONVENTIONS)


# ---- running statistics: one training step of BatchNorm / LayerNorm ---------------------------------
def _torch_bn(stat: str):
    def make(L):
        def f(x, t):
            bn = L.torch.nn.BatchNorm1d(x.shape[1], dtype=x.dtype)
            bn.train()
            out = bn(x)
            return {"running_mean": bn.running_mean, "running_var": bn.running_var, "output": out[:, 0]}[stat]
        return f
    return make


def _flax_bn(stat: str):
    def make(L):
        jnp = L.jnp

        def f(x, t):
            n = x.shape[1]
            bn = L.linen.BatchNorm(use_running_average=False, dtype=x.dtype, param_dtype=x.dtype)
            variables = {"params": {"scale": jnp.ones(n, x.dtype), "bias": jnp.zeros(n, x.dtype)},
                         "batch_stats": {"mean": jnp.zeros(n, x.dtype), "var": jnp.ones(n, x.dtype)}}
            out, upd = bn.apply(variables, x, mutable=["batch_stats"])
            return {"running_mean": upd["batch_stats"]["mean"], "running_var": upd["batch_stats"]["var"],
                    "output": out[:, 0]}[stat]
        return f
    return make


def _stat_model(fn) -> M.Model:
    return M.Model(lambda x, t: np.asarray(fn(np.asarray(x))), lambda x, t, w: np.zeros_like(x))


def behaviour_probes(d: dict[str, Any]) -> list[Probe]:
    """BatchNorm's running statistics after one training step from (mean 0, var 1), torch against
    flax.linen: the momentum convention and the variance each updates with."""
    mt, et = d["batchnorm.momentum.torch"], d["batchnorm.eps.torch"]
    mf, ef = d["batchnorm.momentum.flax"], d["batchnorm.eps.flax"]
    if mf is None:  # flax not installed: the probes are listed as unavailable
        mf, ef = mt, et
    pts = (Point("one step from (0, 1), batch [1, 3]", [[1.0], [3.0]]),)

    def side_t(stat, model, conv=None):
        return Side(f"torch.nn.BatchNorm1d(1) {stat}", _torch_bn(stat), _stat_model(model),
                    CONVENTIONS[conv] if conv else None)

    def side_f(stat, model, conv=None):
        return Side(f"flax.linen.BatchNorm() {stat}", _flax_bn(stat), _stat_model(model),
                    CONVENTIONS[conv] if conv else None, requires="flax")

    def var(x, ddof):
        return x.var(axis=0, ddof=ddof)

    common = dict(elementwise=False, derivative=False, dtypes=("float32",))
    return [
        Probe("batch_norm running_mean", None, "torch's convention", side_t("running_mean", lambda x: mt * x.mean(0)),
              side_f("running_mean", lambda x: (1 - mf) * x.mean(0), "batchnorm-momentum"), pts, **common),
        Probe("batch_norm running_var", None, "torch's convention",
              side_t("running_var", lambda x: (1 - mt) + mt * var(x, 1)),
              side_f("running_var", lambda x: mf + (1 - mf) * var(x, 0), "batchnorm-running-var"), pts, **common),
        Probe("batch_norm output (training)", None, "(x - mean) / sqrt(biased var + eps)",
              side_t("output", lambda x: ((x - x.mean(0)) / np.sqrt(var(x, 0) + et))[:, 0]),
              side_f("output", lambda x: ((x - x.mean(0)) / np.sqrt(var(x, 0) + ef))[:, 0]), pts, **common),
    ]
