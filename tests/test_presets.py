"""Convention presets and the resolution of check options: presets fill in, explicit options win,
and impossible combinations are refused before anything runs."""

from __future__ import annotations

import pytest

from crosscheck.cli import main
from crosscheck.errors import UsageError
from crosscheck.model.conventions import Convention
from crosscheck.model.network import Network
from crosscheck.model.presets import PRESETS, CheckOptions, preset_names, resolve_options


def test_every_preset_resolves_to_a_valid_convention_and_network():
    assert {"torch", "cs231n", "deeplearning.ai", "nielsen", "seed000", "seed001", "seed002", "seed003"} <= set(PRESETS)
    for name, preset in PRESETS.items():
        o = resolve_options(name)
        assert o == preset.options
        conv = o.convention()
        # the network the preset describes exists, with the bias the layout needs
        widths = (3, 4, 1 if o.loss == "output" else 2)
        net = Network.simple(widths, hidden=o.hidden or "tanh", output=o.output or "identity",
                             loss=o.loss or "half_sse", reduction=o.reduction or "sum", bias=conv.has_bias)
        conv.check_network(net)


def test_the_seed_presets_follow_their_documents():
    assert resolve_options("seed000").convention() == Convention("columns", "out_in", "augmented", "pairs")
    assert resolve_options("seed000").loss == "output"
    s2 = resolve_options("seed002")
    assert (s2.bias, s2.hidden, s2.loss) == ("none", "relu:1", "readout")
    s3 = resolve_options("seed003")
    assert (s3.batch, s3.weights, s3.bias, s3.loss, s3.reduction) == ("rows", "in_out", "row", "bce", "mean")
    assert resolve_options("cs231n").convention() == Convention("rows", "in_out", "vector", "dict")
    assert resolve_options("deeplearning.ai").convention() == Convention("columns", "out_in", "column", "dict")
    assert resolve_options("nielsen").batch == "single"


def test_explicit_options_override_the_preset():
    o = resolve_options("cs231n", hidden="tanh", reduction="sum", batch=None)
    assert (o.hidden, o.reduction, o.batch, o.weights) == ("tanh", "sum", "rows", "in_out")
    assert resolve_options("seed003", depth=2).depth == 2
    assert resolve_options(None) == CheckOptions()
    assert CheckOptions().convention() == Convention()


@pytest.mark.parametrize("kwargs, words", [
    ({"preset": "pytorch"}, "unknown preset"),
    ({"batch": "diagonal"}, "--batch"),
    ({"hidden": "swish"}, "--hidden"),
    ({"loss": "mse"}, "--loss"),
    ({"loss": "output", "output_width": 3}, "output width 1"),
    ({"loss": "bce", "output": "tanh"}, "--output sigmoid"),
    ({"loss": "softmax_ce", "output_width": 1}, ">= 2"),
    ({"depth": 2, "max_depth": 3}, "not both"),
    ({"depth": 0}, "--depth"),
    ({"min_depth": 3, "max_depth": 2}, "exceeds"),
    ({"max_width": 0}, "--max-width"),
    ({"loss": "softmax_ce", "max_width": 1}, "--max-width"),
    ({"output_width": 9, "max_width": 4}, "exceeds"),
    ({"colour": "red"}, "unknown option"),
])
def test_impossible_options_are_usage_errors(kwargs, words):
    preset = kwargs.pop("preset", None)
    with pytest.raises(UsageError, match=words):
        resolve_options(preset, **kwargs)


def test_cli_flags_round_trip():
    o = resolve_options("seed003", max_depth=2)
    flags = o.cli_flags()
    assert flags[:2] == ["--batch", "rows"] and "--max-depth" in flags
    parsed = dict(zip(flags[::2], flags[1::2]))
    again = resolve_options(None, **{k[2:].replace("-", "_"): (int(v) if v.isdigit() else v)
                                     for k, v in parsed.items()})
    assert again == o


def test_conventions_command_lists_each_preset_within_100_columns(capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["conventions"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    heads = [line.split() for line in out.splitlines() if line.startswith("  ") and not line.startswith("    ")]
    assert [h[0] for h in heads] == list(preset_names())
    for name, head in zip(preset_names(), heads):
        assert head[1] == PRESETS[name].options.describe_layout()  # edge layouts (ng-ex4) as declared
