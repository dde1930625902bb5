"""The port check: correct ports pass in both directions and both dtypes; each planted conversion mistake
fails with its name and the torch module path where it starts (pure JAX here: flax is optional,
tests/test_port_flax.py covers flax)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("jax")

import _port_models as pm  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from crosscheck.errors import GradientMismatch, UsageError  # noqa: E402
from crosscheck.port import assert_port_equivalent, check_port  # noqa: E402
from crosscheck.port.rules import builtin_convert  # noqa: E402

FAMILIES = {
    # name: (torch model factory, correct JAX port, options)
    "mlp": (lambda: pm.seeded(pm.MLP), pm.mlp_jax(), dict(input_shape=("B", 8))),
    "cnn": (lambda: pm.seeded(pm.CNN), pm.cnn_jax(), dict(input_shape=("B", 4, "H", "H"), sizes={"H": [4]})),
    "batchnorm": (lambda: pm.seeded(pm.BNNet), pm.bn_jax(), dict(input_shape=("B", 6), sizes={"B": [2, 3]})),
    "attention": (lambda: pm.seeded(pm.Block), pm.block_jax(), dict(input_shape=("B", "T", 8), sizes={"T": [3]})),
    "lstm": (lambda: pm.seeded(pm.LSTMNet), pm.lstm_jax(), dict(input_shape=("B", "T", 4), sizes={"T": [4]})),
    "embedding": (lambda: pm.seeded(pm.Bag), pm.bag_jax(),
                  dict(input_shape=("B", 5), input_dtype="int", input_range=(0, 10))),
}


SLOW_FAMILIES = ("attention", "lstm", "batchnorm")  # each compiles 8 programs: the slow suite runs them


@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.slow) if f in SLOW_FAMILIES else f
                                    for f in sorted(FAMILIES)])
def test_a_correct_port_passes_both_directions_and_dtypes(family):
    make, apply, opts = FAMILIES[family]
    result = check_port(make(), apply, examples=2, **opts)
    assert result.ok, result.report()
    assert {(o.direction, o.dtype) for o in result.outcomes} == {
        (d, t) for d in ("torch->jax", "jax->torch") for t in ("float64", "float32")}
    names = {q.name for o in result.outcomes for q in o.quantities}
    assert "output" in names and all(n in names for n, _ in make().named_parameters())


def _convert(model, edit):
    rules = builtin_convert(model)

    def convert(sd):
        p = rules(sd)
        edit(p, sd)
        return p
    return convert


def _set(path, value_of):
    def edit(p, sd):
        node = p
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value_of(sd)
    return edit


def _swap_qk(p, sd):
    p["attn"]["query"], p["attn"]["key"] = p["attn"]["key"], p["attn"]["query"]


# (id, family, JAX port or None for the family's, convert edit or None, module path, words of the name)
PLANTED = [
    ("linear not transposed", "mlp", None, _set(("fc2", "kernel"), lambda sd: sd["fc2.weight"]), "fc2",
     "kernel not transposed"),
    ("gelu approximate default", "mlp", pm.mlp_jax(approximate=True), None, "act", "approximate gelu"),
    ("layernorm eps 1e-6", "mlp", pm.mlp_jax(eps=1e-6), None, "ln", "eps 1e-06 where torch uses 1e-05"),
    ("dense bias dropped", "mlp", pm.mlp_jax(head_bias=False), None, "head", "missing bias"),
    ("conv kernel (3, 2, 1, 0)", "cnn", None,
     _set(("conv1", "kernel"), lambda sd: jnp.transpose(sd["conv1.weight"], (3, 2, 1, 0))), "conv1",
     "conv kernel permuted (3, 2, 1, 0) instead of (2, 3, 1, 0)"),
    ("conv kernel in/out swapped", "cnn", None,
     _set(("conv2", "kernel"), lambda sd: jnp.transpose(sd["conv2.weight"], (2, 3, 0, 1))), "conv2",
     "conv kernel permuted (2, 3, 0, 1)"),
    ("SAME padding, stride 2", "cnn", pm.cnn_jax(padding2="SAME"), None, "conv2", "'SAME' padding"),
    ("NCHW read as NHWC", "cnn", pm.cnn_jax(transpose_input=False), None, "conv1", "NCHW input read as NHWC"),
    ("conv bias dropped", "cnn", pm.cnn_jax(conv1_bias=False), None, "conv1", "missing bias"),
    ("batchnorm in training mode", "batchnorm", pm.bn_jax(batch_stats=True), None, "bn", "train vs eval mode"),
    ("batchnorm eps 1e-3", "batchnorm", pm.bn_jax(eps=1e-3), None, "bn", "eps 0.001 where torch uses 1e-05"),
    ("running var converted as std", "batchnorm", None,
     _set(("bn", "var"), lambda sd: jnp.sqrt(sd["bn.running_var"])), "bn", "running statistics"),
    ("q and k swapped in the packed projection", "attention", None, _swap_qk, "attn",
     "packed in-projection split as (k, q, v)"),
    ("attention not scaled", "attention", pm.block_jax(scale=1.0), None, "attn", "scaled by no scaling"),
    ("LSTM gate order (i, f, o, g)", "lstm", pm.lstm_jax(order=("i", "f", "o", "g")), None, "lstm",
     "gate order: the JAX model reads the gate blocks as (i, f, o, g)"),
    ("LSTM bias_hh dropped", "lstm", pm.lstm_jax(hh_bias=False), None, "lstm", "bias_hh dropped"),
    ("padding row gets a gradient", "embedding", pm.bag_jax(mask_padding=False), None, "emb",
     "padding row 0 receives a gradient"),
]


@pytest.mark.parametrize("case", PLANTED, ids=[c[0] for c in PLANTED])
def test_each_planted_mistake_is_named_where_it_starts(case):
    _, family, apply, edit, path, words = case
    make, good, opts = FAMILIES[family]
    model = make()
    convert = _convert(model, edit) if edit else None
    with pytest.raises(GradientMismatch) as err:
        assert_port_equivalent(model, apply or good, convert=convert, dtypes=("float64",),
                               directions=("torch->jax",), examples=2, **opts)
    result = err.value.report
    assert result.findings, result.report()
    f = result.findings[0]
    assert f.path == path and words in f.mistake, result.report()
    assert f"mistake at {path} " in str(err.value) and f.fix in str(err.value)


def test_a_gradient_only_mistake_fails_with_outputs_equal():
    make, _, opts = FAMILIES["embedding"]
    result = check_port(make(), pm.bag_jax(mask_padding=False), dtypes=("float64",), directions=("torch->jax",),
                        examples=2, **opts)
    assert not result.ok
    by_name = {q.name: q for q in result.failure.quantities}
    assert by_name["output"].ok and not by_name["emb.weight"].ok
    assert [q.name for q in result.failure.failing] == ["emb.weight"]


def test_an_eps_difference_is_small_and_still_named():
    """eps 1e-6 against 1e-5 moves the output by less than 1e-3 relative; float64's bound (1e-9) sees it
    and the diagnosis names it."""
    make, _, opts = FAMILIES["mlp"]
    r64 = check_port(make(), pm.mlp_jax(eps=1e-6), dtypes=("float64",), directions=("torch->jax",), examples=2,
                     **opts)
    out = {q.name: q for q in r64.failure.quantities}["output"]
    assert 1e-9 < out.error < 1e-3
    assert r64.findings[0].convention == "layernorm-eps"


def test_the_failure_is_shrunk_to_batch_one():
    make, _, opts = FAMILIES["mlp"]
    result = check_port(make(), pm.mlp_jax(approximate=True), dtypes=("float64",), examples=3,
                        diagnose_failure=False, **opts)
    assert result.failure.input_shape == (1, 8)


def test_jax_to_torch_loads_jax_weights_through_the_transpose_of_convert():
    """A params pytree given with the pure function: those weights (not torch's) are compared in the
    JAX -> torch direction, so a torch model that ignores them fails there only."""
    make, apply, opts = FAMILIES["mlp"]
    model = make()
    rules = builtin_convert(model)
    sd = {k: jnp.asarray(v.detach().numpy()) for k, v in model.state_dict().items()}
    params = {k: {n: np.asarray(a) + 0.25 for n, a in v.items()} for k, v in rules(sd).items()}
    result = check_port(model, apply, params=params, examples=1, dtypes=("float64",), directions=("jax->torch",),
                        **opts)
    assert result.ok, result.report()
    assert result.outcomes and all(o.direction == "jax->torch" for o in result.outcomes)


def test_a_convert_that_is_not_a_rearrangement_says_so():
    make, apply, opts = FAMILIES["mlp"]
    model = make()
    rules = builtin_convert(model)

    def convert(sd):  # correct values, but through a nonlinear op: no transpose to load JAX weights with
        p = rules(sd)
        p["fc1"]["bias"] = jnp.exp(jnp.log(jnp.abs(sd["fc1.bias"]))) * jnp.sign(sd["fc1.bias"])
        return p
    result = check_port(model, apply, convert=convert, examples=1, dtypes=("float64",), **opts)
    assert result.ok, result.report()
    assert any("jax->torch not compared" in n for n in result.notes)


def test_a_parameter_without_a_rule_is_a_usage_error():
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = torch.nn.Parameter(torch.ones(3))

        def forward(self, x):
            return x * self.alpha

    with pytest.raises(UsageError, match="no built-in conversion rule for parameter 'alpha'"):
        check_port(Scaled(), lambda p, x: x, input_shape=("B", 3))


def test_bad_options_are_usage_errors():
    make, apply, opts = FAMILIES["mlp"]
    with pytest.raises(UsageError, match="dtypes"):
        check_port(make(), apply, dtypes=("float16",), **opts)
    with pytest.raises(UsageError, match="sizes="):
        check_port(make(), apply, input_shape=("B", "N"))
    with pytest.raises(UsageError, match="JAX model"):
        check_port(make(), 3, **opts)


CLI_FILE = '''
import sys
sys.path.insert(0, {tests!r})
import _port_models as pm

def make_torch():
    return pm.seeded(pm.MLP)

def make_jax():
    return pm.mlp_jax()

def make_bad_jax():
    return pm.mlp_jax(approximate=True)
'''


def test_the_cli_exit_codes(tmp_path, capsys):
    from pathlib import Path

    from crosscheck.cli import main

    f = tmp_path / "port_me.py"
    f.write_text(CLI_FILE.format(tests=str(Path(__file__).parent)))
    common = ["--input-shape", "B,8", "--examples", "1", "--dtypes", "float64"]
    assert main(["port", f"{f}:make_torch", f"{f}:make_jax", *common]) == 0
    assert "PASSED" in capsys.readouterr().out
    assert main(["port", f"{f}:make_torch", f"{f}:make_bad_jax", *common]) == 1
    out = capsys.readouterr().out
    assert "mistake at act (GELU): approximate gelu" in out and "fix: jax.nn.gelu(x, approximate=False)" in out
    assert main(["port", f"{f}:make_torch", f"{f}:nothing", *common]) == 2
    assert main(["port", f"{f}:make_torch", "model.txt", *common]) == 2


def _docs_module(name):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "docs" / "port" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docs_port_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_the_docs_transformer_block_port_is_what_docs_port_md_says():
    block = _docs_module("block_port")
    opts = dict(input_shape=("B", "T", 16), sizes={"T": [5]})
    assert check_port(block.make_torch(), block.make_jax(), examples=2, **opts).ok
    bad = check_port(block.make_torch(), block.make_jax_tanh_gelu(), examples=1, **opts)
    assert bad.departure == "act" and bad.findings[0].path == "act"
    assert "approximate gelu (tanh form)" in bad.findings[0].mistake


MORE = {
    "gru": (lambda: pm.seeded(pm.GRUNet), pm.gru_jax(), dict(input_shape=("B", "T", 4), sizes={"T": [3]})),
    "conv_transpose": (lambda: pm.seeded(pm.Up), pm.up_jax(), dict(input_shape=("B", 4, "H", "H"),
                                                                   sizes={"H": [4]})),
    "conv1d": (lambda: pm.seeded(pm.Conv1dNet), pm.conv1d_jax, dict(input_shape=("B", 4, "W"), sizes={"W": [4]})),
    "conv3d_groups": (lambda: pm.seeded(pm.Conv3dNet), pm.conv3d_jax, dict(input_shape=("B", 2, 3, 3, 3))),
}


@pytest.mark.parametrize("family", sorted(MORE))
def test_the_other_rules_make_correct_ports_pass(family):
    make, apply, opts = MORE[family]
    result = check_port(make(), apply, examples=1, dtypes=("float64",), **opts)
    assert result.ok, result.report()
    assert {o.direction for o in result.outcomes} == {"torch->jax", "jax->torch"}


@pytest.mark.parametrize("family, apply, path, words", [
    ("gru", pm.gru_jax(order=("z", "r", "n")), "gru", "gate order: the JAX model reads the gate blocks as (z, r, n)"),
    ("conv_transpose", pm.up_jax(flip=False), "up", "transposed-conv kernel not flipped"),
])
def test_gru_gate_order_and_an_unflipped_transposed_kernel_are_named(family, apply, path, words):
    make, _, opts = MORE[family]
    result = check_port(make(), apply, examples=1, dtypes=("float64",), directions=("torch->jax",), **opts)
    assert result.findings and result.findings[0].path == path and words in result.findings[0].mistake, \
        result.report()


def test_training_mode_compares_the_running_statistics_after_one_step():
    make, _, opts = FAMILIES["batchnorm"]
    good = check_port(make(), pm.bn_train_jax(), train=True, examples=1, dtypes=("float64",), **opts)
    assert good.ok, good.report()
    names = {q.name for o in good.outcomes for q in o.quantities}
    assert "bn.running_var (after one training step)" in names
    biased = check_port(make(), pm.bn_train_jax(unbiased=False), train=True, examples=1, dtypes=("float64",),
                        directions=("torch->jax",), **opts)
    assert [q.name for q in biased.failure.failing] == ["bn.running_var (after one training step)"]
    f = biased.findings[0]
    assert f.path == "bn" and "biased batch variance" in f.mistake and f.convention == "batchnorm-running-var"
    swapped = check_port(make(), pm.bn_train_jax(momentum=0.9), train=True, examples=1, dtypes=("float64",),
                         directions=("torch->jax",), **opts)
    assert swapped.findings[0].path == "bn" and "momentum weighs the other side" in swapped.findings[0].mistake
