"""The autograder bundle, unpacked into a simulated /autograder and run offline, as Gradescope runs it.

``crosscheck grade --autograder`` writes the zip; the test unpacks it into ``ROOT/source`` and does what
setup.sh does, without the package index: a fresh virtual environment in which crosscheck is **the
wheel from the zip** (a pure wheel, unpacked into site-packages with its console script), the pinned
dependencies taken from this environment's site-packages (constraints.txt names the same versions).
Then ``run_autograder`` (copied to ROOT as Gradescope does, its paths moved under ROOT) grades a correct,
a wrong and a cheating submission, without a network where ``unshare -n`` is available, and each leaves
a valid results.json. A crosscheck that crashes leaves one too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import crosscheck
from crosscheck.cli import main

HERE = Path(__file__).resolve().parent
CORRECT = (HERE / "implementations" / "correct.py").read_text()
WRONG = CORRECT.replace("    dZ /= m\n", "", 1)  # the 1/m of the mean forgotten
CHEAT = """
import crosscheck  # compute the reference itself and hand it back
from crosscheck.reference import recursive

def cs231n(params, X, y):
    return recursive.gradients(params, X, y)
"""
FC_NET = '''
import numpy as np

class TwoLayerNet:
    """CS231n's TwoLayerNet: params W1 (D, H), b1 (H,), W2 (H, C), b2 (C,); loss(X, y) -> (loss, grads)."""

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0):
        self.params, self.reg = {}, reg

    def loss(self, X, y=None):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        h = np.maximum(X @ W1 + b1, 0)
        scores = h @ W2 + b2
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        N = X.shape[0]
        loss = -np.log(p[np.arange(N), y]).mean()
        dscores = p.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads = {"W2": h.T @ dscores, "b2": dscores.sum(axis=0)}
        dh = dscores @ W2.T * (h > 0)
        grads["W1"], grads["b1"] = X.T @ dh, dh.sum(axis=0)
        return loss, grads
'''
ADAPTER = '''"""The teacher's adapter: crosscheck's fn(params, X, y) calling the student's TwoLayerNet.loss."""
from fc_net import TwoLayerNet  # the submission's file: its folder is on the import path


def loss_grads(params, X, y):
    net = TwoLayerNet(reg=0.0)
    net.params = dict(params)
    _, grads = net.loss(X, y)
    return grads
