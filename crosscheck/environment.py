"""``crosscheck env``: versions, devices, precision settings and what each does to float32 gradients.

torch and JAX are imported only when ``environment_report()`` is called, and only if installed.
``precision_advice`` turns a backend's settings into the one-line fixes a report prints when a
float32 GPU comparison ran at TF32-like matmul precision (see ``crosscheck.tolerance``).
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
from typing import Any

__all__ = ["environment_report", "precision_advice", "run_from_args", "EFFECTS"]

# What each setting does to float32 gradients, measured (docs/measurements.md, H100, float32,
# 4-layer 512-wide tanh net, relative gradient error against float64).
EFFECTS = {
    "torch_tf32": "TF32 matmul: ~7e-4 relative error in float32 gradients on GPU (measured on H100; "
                  "5e-7 without); fix: torch.backends.cuda.matmul.allow_tf32 = False",
    "torch_matmul_precision": "float32_matmul_precision 'high'/'medium' lets GPU matmuls use TF32/bf16 "
                              "(~7e-4 or worse in float32 gradients); fix: "
                              "torch.set_float32_matmul_precision('highest')",
    "torch_cudnn_tf32": "cuDNN TF32 affects convolutions only, not the dense layers checked here; "
                        "fix if you check conv nets: torch.backends.cudnn.allow_tf32 = False",
    "jax_default_precision": "JAX's default float32 matmul on GPU is TF32-like: ~7e-4 relative error in "
                             "float32 gradients (measured on H100; 5e-7 at 'highest'); fix: "
                             "jax.config.update('jax_default_matmul_precision', 'highest') "
                             "(or crosscheck --precision highest)",
    "jax_x64": "JAX computes in float32 unless enabled; crosscheck enables it only inside its "
               "own float64 calls (scoped), never for your process",
    "cpu": "on CPU float32 matmuls are full float32 in torch and JAX: ~1e-7 typical, <1e-4 worst "
           "relative error per parameter gradient (benchmarks/false_failures.py)",
}


def _version(module: str) -> str:
    if importlib.util.find_spec(module) is None:
        return "not installed"
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - a broken distribution should not break the report
        mod = __import__(module)
        return str(getattr(mod, "__version__", "unknown"))


def environment_report() -> dict:
    """Versions, devices and precision settings of every library crosscheck uses."""
    import numpy as np

    report: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": np.__version__,
        "hypothesis": _version("hypothesis"),
        "torch": {"version": "not installed"},
        "jax": {"version": "not installed"},
    }
    if importlib.util.find_spec("torch") is not None:
        try:
            from .backends.torch import torch_settings

            report["torch"] = torch_settings()
        except Exception as e:  # noqa: BLE001 - report a broken install instead of crashing
            report["torch"] = {"version": _version("torch"), "error": f"{type(e).__name__}: {e}"}
    if importlib.util.find_spec("jax") is not None:
        try:
            from .backends.jax import jax_settings

            report["jax"] = jax_settings()
        except Exception as e:  # noqa: BLE001
            report["jax"] = {"version": _version("jax"), "error": f"{type(e).__name__}: {e}"}
    devices = ["cpu"]
    if report["torch"].get("cuda_available") or report["jax"].get("gpu_available"):
        devices.append("cuda")
    report["devices"] = devices
    report["effects"] = _effects(report)
    return report


def _effects(report: dict) -> list[str]:
    """What the current settings do to float32 gradients, one line each."""
    out = [EFFECTS["cpu"]]
    t = report["torch"]
    if "allow_tf32" in t:
        gpu = " (you have a GPU)" if t.get("cuda_available") else " (no GPU here: matters on GPU only)"
        if t["allow_tf32"]:
            out.append("torch allow_tf32 = True" + gpu + ": " + EFFECTS["torch_tf32"])
        if t.get("float32_matmul_precision") not in (None, "highest"):
            out.append(f"torch float32_matmul_precision = {t['float32_matmul_precision']!r}{gpu}: "
                       + EFFECTS["torch_matmul_precision"])
        if t.get("cudnn_allow_tf32"):
            out.append("torch cudnn.allow_tf32 = True: " + EFFECTS["torch_cudnn_tf32"])
    j = report["jax"]
    if "default_matmul_precision" in j:
        gpu = " (you have a GPU)" if j.get("gpu_available") else " (no GPU here: matters on GPU only)"
        if j["default_matmul_precision"] not in ("highest", "float32"):
            out.append(f"jax default_matmul_precision = {j['default_matmul_precision']!r}{gpu}: "
                       + EFFECTS["jax_default_precision"])
        if not j.get("x64_enabled"):
            out.append("jax x64 = False: " + EFFECTS["jax_x64"])
    return out


def precision_advice(settings: dict, device: str, dtype: str) -> list[str]:
    """One-line fixes when a float32 GPU run had TF32-like matmul settings; [] otherwise.

    ``settings`` is a backend's ``settings()`` (its ``backend`` key picks the advice) or an
    ``environment_report()``, whose torch and jax sections are both examined."""
    if dtype != "float32" or device == "cpu":
        return []
    if "backend" not in settings:  # a whole environment report
        out = []
        for name in ("torch", "jax"):
            section = dict(settings.get(name, {}))
            if "version" in section and section["version"] != "not installed":
                section.setdefault("backend", name)
                out += precision_advice(section, device, dtype)
        return out
    backend = settings["backend"]
    out: list[str] = []
    if backend == "torch":
        tf32 = settings.get("effective_allow_tf32", settings.get("allow_tf32"))
        prec = settings.get("effective_float32_matmul_precision", settings.get("float32_matmul_precision"))
        if tf32:
            out.append("torch ran float32 matmuls in TF32 (allow_tf32=True, ~7e-4 relative error): "
                       "set torch.backends.cuda.matmul.allow_tf32 = False, or run with --precision highest")
        elif prec not in (None, "highest"):
            out.append(f"torch float32_matmul_precision was {prec!r} (TF32/bf16 matmuls): "
                       "torch.set_float32_matmul_precision('highest'), or run with --precision highest")
    elif backend == "jax":
        prec = settings.get("effective_matmul_precision", settings.get("default_matmul_precision"))
        if prec not in ("highest", "float32"):
            out.append(f"JAX ran float32 matmuls at precision {prec or 'default'!r}, TF32-like on GPU "
                       "(~7e-4 relative error): jax.config.update('jax_default_matmul_precision', 'highest'), "
                       "or run with --precision highest")
    return out


def _rows(report: dict) -> list[tuple[str, str]]:
    rows = [("python", report["python"]), ("platform", report["platform"]), ("numpy", report["numpy"]),
            ("hypothesis", report["hypothesis"])]
    t = report["torch"]
    rows.append(("torch", t["version"]))
    if "error" in t:
        rows.append(("  error", t["error"]))
    elif "allow_tf32" in t:
        rows += [("  devices", ", ".join(t["devices"])),
                 ("  cuda.matmul.allow_tf32", str(t["allow_tf32"])),
                 ("  cudnn.allow_tf32", str(t["cudnn_allow_tf32"])),
                 ("  float32_matmul_precision", t["float32_matmul_precision"]),
                 ("  threads", str(t["num_threads"]))]
    j = report["jax"]
    rows.append(("jax", j["version"]))
    if "error" in j:
        rows.append(("  error", j["error"]))
    elif "default_matmul_precision" in j:
        rows += [("  jaxlib", j["jaxlib_version"]),
                 ("  backend", j["default_backend"]),
                 ("  devices", ", ".join(j["devices"])),
                 ("  default_matmul_precision", j["default_matmul_precision"]),
                 ("  x64", str(j["x64_enabled"]))]
    rows.append(("devices", ", ".join(report["devices"])))
    return rows


def format_report(report: dict) -> str:
    rows = _rows(report)
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    lines += ["", "what the settings do to float32 gradients:"]
    lines += [f"  - {e}" for e in report["effects"]]
    return "\n".join(lines)


def run_from_args(args: Any) -> int:
    """``crosscheck env [--json PATH]``: print the table; write JSON to PATH ('-' for stdout)."""
    from .output import require_writable, stamp, write_text

    path = getattr(args, "json", None)
    require_writable(path, "--json")  # before any work: exit 2 with one line
    report = environment_report()
    data = stamp("env", report)
    if path == "-":
        write_text("-", json.dumps(data, indent=2))
        return 0
    print(format_report(report))
    if path:
        write_text(path, json.dumps(data, indent=2))
    return 0
