"""The installed ``crosscheck`` console script finds a module target in the current directory, as
``python -m crosscheck`` does (whose ``sys.path[0]`` is that directory; the script's is its bin folder)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import crosscheck

HERE = Path(__file__).resolve().parent
SCRIPT = Path(sys.executable).parent / "crosscheck"
# the checkout being tested, ahead of whatever the venv's install points at
CHECKOUT = str(Path(crosscheck.__file__).resolve().parent.parent)


@pytest.mark.skipif(not SCRIPT.exists(), reason="no crosscheck console script beside this interpreter")
@pytest.mark.parametrize("how", ["script", "module"])
def test_a_module_target_in_the_current_directory_is_found(tmp_path, how):
    # a project folder of its own: a package name nothing else on the path has
    package = tmp_path / "hw7_backprop_project"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(HERE / "implementations" / "correct.py", package / "mlp.py")
    argv = ([str(SCRIPT)] if how == "script" else [sys.executable, "-m", "crosscheck"]) + [
        "check", "hw7_backprop_project.mlp:torch_style", "--preset", "torch", "--examples", "3"]
    env = {**os.environ, "PYTHONPATH": CHECKOUT}
    r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("PASS: hw7_backprop_project.mlp:torch_style")
