"""The command line's faces: every option explained with its default, a usage error in one line,
help within 80 columns, presets named for their sources."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from crosscheck.cli import build_parser, main

PARSER = build_parser()
SUBCOMMANDS = [a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)][0].choices


def _options():
    for name, sub in SUBCOMMANDS.items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                yield name, action


@pytest.mark.parametrize("command, action", list(_options()), ids=lambda x: getattr(x, "dest", x))
def test_every_option_has_help_and_says_its_default(command, action):
    assert action.help, f"crosscheck {command} {action.option_strings[0]} has no help text"
    formatter = SUBCOMMANDS[command]._get_formatter()
    if action.default is not None and action.default is not False:
        assert "default" in formatter._get_help_string(action), (command, action.option_strings)


def test_output_and_readout_losses_are_explained():
    text = " ".join(SUBCOMMANDS["check"].format_help().split())
    assert "output = the network's single output f itself" in text
    assert "readout = alpha^T a" in text


@pytest.mark.parametrize("argv", [["check", "x.py:f", "--dtype", "float16"], ["sweep", "--examples", "0"],
                                  ["nonsense"]])
def test_a_usage_error_is_one_line_pointing_at_help(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "--help" in err, err


def test_every_help_fits_80_columns():
    for name in ["", *SUBCOMMANDS]:
        out = subprocess.run([sys.executable, "-m", "crosscheck", *([name] if name else []), "--help"],
                             capture_output=True, text=True, env={"COLUMNS": "80", "PATH": ""}).stdout
        assert out and max(map(len, out.splitlines())) <= 80, name
