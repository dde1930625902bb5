"""``crosscheck env``: the report, its table and JSON, and the precision advice reports print."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from crosscheck import environment
from crosscheck.environment import environment_report, precision_advice, run_from_args

TORCH_TF32 = {"backend": "torch", "allow_tf32": True, "float32_matmul_precision": "high"}
TORCH_SCOPED = {"backend": "torch", "allow_tf32": True, "float32_matmul_precision": "high",
                "effective_allow_tf32": False, "effective_float32_matmul_precision": "highest"}
JAX_DEFAULT = {"backend": "jax", "default_matmul_precision": "default"}


def test_report_names_versions_devices_and_precision_settings():
    r = environment_report()
    for key in ("python", "platform", "numpy", "hypothesis", "torch", "jax", "devices", "effects"):
        assert key in r
    assert "cpu" in r["devices"]
    if importlib.util.find_spec("torch"):
        for key in ("version", "allow_tf32", "cudnn_allow_tf32", "float32_matmul_precision", "devices"):
            assert key in r["torch"]
    if importlib.util.find_spec("jax"):
        for key in ("version", "default_matmul_precision", "x64_enabled", "devices", "default_backend"):
            assert key in r["jax"]
        assert any("TF32-like" in e for e in r["effects"]) == (
            r["jax"]["default_matmul_precision"] not in ("highest", "float32"))


def test_missing_libraries_are_reported_not_raised(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("torch", "jax") else real(name, *a))
    r = environment_report()
    assert r["torch"] == {"version": "not installed"} and r["jax"] == {"version": "not installed"}
    assert r["devices"] == ["cpu"]


def test_env_prints_a_table_and_exits_0(capsys):
    assert run_from_args(SimpleNamespace(json=None)) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "what the settings do to float32 gradients" in out


def test_env_json_to_a_file_and_to_stdout(tmp_path, capsys):
    path = tmp_path / "env.json"
    assert run_from_args(SimpleNamespace(json=str(path))) == 0
    assert json.loads(path.read_text())["python"]
    capsys.readouterr()
    assert run_from_args(SimpleNamespace(json="-")) == 0
    assert "numpy" in json.loads(capsys.readouterr().out)


def test_env_unwritable_json_is_a_usage_error(tmp_path):
    from crosscheck.errors import UsageError

    with pytest.raises(UsageError, match="--json .*: no such directory"):
        run_from_args(SimpleNamespace(json=str(tmp_path / "missing" / "env.json")))


def test_precision_advice_names_the_fix_for_float32_gpu_only():
    (line,) = precision_advice(TORCH_TF32, "cuda", "float32")
    assert "allow_tf32 = False" in line and "\n" not in line
    assert precision_advice(TORCH_TF32, "cpu", "float32") == []
    assert precision_advice(TORCH_TF32, "cuda", "float64") == []
    assert precision_advice(TORCH_SCOPED, "cuda", "float32") == []  # --precision highest was in force
    (line,) = precision_advice({"backend": "torch", "allow_tf32": False, "float32_matmul_precision": "high"},
                               "cuda", "float32")
    assert "set_float32_matmul_precision('highest')" in line
    (line,) = precision_advice(JAX_DEFAULT, "cuda", "float32")
    assert "jax_default_matmul_precision" in line and "highest" in line
    assert precision_advice({"backend": "jax", "effective_matmul_precision": "highest"}, "cuda", "float32") == []


def test_precision_advice_reads_a_whole_environment_report():
    report = {"torch": {"version": "2", "allow_tf32": False, "float32_matmul_precision": "highest"},
              "jax": {"version": "0.10", "default_matmul_precision": "default"}}
    (line,) = precision_advice(report, "cuda", "float32")
    assert line.startswith("JAX")


def test_the_effects_table_says_what_each_setting_does():
    for key in ("torch_tf32", "jax_default_precision"):
        assert "7e-4" in environment.EFFECTS[key] and "fix:" in environment.EFFECTS[key]


def test_importing_environment_imports_neither_torch_nor_jax():
    code = ("import sys, crosscheck.environment;"
            "print(sorted(m for m in ('torch', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
