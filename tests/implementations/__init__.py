"""Student-style implementations that the check tests run through ``crosscheck check``.

``correct``: right gradients in several conventions; ``mistakes``: one planted mistake per
catalogue id; ``misbehaving``: implementations that fail to run in every way the sandbox
must survive; ``engine``: a ``spec``-aware implementation for any network.
None of them imports crosscheck: they are written the way their authors would write them.
"""
