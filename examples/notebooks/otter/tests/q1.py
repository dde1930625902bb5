OK_FORMAT = True

# An otter-grader test (tests/q1.py of an otter assignment): `grader.check("q1")` in the student's notebook
# runs these doctests in the notebook's global namespace, where `backprop` is the student's function.
# One example: a wrong backprop fails it once, with crosscheck's diagnosis as the exception.
test = {
    "name": "q1",
    "points": 5,
    "suites": [
        {
            "cases": [
                {
                    "code": r"""
>>> import crosscheck
>>> crosscheck.check_implementation(
...     backprop, batch="rows", weights="in_out", bias="vector", params="dict",
...     hidden="tanh", output="identity", loss="half_sse", reduction="mean",
...     examples=15, forbid_imports=["torch", "jax"]).verdict
'pass'
""",
                    "hidden": False,
                    "locked": False,
                },
            ],
            "scored": True,
            "setup": "",
            "teardown": "",
            "type": "doctest",
        },
    ],
}
