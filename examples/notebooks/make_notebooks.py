"""Writes the example notebooks of this folder (run it after changing them: ``python make_notebooks.py``).

- ``student_correct.ipynb``, ``student_wrong.ipynb``: a student's assignment notebook, as courses hand
  them out: magics, a data cell, a helper, the function, a training cell and a plot. The wrong one forgets
  the 1/m of the mean.
- ``nbgrader/submitted_correct.ipynb``, ``nbgrader/submitted_wrong.ipynb``: the same notebooks with the
  instructor's locked nbgrader autograder cell at the end (``nbgrader`` metadata: grade, points, locked).
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

BACKPROP = '''def forward(params, X):
    depth = sum(1 for key in params if key.startswith("W"))
    A, Z = [X], [None]  # A[l]: (m, n_l); Z[l]: its pre-activation
    for layer in range(1, depth + 1):
        Z.append(A[-1] @ params[f"W{layer}"] + params[f"b{layer}"])
        A.append(np.tanh(Z[-1]) if layer < depth else Z[-1])
    return A, Z


def backprop(params, X, Y):
    depth = sum(1 for key in params if key.startswith("W"))
    m = X.shape[0]
    A, Z = forward(params, X)
    delta = (A[depth] - Y)SCALE  # dL/dZ_depth: (m, n_depth)
    grads = {}
    for layer in range(depth, 0, -1):
        grads[f"dW{layer}"] = A[layer - 1].T @ delta
        grads[f"db{layer}"] = delta.sum(axis=0)
        if layer > 1:
            delta = (delta @ params[f"W{layer}"].T) * tanh_prime(Z[layer - 1])
    return grads

backprop  # show it'''

# the instructor's autograder cell (nbgrader: a locked "autograder tests" cell worth 5 points)
NBGRADER_CELL = '''# Autograder tests (locked): crosscheck runs backprop in its sandbox and names the mistake
# (it raises on a wrong backprop; the report is assigned, so a passing cell has no output for nbgrader to score)
import crosscheck

report = crosscheck.check_implementation(
    backprop, batch="rows", weights="in_out", bias="vector", params="dict",
    hidden="tanh", output="identity", loss="half_sse", reduction="mean",
    examples=15, forbid_imports=["torch", "jax"])'''


def cells(wrong: bool) -> list[tuple[str, str, dict]]:
    return [
        ("markdown", "# Assignment 2: backpropagation by hand\n\nImplement `backprop(params, X, Y)` for a fully "
         "connected net with tanh hidden layers,\nan identity output and the loss "
         "$\\frac{1}{2m}\\sum (\\hat Y - Y)^2$.", {}),
        ("code", "%matplotlib inline\n!pip install -q numpy\nimport numpy as np\nimport matplotlib.pyplot as plt", {}),
        ("code", "# toy data: this cell loads the data set in the real assignment (slow, not needed by a check)\n"
         "rng = np.random.default_rng(0)\nX_train = rng.normal(size=(500, 4))\n"
         "Y_train = np.sin(X_train.sum(axis=1, keepdims=True))\nprint(X_train.shape)", {}),
        ("code", "def tanh_prime(z):\n    \"\"\"tanh'(z) = 1 - tanh(z)**2\"\"\"\n    return 1.0 - np.tanh(z) ** 2", {}),
        ("markdown", "Layout: samples are rows, `X: (m, n_0)`; `W{l}: (n_{l-1}, n_l)` used as `A @ W + b`; "
         "parameters in a dict `W1, b1, ...`.", {}),
        ("code", BACKPROP.replace("SCALE", "" if wrong else " / m"), {}),
        ("code", "%%time\n# training: never run by a check\n"
         "params = {\"W1\": rng.normal(size=(4, 8)) * 0.5, \"b1\": np.zeros(8),\n"
         "          \"W2\": rng.normal(size=(8, 1)) * 0.5, \"b2\": np.zeros(1)}\n"
         "for step in range(200):\n    g = backprop(params, X_train, Y_train)\n"
         "    for k in params:\n        params[k] -= 0.01 * g[\"d\" + k]", {}),
        ("code", "plt.plot(Y_train[:50]); plt.show()", {}),
    ]


def notebook(items: list[tuple[str, str, dict]]) -> dict:
    out = []
    for kind, src, meta in items:
        cell = {"cell_type": kind, "metadata": meta, "source": src.splitlines(True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        out.append(cell)
    return {"cells": out, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                      "name": "python3"}, "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def write(path: str, items: list) -> None:
    with open(os.path.join(HERE, path), "w", encoding="utf-8") as fh:
        json.dump(notebook(items), fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    grade = ("code", NBGRADER_CELL, {"nbgrader": {"grade": True, "grade_id": "test_backprop", "locked": True,
                                                   "points": 5, "schema_version": 3, "solution": False,
                                                   "task": False}})
    for name, wrong in (("correct", False), ("wrong", True)):
        write(f"student_{name}.ipynb", cells(wrong))
        write(f"nbgrader/submitted_{name}.ipynb", cells(wrong) + [grade])