'''
CONFIG = """
[grade]
examples = 6
timeout = 5
forbid_imports = ["torch", "jax"]

[autograder]
stdout_visibility = "visible"
files = ["data"]

[[check]]
name = "one layer"
target = "nn.py:cs231n"
preset = "cs231n-fc"
depth = 1
points = 4

[[check]]
name = "secret two layers"
target = "nn.py:cs231n"
preset = "cs231n-fc"
depth = 2
points = 6
visibility = "hidden"

[[check]]
name = "TwoLayerNet.loss"
target = "fc_net.py"
adapter = "adapters/twolayer.py:loss_grads"
preset = "cs231n"
points = 5
visibility = "after_due_date"
"""


def _teacher(tmp_path: Path, config: str = CONFIG) -> Path:
    folder = tmp_path / "teacher"
    (folder / "adapters").mkdir(parents=True)
    (folder / "data").mkdir()
    (folder / "grading.toml").write_text(config)
    (folder / "adapters" / "twolayer.py").write_text(ADAPTER)
    (folder / "data" / "notes.txt").write_text("shipped beside the config\n")
    (folder / "secret_solution.py").write_text("not shipped: neither an adapter's folder nor in files\n")
    return folder


def _site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _setup(root: Path, bundle: Path) -> Path:
    """setup.sh, offline: a fresh venv with crosscheck installed from the bundle's wheel."""
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        (root / "source" / name).chmod(0o755)
    venv = root / "crosscheck-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = _site_packages(venv)
    (wheel,) = (root / "source" / "wheels").iterdir()
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    deps = {Path(np.__file__).resolve().parent.parent, Path(sysconfig.get_paths()["purelib"])}
    (site / "zz_pinned_dependencies.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    (venv / "bin" / "crosscheck").write_text(f"#!{venv}/bin/python\nimport sys\nfrom crosscheck.cli import main\n"
                                             "sys.exit(main())\n")
    (venv / "bin" / "crosscheck").chmod(0o755)
    # Gradescope copies run_autograder to /autograder; here every /autograder path is moved under root
    script = (root / "source" / "run_autograder").read_text().replace("/autograder", str(root))
    (root / "run_autograder").write_text(script)
    (root / "run_autograder").chmod(0o755)
    return venv


def _offline() -> list[str]:
    """A new network namespace with no interface but loopback: nothing can be downloaded. (Only where it
    works as is, as root: ``unshare -r`` would fake root for the sandbox, which then cannot drop to a user.)"""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-n"]
    return []


def _run(root: Path, files: dict[str, str]) -> tuple[dict, str]:
    sub = root / "submission"
    shutil.rmtree(sub, ignore_errors=True)
    sub.mkdir()
    for name, text in files.items():
        (sub / name).write_text(text)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root)}  # no PYTHONPATH: the wheel only
    proc = subprocess.run([*_offline(), str(root / "run_autograder")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    from tests.test_grade_formats import validate_gradescope

    validate_gradescope(results)
    return results, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ag")
    teacher = _teacher(tmp)
    bundle = tmp / "autograder.zip"
    assert main(["grade", "--autograder", str(bundle), str(teacher / "grading.toml")]) == 0
    root = tmp / "autograder"
    venv = _setup(root, bundle)
    return root, venv, bundle


def test_the_bundle_ships_the_wheel_the_pins_and_the_teachers_files(autograder):
    root, venv, bundle = autograder
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
    assert "adapters/twolayer.py" in names and "data/notes.txt" in names
    assert "secret_solution.py" not in names
    pins = (root / "source" / "constraints.txt").read_text()
    import hypothesis

    assert f"numpy=={np.__version__}\n" in pins and f"hypothesis=={hypothesis.__version__}\n" in pins
    assert "torch" not in pins  # not in [autograder] requirements: not installed
    setup = (root / "source" / "setup.sh").read_text()
    assert "download.pytorch.org" not in setup
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import crosscheck; print(crosscheck.__file__)"],
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd=root)
    assert where.stdout.startswith(str(_site_packages(venv))), where  # crosscheck comes from the bundled wheel
    version = subprocess.run([str(venv / "bin" / "crosscheck"), "--version"], capture_output=True, text=True)
    assert crosscheck.__version__ in version.stdout + version.stderr


def test_correct_wrong_and_cheating_submissions_offline(autograder):
    root, _, _ = autograder
    correct, log = _run(root, {"nn.py": CORRECT, "fc_net.py": FC_NET})
    assert correct["score"] == 15 and [t["status"] for t in correct["tests"]] == ["passed"] * 3, (correct, log)
    assert correct["stdout_visibility"] == "visible" and correct["visibility"] == "visible"

    wrong, log = _run(root, {"nn.py": WRONG, "fc_net.py": FC_NET.replace("        dscores /= N\n", "")})
    assert wrong["score"] == 0
    by_name = {t["name"]: t for t in wrong["tests"]}
    assert "scale" in by_name["one layer"]["extra_data"]["diagnosis"]
    assert "scale" in by_name["TwoLayerNet.loss"]["extra_data"]["diagnosis"]  # through the teacher's adapter
    assert by_name["secret two layers"]["visibility"] == "hidden"
    assert by_name["TwoLayerNet.loss"]["visibility"] == "after_due_date"
    # nothing of a part students cannot see yet: not in the summary, not in the log they can read
    assert "secret" not in wrong["output"] and "TwoLayerNet" not in wrong["output"]
    assert "0 of the 1 part(s) shown here passed (0 / 4 points)" in wrong["output"]
    # the hidden total (15) as a number of its own: not a digit run inside a temporary path or the fresh seed
    assert "/ 15" not in wrong["output"] and not re.search(r"(?<![\w./-])15(?![\w.])", log)
    assert "secret" not in log and "TwoLayerNet" not in log and "[1.1] one layer: fail 0/4" in log

    cheat, log = _run(root, {"nn.py": CHEAT, "fc_net.py": FC_NET})
    assert cheat["tests"][0]["status"] == "failed" and cheat["tests"][0]["score"] == 0
    assert "crosscheck is not importable in the sandbox" in cheat["tests"][0]["output"]
    assert cheat["score"] == 5  # only the honest adapter check


def test_a_crash_of_crosscheck_still_leaves_a_valid_results_json(autograder, tmp_path):
    root, venv, _ = autograder
    runner = _site_packages(venv) / "crosscheck" / "grade" / "runner.py"
    original = runner.read_text()
    runner.write_text("raise RuntimeError('crosscheck broke while grading')\n")
    try:
        results, log = _run(root, {"nn.py": CORRECT})
    finally:
        runner.write_text(original)
    assert results["score"] == 0 and "your instructor can see why" in results["output"]
    (error,) = results["tests"]
    assert error["visibility"] == "hidden" and "crosscheck broke while grading" in error["output"]
    assert "crosscheck broke while grading" in log  # the instructor's log


def test_self_check_runs_only_the_visible_checks(tmp_path, capsys):
    teacher = _teacher(tmp_path)
    sub = tmp_path / "mine"
    sub.mkdir()
    (sub / "nn.py").write_text(WRONG)
    code = main(["grade", str(teacher / "grading.toml"), "--self-check", "--submission", str(sub)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "one layer" in out and "secret" not in out and "TwoLayerNet" not in out
    assert "scale" in out and "reproduce: crosscheck check nn.py:cs231n --preset cs231n-fc" in out
    assert "2 check(s) of the config are not visible to students and were not run" in err
    (sub / "nn.py").write_text(CORRECT)
    assert main(["grade", str(teacher / "grading.toml"), "--self-check", "--submission", str(sub)]) == 0
    capsys.readouterr()
    cwd = os.getcwd()
    os.chdir(sub)
    try:  # the default submission is the current folder
        assert main(["grade", str(teacher / "grading.toml"), "--self-check"]) == 0
    finally:
        os.chdir(cwd)


def test_autograder_config_errors_are_one_line(tmp_path, capsys):
    teacher = _teacher(tmp_path, CONFIG.replace('stdout_visibility = "visible"', 'stdout_visibility = "maybe"'))
    assert main(["grade", "--autograder", str(tmp_path / "a.zip"), str(teacher / "grading.toml")]) == 2
    assert "[autograder]: key 'stdout_visibility' must be hidden or visible" in capsys.readouterr().err
    (teacher / "grading.toml").write_text(CONFIG.replace("adapters/twolayer.py", "adapters/missing.py"))
    assert main(["grade", "--autograder", str(tmp_path / "a.zip"), str(teacher / "grading.toml")]) == 2
    assert "key 'adapter': no file adapters/missing.py beside the config" in capsys.readouterr().err
    (teacher / "grading.toml").write_text(CONFIG.replace("[autograder]", "[autograder]\nrequirements = "
                                                         "[\"surely-not-installed-pkg\"]"))
    assert main(["grade", "--autograder", str(tmp_path / "a.zip"), str(teacher / "grading.toml")]) == 2
    assert "surely-not-installed-pkg is not installed here" in capsys.readouterr().err


def test_torch_comes_from_the_cpu_index_when_required(tmp_path):
    from importlib import metadata

    try:
        torch_version = metadata.version("torch")  # not imported: only its version is pinned
    except metadata.PackageNotFoundError:
        pytest.skip("torch is not installed")
    teacher = _teacher(tmp_path, CONFIG.replace("[autograder]", '[autograder]\nrequirements = ["torch"]'))
    bundle = tmp_path / "a.zip"
    assert main(["grade", "--autograder", str(bundle), str(teacher / "grading.toml")]) == 0
    with zipfile.ZipFile(bundle) as zf:
        setup, pins = zf.read("setup.sh").decode(), zf.read("constraints.txt").decode()
    assert f"torch=={torch_version}\n" in pins
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in setup and setup.rstrip().count(" torch") >= 1
    assert textwrap.dedent(setup).count("constraints.txt") >= 1


@pytest.mark.slow
def test_offline_bundle_runs_setup_sh_without_a_package_index(tmp_path):
    """``[autograder] offline = true``: the dependencies' wheels are in the zip, and setup.sh itself (a
    real pip into a real venv, only /autograder moved) builds the environment with no network at all."""
    if not _offline():
        pytest.skip("no network namespace here (unshare -n): cannot prove the build is offline")
    config = CONFIG.replace("[autograder]", "[autograder]\noffline = true")
    teacher = _teacher(tmp_path, config)
    bundle = tmp_path / "a.zip"
    if main(["grade", "--autograder", str(bundle), str(teacher / "grading.toml")]) != 0:
        pytest.skip("the package index is not reachable from here to download the wheels")
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        zf.extractall(root / "source")
    assert any(n.startswith("wheels/numpy-") for n in names) and any(n.startswith("wheels/hypothesis-") for n in names)
    setup = (root / "source" / "setup.sh").read_text().replace("/autograder", str(root))
    assert '--no-index --find-links "$SOURCE/wheels"' in setup
    (root / "source" / "setup.sh").write_text(setup)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "PIP_CONFIG_FILE": "/dev/null"}  # this machine's pip settings stay out
    proc = subprocess.run([*_offline(), "bash", str(root / "source" / "setup.sh")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert crosscheck.__version__ in proc.stdout  # crosscheck --version from the built venv
    script = (root / "source" / "run_autograder").read_text().replace("/autograder", str(root))
    (root / "run_autograder").write_text(script)
    (root / "run_autograder").chmod(0o755)
    for name in ("setup.sh", "run_autograder"):
        (root / "source" / name).chmod(0o755)
    results, _ = _run(root, {"nn.py": WRONG, "fc_net.py": FC_NET})
    assert results["score"] == 5 and "scale" in results["tests"][0]["extra_data"]["diagnosis"]
