"""Run a notebook the way a Jupyter kernel does, then an otter test or the notebook's nbgrader cells.

    python run_like_jupyter.py NOTEBOOK.ipynb [otter/tests/q1.py]

Every code cell runs in ``__main__``, in order, compiled under a file name of its own that is
registered in ``linecache`` (as IPython does, so ``inspect.getsource`` finds a cell's functions).
There is no IPython here, so magic and shell lines (``%``, ``!``) are skipped. A cell with nbgrader
metadata ``"grade": true`` is a test cell: it passes when it runs without raising, as in
``nbgrader autograde``. An otter test file's doctests run in the notebook's namespace, as
``grader.check("q1")`` runs them. Exit 0 when every test passed, 1 otherwise.
"""

import doctest
import json
import linecache
import runpy
import sys
import traceback
import types


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as fh:
        nb = json.load(fh)
    module = types.ModuleType("__main__")
    sys.modules["__main__"] = module
    failed = 0
    for n, cell in enumerate((c for c in nb["cells"] if c["cell_type"] == "code"), start=1):
        lines = "".join(cell["source"]).split("\n")
        if lines and lines[0].startswith("%%"):
            lines[0] = ""
        source = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines) + "\n"
        filename = f"<ipython-input-{n}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        grade = cell.get("metadata", {}).get("nbgrader", {})
        try:
            exec(compile(source, filename, "exec"), module.__dict__)
        except Exception as e:  # noqa: BLE001 - a notebook shows the error and goes on
            if not grade.get("grade"):
                traceback.print_exc()
                return 1
            failed += 1
            print(f"nbgrader cell {grade['grade_id']} ({grade['points']} points): FAILED, 0 points")
            print("".join(traceback.format_exception_only(type(e), e)))
        else:
            if grade.get("grade"):
                print(f"nbgrader cell {grade['grade_id']} ({grade['points']} points): passed")
    if len(argv) > 2:  # otter: the test file's doctests in the notebook's namespace
        test = runpy.run_path(argv[2])["test"]
        for suite in test["suites"]:
            for case in suite["cases"]:
                parsed = doctest.DocTestParser().get_doctest(case["code"], module.__dict__, test["name"],
                                                             argv[2], 0)
                runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
                result = runner.run(parsed, out=sys.stdout.write, clear_globs=False)
                failed += bool(result.failed)
        print(f"{test['name']} results: " + ("All test cases passed!" if not failed else "failed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
