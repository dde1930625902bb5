"""Notebook targets (``assignment.ipynb:fn``) and functions of ``__main__``, sent to the sandbox as text.

The example notebooks (examples/notebooks/) are written the way course notebooks are: magics, a data
cell, a helper, the function, a training cell, a plot. Their ground truth is checked against
torch.autograd in float64 (``test_example_notebooks_ground_truth``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import crosscheck
from crosscheck.errors import GradientMismatch, ImplementationError, UsageError
from crosscheck.sandbox.notebook import notebook_chunks, read_cells

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NB = os.path.join(ROOT, "examples", "notebooks")
OPTIONS = dict(batch="rows", weights="in_out", bias="vector", params="dict", hidden="tanh", output="identity",
               loss="half_sse", reduction="mean")


def _write_nb(path, cells):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": src.splitlines(True)} if not src.startswith("# md") else
                    {"cell_type": "markdown", "metadata": {}, "source": src} for src in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return str(path)


def test_only_the_statements_the_function_needs():
    chunks = notebook_chunks(os.path.join(NB, "student_correct.ipynb"), ["backprop"])
    text = "".join(src for _, src, _ in chunks)
    labels = [label for label, _, _ in chunks]
    assert "import numpy as np" in text and "def tanh_prime" in text and "def forward" in text
    assert "def backprop" in text
    # nothing else runs: no matplotlib, no data, no training, no plot, no bare expression, no magic
    for absent in ("matplotlib", "X_train", "for step", "plt.plot", "backprop  # show it", "%", "!pip"):
        assert absent not in text, absent
    assert labels == ["student_correct.ipynb, cell 1", "student_correct.ipynb, cell 3",
                      "student_correct.ipynb, cell 4", "student_correct.ipynb, cell 4"]
    # each statement keeps its line in its cell (tracebacks point at the cell's own lines)
    backprop_src = next(src for label, src, _ in chunks if "def backprop" in src)
    assert backprop_src.split("\n").index("def backprop(params, X, Y):") == 9


def test_magics_shell_lines_and_cell_magics(tmp_path):
    path = _write_nb(tmp_path / "a.ipynb", [
        "%load_ext autoreload\n%autoreload 2\nimport numpy as np\nfiles = !ls\nnp.dot?",
        "%%bash\necho not python",
        "%%time\nSCALE = 2.0",
        "def f(params, X, Y):\n    return [np.zeros_like(p) * SCALE for p in params]",
    ])
    cells = read_cells(path)
    assert cells[1].problem == "a cell magic (skipped)"
    text = "".join(src for _, src, _ in notebook_chunks(path, ["f"]))
    assert "import numpy as np" in text and "SCALE = 2.0" in text
    assert "ls" not in text and "echo" not in text and "autoreload" not in text


def test_check_a_notebook_function_pass_and_named_mistake():
    report = crosscheck.check_implementation(os.path.join(NB, "student_correct.ipynb") + ":backprop",
                                             examples=8, **OPTIONS)
    assert report.verdict == "pass"
    with pytest.raises(GradientMismatch) as e:
        crosscheck.check_implementation(os.path.join(NB, "student_wrong.ipynb") + ":backprop", examples=8, **OPTIONS)
    assert e.value.report.diagnosis[0].id == "scale"
    assert "student_wrong.ipynb:backprop" in e.value.report.reproduce


def test_messages_name_the_cell(tmp_path):
    path = _write_nb(tmp_path / "hw.ipynb", [
        "import numpy as np",
        "# md",
        "def backprop(params, X, Y):\n    m = X.shape[0]\n    return helper(m)",
        "def helper(m):\n    raise ValueError('not done yet')",
    ])
    with pytest.raises(ImplementationError) as e:
        crosscheck.check_implementation(f"{path}:backprop", examples=2, **OPTIONS)
    text = str(e.value) + (e.value.output or "") + str(getattr(e.value, "traceback", ""))
    report = getattr(e.value, "report", None)
    text += report.summary() if report is not None else ""
    assert 'File "hw.ipynb, cell 2", line 3, in backprop' in text
    assert 'File "hw.ipynb, cell 3", line 2, in helper' in text
    with pytest.raises(UsageError, match=r"no cell of .*hw.ipynb defines 'backward'; functions defined there: "
                                          r"backprop, helper"):
        crosscheck.check_implementation(f"{path}:backward", **OPTIONS)


def test_a_forbidden_import_in_an_unused_cell_does_not_count(tmp_path):
    """A cell that imports torch to compare, but that backprop does not need, never runs."""
    src = open(os.path.join(NB, "student_correct.ipynb"), encoding="utf-8").read()
    nb = json.loads(src)
    nb["cells"].insert(2, {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                           "source": ["import torch\n", "print(torch.__version__)"]})
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    report = crosscheck.check_implementation(f"{path}:backprop", examples=3, forbid_imports=["torch"], **OPTIONS)
    assert report.verdict == "pass"


def test_layer_api_on_a_notebook(tmp_path):
    src = open(os.path.join(ROOT, "examples", "grading", "submissions", "correct", "layers.py")).read()
    defs = src.split("\n\n\n")
    cells = ["%matplotlib inline\nimport numpy as np\nfrom time import sleep"] + defs[1:] + [
        "x = np.random.randn(3, 4)\nout, _ = relu_forward(x)\nsleep(30)  # a cell a check must not run"]
    path = _write_nb(tmp_path / "layers.ipynb", cells)
    report = crosscheck.check_layers(path, api="cs231n", layers=["affine", "relu"], examples=4)
    assert [v.verdict for v in report.layers] == ["pass", "pass"]


def test_grade_a_notebook_submission(tmp_path):
    from crosscheck.grade import grade_submission
    from crosscheck.grade.config import parse_config

    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "hw.ipynb").write_text(open(os.path.join(NB, "student_wrong.ipynb"), encoding="utf-8").read())
    config = parse_config('[[check]]\nname = "backprop"\ntarget = "hw.ipynb:backprop"\npoints = 2\n'
                          'examples = 6\ndepth = 2\n'
                          + "".join(f'{k} = "{v}"\n' for k, v in OPTIONS.items()))
    report = grade_submission(config, sub)
    (part,) = report.parts
    assert part.verdict == "fail" and part.reason.startswith("scale at dW")
    assert "crosscheck check hw.ipynb:backprop" in part.reproduce


def _run_like_jupyter(*args):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, os.path.join(NB, "run_like_jupyter.py"), *args], capture_output=True,
                          text=True, env=env, timeout=240, cwd=NB)


@pytest.mark.parametrize("which", ["correct", "wrong"])
def test_otter_style_test_cell(which):
    """otter's grader.check("q1") runs tests/q1.py's doctests in the notebook's namespace: `backprop` is a
    function of __main__, sent to the sandbox as source."""
    r = _run_like_jupyter(f"student_{which}.ipynb", "otter/tests/q1.py")
    if which == "correct":
        assert r.returncode == 0, r.stdout + r.stderr
        assert "q1 results: All test cases passed!" in r.stdout
    else:
        assert r.returncode == 1, r.stdout + r.stderr
        assert "GradientMismatch" in r.stdout and "[scale" in r.stdout and "the 1/m of the mean is missing" in r.stdout
        assert "the 1/m of the mean is missing" in r.stdout


@pytest.mark.parametrize("which", ["correct", "wrong"])
def test_nbgrader_style_autograder_cell(which):
    r = _run_like_jupyter(f"nbgrader/submitted_{which}.ipynb")
    if which == "correct":
        assert r.returncode == 0, r.stdout + r.stderr
        assert "nbgrader cell test_backprop (5 points): passed" in r.stdout
    else:
        assert r.returncode == 1, r.stdout + r.stderr
        assert "nbgrader cell test_backprop (5 points): FAILED, 0 points" in r.stdout
        assert "[scale" in r.stdout and "the 1/m of the mean is missing" in r.stdout


def test_main_function_globals_that_cannot_be_sent(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import numpy as np\nimport crosscheck\nW = np.ones(3)\n"
                      "def backprop(params, X, Y):\n    return W\n"
                      "try:\n    crosscheck.check_implementation(backprop)\n"
                      "except crosscheck.UsageError as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": ROOT}, timeout=60)
    assert "reads globals that cannot be sent to the sandbox as source: W (ndarray, read by backprop)" in r.stdout


def test_example_notebooks_ground_truth():
    """The correct notebook's backprop is torch.autograd's gradient; the wrong one is m times it."""
    torch = pytest.importorskip("torch")
    ns: dict = {"np": np}
    for label, src, _ in notebook_chunks(os.path.join(NB, "student_correct.ipynb"), ["backprop"]):
        exec(compile(src, label, "exec"), ns)
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 2)),
              "b2": rng.normal(size=2)}
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    A = torch.tanh(torch.tensor(X) @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"]
    (0.5 * ((A - torch.tensor(Y)) ** 2).sum() / 5).backward()
    got = ns["backprop"](params, X, Y)
    for k in params:
        np.testing.assert_allclose(got["d" + k], t[k].grad.numpy(), rtol=1e-12, atol=1e-12)


IPYTHON_KERNEL = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()  # sys.modules["__main__"] becomes its user module, as in a kernel
shell.enable_gui = lambda gui=None: None  # %matplotlib inline: a terminal shell has no kernel event loop
for cell in json.load(open(sys.argv[1]))["cells"]:
    if cell["cell_type"] == "code":
        r = shell.run_cell("".join(cell["source"]))
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            print("GRADE CELL", "passed" if r.success else "FAILED " + type(r.error_in_exec).__name__)
"""


@pytest.mark.parametrize("which", ["correct", "wrong"])
def test_nbgrader_cell_under_real_ipython(which, tmp_path):
    """Where IPython is installed: the notebook runs in IPython's own shell (its magics, its cell cache that
    inspect.getsource reads) and the grade cell passes or fails with the named diagnosis."""
    probe = subprocess.run([sys.executable, "-c", "import IPython"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("IPython is not installed")
    script = tmp_path / "kernel.py"
    script.write_text(IPYTHON_KERNEL)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]), "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, str(script), f"nbgrader/submitted_{which}.ipynb"], capture_output=True,
                       text=True, env=env, timeout=300, cwd=NB)
    if which == "correct":
        assert "GRADE CELL passed" in r.stdout, r.stdout + r.stderr
    else:
        assert "GRADE CELL FAILED GradientMismatch" in r.stdout, r.stdout + r.stderr
        assert "1. scale at dW1" in r.stdout
