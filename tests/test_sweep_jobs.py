"""A sweep split between forked jobs (crosscheck.sweep.jobs): the same examples and totals as one
job, every job's failure found and shrunk, a job that dies is an error (never a pass), and jobs are
refused where forking is unsafe.

Each sweep with jobs runs in a fresh interpreter: whether this process may fork depends on what
earlier tests started here (JAX's runtime), and no test may depend on another's state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crosscheck.errors import UsageError
from crosscheck.sweep import SweepConfig
from crosscheck.sweep.config import parse_jobs
from crosscheck.sweep.jobs import resolve_jobs

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="sweep jobs fork: Linux only")


def _run(script: str, timeout: int = 300) -> dict:
    code = textwrap.dedent("""
        import json, sys
        from dataclasses import asdict
        from crosscheck.sweep import SweepConfig, run_sweep
        def summary(r):
            return {"passed": r.passed, "examples": r.examples, "draws": r.draws, "cases": r.cases,
                    "architectures": r.architectures, "route_checks": r.route_checks,
                    "fingerprints": r.fingerprints, "coverage": r.coverage, "failures": r.failures,
                    "table": sorted(f"{a}|{b}" for a, b in r.table), "jobs": r.environment.get("jobs"),
                    "skipped_routes": r.skipped_routes}
    """) + textwrap.dedent(script)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_jobs_check_exactly_the_examples_one_job_checks():
    got = _run("""
        base = SweepConfig(backends=("numpy",), examples=120, seed=4, draws=4)
        one = summary(run_sweep(SweepConfig(**{**asdict(base), "jobs": 1})))
        three = summary(run_sweep(SweepConfig(**{**asdict(base), "jobs": 3})))
        print(json.dumps({"one": one, "three": three}))
    """)
    one, three = got["one"], got["three"]
    assert one["jobs"] == 1 and three["jobs"] == 3
    assert one["passed"] and three["passed"]
    assert three["fingerprints"] == one["fingerprints"]  # the same examples, in the same order
    for key in ("examples", "draws", "cases", "architectures", "route_checks", "coverage", "table",
                "skipped_routes"):
        assert three[key] == one[key], key


def test_jobs_inside_a_shard_add_up_to_that_shard():
    got = _run("""
        base = SweepConfig(backends=("numpy",), routes=("recursive",), examples=90, seed=2, draws=2, shard=(2, 3))
        one = summary(run_sweep(SweepConfig(**{**asdict(base), "jobs": 1})))
        two = summary(run_sweep(SweepConfig(**{**asdict(base), "jobs": 2})))
        print(json.dumps({"one": one, "two": two}))
    """)
    assert got["two"]["fingerprints"] == got["one"]["fingerprints"]
    assert got["two"]["examples"] == got["one"]["examples"] == 30


def test_a_failure_is_shrunk_to_the_case_one_process_reports():
    pytest.importorskip("torch")
    got = _run("""
        from dataclasses import replace
        from crosscheck.model import activations
        tanh = activations.ACTIVATIONS["tanh"]
        def planted(torch):  # a wrong derivative: value right, gradient 1.001x
            return lambda x: torch.tanh(x) + 1e-3 * (torch.tanh(x) - torch.tanh(x).detach())
        activations.ACTIVATIONS["tanh"] = replace(tanh, torch=planted)
        cfg = SweepConfig(backends=("torch",), routes=("recursive",), examples=120, seed=0,
                          activations=("tanh", "identity"))
        print(json.dumps({"one": summary(run_sweep(replace(cfg, jobs=1))),
                          "two": summary(run_sweep(replace(cfg, jobs=2)))}))
    """)
    one, two = got["one"], got["two"]
    assert not one["passed"] and not two["passed"] and two["jobs"] == 2
    (f1,), (f2,) = one["failures"], two["failures"]
    assert f2["problems"][0]["who"] == "torch"
    assert len(f2["network"]["widths"]) <= 3  # shrunk
    for key in ("network", "convention", "batch_size", "seed", "reproduce"):
        assert f2[key] == f1[key], key  # the very case one process reports


def test_a_failing_covering_example_is_reported_as_one_process_reports_it():
    pytest.importorskip("torch")
    got = _run("""
        from dataclasses import replace
        from crosscheck.model import activations
        relu = activations.ACTIVATIONS["relu"]
        def planted(torch):  # a wrong derivative everywhere: every example with relu fails
            return lambda x: torch.relu(x) * 1.5 - 0.5 * torch.relu(x).detach()
        activations.ACTIVATIONS["relu"] = replace(relu, torch=planted)
        cfg = SweepConfig(backends=("torch",), routes=("recursive",), examples=120, seed=0)
        print(json.dumps({"one": summary(run_sweep(replace(cfg, jobs=1))),
                          "two": summary(run_sweep(replace(cfg, jobs=2)))}))
    """)
    (f1,), (f2,) = got["one"]["failures"], got["two"]["failures"]
    for key in ("network", "convention", "batch_size", "seed"):
        assert f2[key] == f1[key], key


def test_a_job_that_dies_is_an_error_not_a_pass():
    out = _run("""
        import os, signal
        from crosscheck.errors import CrosscheckError
        from crosscheck.sweep import run as run_module
        check = run_module._Sweep.check
        def dying(self, *arch):
            if self.index > 5 and self.index % 16 >= 8:  # the examples of the second job's chunks
                os.kill(os.getpid(), signal.SIGKILL)
            return check(self, *arch)
        run_module._Sweep.check = dying
        try:
            run_sweep(SweepConfig(backends=("numpy",), routes=("recursive",), examples=40, draws=2, jobs=2))
            print(json.dumps({"raised": None}))
        except CrosscheckError as e:
            print(json.dumps({"raised": str(e)}))
    """)
    assert out["raised"] and "sweep job 2 of 2 died with signal 9" in out["raised"]


def test_a_job_that_raises_reports_what_it_raised():
    out = _run("""
        from crosscheck.errors import CrosscheckError
        from crosscheck.sweep import run as run_module
        check = run_module._Sweep.check
        def raising(self, *arch):
            if self.index % 16 >= 8:  # the examples of the second job's chunks
                raise MemoryError("out of memory in job 2")
            return check(self, *arch)
        run_module._Sweep.check = raising
        try:
            run_sweep(SweepConfig(backends=("numpy",), routes=("recursive",), examples=40, draws=2, jobs=2))
            print(json.dumps({"raised": None}))
        except CrosscheckError as e:
            print(json.dumps({"raised": str(e)}))
    """)
    assert out["raised"] == "sweep job 2 of 2 raised MemoryError: out of memory in job 2"


def test_jobs_are_refused_once_jax_has_started_and_auto_runs_one():
    pytest.importorskip("jax")
    out = _run("""
        import jax
        jax.numpy.zeros(1)  # JAX's runtime (threads) started in this process
        from crosscheck.errors import UsageError
        try:
            run_sweep(SweepConfig(backends=("numpy",), examples=10, draws=2, jobs=2))
            refused = None
        except UsageError as e:
            refused = str(e)
        r = run_sweep(SweepConfig(backends=("numpy",), routes=("recursive",), examples=200, draws=2))
        print(json.dumps({"refused": refused, "jobs": r.environment["jobs"], "note": r.environment.get("jobs_note"),
                          "examples": r.examples}))
    """)
    assert out["refused"] and "JAX's runtime is already started" in out["refused"]
    assert out["jobs"] == 1 and "JAX" in out["note"] and out["examples"] == 200


def test_auto_jobs_follow_the_cores_and_the_example_count(monkeypatch):
    import crosscheck.sweep.jobs as jobs

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.setattr(jobs, "_cannot_fork", lambda config: None)
    monkeypatch.setattr(jobs, "usable_cpus", lambda: 2)
    assert resolve_jobs(SweepConfig(), 20)[0] == 1
    assert resolve_jobs(SweepConfig(), 100)[0] == 2
    assert resolve_jobs(SweepConfig(), 1000)[0] == 2
    monkeypatch.setattr(jobs, "usable_cpus", lambda: 64)
    assert resolve_jobs(SweepConfig(), 100_000)[0] == jobs.MAX_AUTO_JOBS
    assert resolve_jobs(SweepConfig(jobs=3), 20)[0] == 3  # asked for: as asked
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    count, why = resolve_jobs(SweepConfig(), 1000)
    assert count == 1 and "xdist" in why


@pytest.mark.parametrize("text", ["0", "-1", "two", "257", "1.5"])
def test_bad_job_counts_are_usage_errors(text):
    with pytest.raises(UsageError):
        parse_jobs(text)


def test_the_cli_reports_its_jobs(tmp_path):
    out = tmp_path / "r.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run([sys.executable, "-m", "crosscheck", "sweep", "--backends", "numpy", "--examples", "60",
                          "--draws", "2", "--jobs", "2", "--no-progress", "--json", str(out)],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "(2 jobs)" in run.stdout.splitlines()[0]
    report = json.loads(out.read_text())
    assert report["environment"]["jobs"] == 2 and report["config"]["jobs"] == 2
    assert report["examples"] == 60


def test_preloading_for_jobs_starts_nothing():
    pytest.importorskip("jax")
    out = _run("""
        from crosscheck.backends import preload_backends
        state = preload_backends(["numpy", "jax"], dtype="float64")
        from jax._src import xla_bridge
        print(json.dumps({"started": xla_bridge.backends_are_initialized(), "keys": sorted(state),
                          "natives": sorted(state["jax"]["natives"])}))
    """)
    assert out == {"started": False, "keys": ["jax"], "natives": ["float64"]}


def test_the_callers_objects_are_collectable_again_after_a_sweep():
    import gc

    from crosscheck.sweep import run_sweep

    run_sweep(SweepConfig(backends=("numpy",), routes=("recursive",), examples=3, draws=2, jobs=1))
    assert gc.get_freeze_count() == 0


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's /proc: field 4 of stat is the parent)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_sigterm_ends_the_sweep_and_its_jobs_with_one_message():
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "crosscheck", "sweep", "--backends", "numpy", "--examples",
                             "100000", "--draws", "2", "--jobs", "2", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    jobs: list[int] = []
    deadline = time.monotonic() + 60
    while len(jobs) < 2 and time.monotonic() < deadline:  # the forked jobs: the sweep's children
        time.sleep(0.2)
        jobs = _children(proc.pid)
    assert len(jobs) == 2, "the sweep did not fork its two jobs"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert err.count("terminated") == 1, err
    time.sleep(0.5)
    for pid in jobs:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # no job outlives the sweep


def test_the_jobs_notes_merge_into_the_sweeps_counts():
    from crosscheck.sweep.jobs import merge
    from crosscheck.sweep.result import SweepResult

    config = SweepConfig(backends=("numpy",))
    parts = []
    for count, size, detail in ((3, 1e-7, "small"), (2, 4e-7, "large")):
        r = SweepResult(config)
        r.notes = [{"kind": "float32_rounding", "backend": "torch", "size": size, "detail": detail, "count": count},
                   {"kind": "kink_convention", "backend": "jax", "detail": "relu'(0) = 1"}]
        parts.append((r, set(), []))
    notes = merge(config, parts, 2).notes
    (rounding,) = [n for n in notes if n["kind"] == "float32_rounding"]
    assert rounding["count"] == 5 and rounding["size"] == 4e-7 and rounding["detail"] == "large"
    assert [n["kind"] for n in notes].count("kink_convention") == 1


@pytest.mark.slow
def test_a_cold_sweep_with_jobs_compiles_jaxs_program_once(tmp_path):
    """Two jobs start on an empty cache folder at once: one compiles the padded program, the other
    waits for it and reads it back stored (crosscheck.backends.programs), so the run compiles once."""
    pytest.importorskip("jax")
    got = _run(f"""
        import os
        os.environ["CROSSCHECK_JAX_CACHE"] = {str(tmp_path / "cache")!r}
        r = run_sweep(SweepConfig(backends=("numpy", "jax"), routes=("recursive",), examples=24, seed=3,
                                  draws=4, jobs=2))
        s = summary(r)
        s["jax"] = r.to_dict()["backends"]["jax"]
        print(json.dumps(s))
    """)
    assert got["passed"] and got["jobs"] == 2
    assert got["jax"]["compiles"] == 1 and got["jax"]["stored"] == 1, got["jax"]
