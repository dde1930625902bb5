"""`import crosscheck` is light: NumPy only, never torch, JAX or hypothesis."""

from __future__ import annotations

import subprocess
import sys

import pytest

import crosscheck


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("code", ["import crosscheck",
                                  "import crosscheck.cli as c; c.build_parser().format_help()",
                                  "import crosscheck.backends as b; b.available_backends()"])
def test_import_does_not_load_torch_jax_or_hypothesis(code):
    mods = _modules_after(code)
    for heavy in ("torch", "jax", "jaxlib", "hypothesis", "matplotlib"):
        assert heavy not in mods, f"{code!r} imported {heavy}"


def test_public_surface_is_declared():
    for name in crosscheck.__all__:
        assert getattr(crosscheck, name) is not None, name
    assert issubclass(crosscheck.GradientMismatch, AssertionError)


def test_cli_help_and_version(capsys):
    from crosscheck.cli import main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("sweep", "check", "shapes", "conventions", "env"):
        assert cmd in out
    assert main(["--version"]) == 0
    assert crosscheck.__version__ in capsys.readouterr().out
    assert main([]) == 2


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "crosscheck", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "exit codes" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "crosscheck", "sweep", "--dtype", "float16"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "float16" in bad.stderr
