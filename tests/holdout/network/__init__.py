"""Held-out network-level backprop implementations, written without reading crosscheck's catalogue.

Each module ports one course or published style to ``fn(params, X, Y)``; the manifest
(``tests/holdout/__init__.py``) says which functions are correct and which hold a mistake.
These modules must never import crosscheck: they run inside its sandbox.
"""
