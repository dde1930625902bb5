"""The sandbox's wire protocol, both ends: what crosses between ``crosscheck.sandbox`` (the
parent) and ``crosscheck.sandbox.worker`` (the process running the implementation under test).

Frames travel on two private pipes (never stdout or stderr):

- parent -> worker: an 8-byte big-endian length and a pickle. Only the trusted parent pickles.
- worker -> parent: ``HEADER`` (JSON length, data length), a JSON object, then raw array bytes.
  The JSON describes the returned value as a tree (``none``, ``list``, ``tuple``, ``dict`` with
  string keys, ``array`` by index, ``other`` with a type name) and lists each array's dtype,
  shape and byte range. The parent decodes it with ``json.loads`` and ``np.frombuffer`` into
  plain numeric arrays: nothing the implementation returns is unpickled or executed there.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

HEADER = struct.Struct(">QQ")  # JSON header length, array data length
MAX_META = 16 * 2**20  # bytes of JSON the parent accepts
MAX_DATA = 512 * 2**20  # bytes of array data the parent accepts
MAX_DEPTH = 8  # nesting of a returned container that the worker describes
MAX_ITEMS = 10_000  # items per list/dict that the worker describes
ALLOWED_KINDS = "biufc"  # dtype kinds the parent decodes: plain numbers only


# ---- worker side ---------------------------------------------------------------------------------

def read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        b = os.read(fd, min(n - got, 1 << 20))
        if not b:
            return None
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def recv(fd: int) -> Any:
    head = read_exact(fd, 8)
    if head is None:
        return None
    (n,) = struct.unpack(">Q", head)
    body = read_exact(fd, n)
    return None if body is None else pickle.loads(body)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def send(fd: int, meta: dict, arrays: list[np.ndarray]) -> None:
    entries, offset = [], 0
    for a in arrays:
        entries.append({"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset, "nbytes": a.nbytes})
        offset += a.nbytes
    meta = dict(meta, arrays=entries)
    head = json.dumps(meta).encode()
    write_all(fd, HEADER.pack(len(head), offset) + head)
    for a in arrays:
        write_all(fd, a.tobytes())


def as_array(obj: Any) -> np.ndarray | str:
    """A plain numeric ndarray, or a string saying why obj is not one."""
    try:
        if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # a torch tensor that may require grad
            obj = obj.detach().cpu().numpy()
        a = np.asarray(obj)
    except Exception as e:  # noqa: BLE001 - any conversion failure is reported, not raised
        return f"{type(obj).__name__} that could not be converted to a NumPy array ({e})"
    if a.dtype.kind not in "biufc":
        return f"{type(obj).__name__} of dtype {a.dtype}"
    return a if a.flags.c_contiguous else np.array(a, order="C")  # (ascontiguousarray would make 0-d 1-d)


def encode(obj: Any, arrays: list[np.ndarray], depth: int = 0) -> dict:
    if depth > MAX_DEPTH:
        return {"t": "other", "type": "a container nested too deeply"}
    if obj is None:
        return {"t": "none"}
    if isinstance(obj, dict):
        if len(obj) > MAX_ITEMS:
            return {"t": "other", "type": f"dict with {len(obj)} items"}
        bad = [k for k in obj if not isinstance(k, str)]
        if bad:
            return {"t": "other", "type": f"dict with a key of type {type(bad[0]).__name__}"}
        return {"t": "dict", "k": list(obj), "v": [encode(v, arrays, depth + 1) for v in obj.values()]}
    if isinstance(obj, (list, tuple)):
        if len(obj) > MAX_ITEMS:
            return {"t": "other", "type": f"{type(obj).__name__} with {len(obj)} items"}
        return {"t": "list" if isinstance(obj, list) else "tuple",
                "v": [encode(v, arrays, depth + 1) for v in obj]}
    if isinstance(obj, (np.ndarray, np.generic, int, float, complex)) or hasattr(obj, "__array__"):
        a = as_array(obj)
        if isinstance(a, str):
            return {"t": "other", "type": a}
        arrays.append(a)
        return {"t": "array", "i": len(arrays) - 1}
    return {"t": "other", "type": type(obj).__qualname__}


def pack_request(obj: dict) -> bytes:
    """A parent -> worker frame."""
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return struct.pack(">Q", len(body)) + body


# ---- parent side -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Opaque:
    """Something the implementation returned that is not a number, array or container."""

    description: str

    def __repr__(self) -> str:
        return f"<{self.description}>"


class ProtocolError(Exception):
    pass


# C0 and C1 control characters but newline and tab (ESC sequences can fake a PASS on the teacher's terminal),
# and lone surrogates (unprintable: they would crash the summary and lose the --json report)
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` from the implementation (its prints, its exceptions, its names) safe for a terminal and
    for any encoder: each control character but newline and tab, and each lone surrogate, escaped."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                            else f"\\u{ord(m.group()):04x}", text)


MAX_ARRAYS = 100_000  # array entries in one reply
MAX_NDIM = 32  # numpy's own limit is 64


def decode_arrays(entries: Any, data: bytes) -> list[np.ndarray]:
    """The reply's arrays, each a fresh native-order copy of its own bytes. The table must tile
    ``data`` exactly: entries contiguous, in order, not overlapping, their total its length, every
    size computed with Python integers; so the parent allocates at most what was sent (bounded by
    ``MAX_DATA``), whatever the worker claims. Raises ProtocolError for anything else."""
    if not isinstance(entries, list):
        raise ProtocolError("array table is not a list")
    if len(entries) > MAX_ARRAYS:
        raise ProtocolError(f"{len(entries)} arrays in one reply")
    out, expected = [], 0
    for e in entries:
        try:
            if not isinstance(e, dict) or not isinstance(e.get("shape"), list) or len(e["shape"]) > MAX_NDIM:
                raise ProtocolError("malformed array entry")
            shape = tuple(e["shape"])
            offset, nbytes = e["offset"], e["nbytes"]
            if not all(type(v) is int for v in (*shape, offset, nbytes)):
                raise ProtocolError("array entry with a size that is not an integer")
            if not isinstance(e["dtype"], str) or len(e["dtype"]) > 16:
                raise ProtocolError("malformed dtype")
            dtype = np.dtype(e["dtype"])
        except ProtocolError:
            raise
        except Exception as err:  # noqa: BLE001 - KeyError, TypeError, ValueError, OverflowError from numpy
            raise ProtocolError(f"bad array entry: {type(err).__name__}") from None
        if dtype.kind not in ALLOWED_KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype:
            raise ProtocolError(f"dtype {dtype} is not a plain number type")
        if any(s < 0 or s > MAX_DATA for s in shape) or offset != expected or nbytes < 0 or offset + nbytes > len(data):
            raise ProtocolError("array entries do not tile the data (out of range, overlapping or out of order)")
        count = 1
        for s in shape:  # Python integers: no overflow, however large the claim
            count *= s
        if count * dtype.itemsize != nbytes:
            raise ProtocolError("array size does not match its shape")
        try:
            a = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
            out.append(a.astype(dtype.newbyteorder("=")))  # a writable, native-order copy
        except (ValueError, TypeError, MemoryError) as err:
            raise ProtocolError(f"bad array entry: {err}") from None
        expected = offset + nbytes
    if expected != len(data):
        raise ProtocolError(f"{len(data) - expected} bytes of data belong to no array")
    return out


def decode(tree: Any, arrays: list[np.ndarray], depth: int = 0) -> Any:
    if depth > 16 or not isinstance(tree, dict):
        raise ProtocolError("malformed value description")
    t = tree.get("t")
    if t == "none":
        return None
    if t == "array":
        i = tree.get("i")
        if type(i) is not int or not 0 <= i < len(arrays):
            raise ProtocolError("array index out of range")
        return arrays[i]
    if t in ("list", "tuple"):
        values = tree.get("v", [])
        if not isinstance(values, list):
            raise ProtocolError("malformed list")
        items = [decode(v, arrays, depth + 1) for v in values]
        return items if t == "list" else tuple(items)
    if t == "dict":
        keys, values = tree.get("k", []), tree.get("v", [])
        if not isinstance(keys, list) or not isinstance(values, list) or len(keys) != len(values) \
                or not all(isinstance(k, str) for k in keys):
            raise ProtocolError("malformed dict")
        return {k: decode(v, arrays, depth + 1) for k, v in zip(keys, values)}
    if t == "other":
        return Opaque(printable(str(tree.get("type", "object"))[:200]))
    if t == "handle":
        return _decode_handle(tree)
    raise ProtocolError(f"unknown value type {t!r}")


def mutations(names: tuple[str, ...], before: tuple, after: Any) -> list[str]:
    if not isinstance(after, list) or len(after) != len(names):
        return ["the inputs"]
    out: list[str] = []
    for name, b, a in zip(names, before, after):
        _diff(name, b, a, out)
    return out


def _diff(path: str, before: Any, after: Any, out: list[str]) -> None:
    if before is None or after is None:
        if (before is None) != (after is None):
            out.append(path)
        return
    if isinstance(before, np.ndarray) or isinstance(before, (int, float, np.generic)):
        b = np.asarray(before)
        if not isinstance(after, np.ndarray) or after.shape != b.shape or after.dtype != b.dtype \
                or not np.array_equal(after, b, equal_nan=b.dtype.kind in "fc"):
            out.append(path)
        return
    if isinstance(before, dict):
        if not isinstance(after, dict) or set(after) != set(before):
            out.append(f"{path} (its keys)")
            return
        for k in before:
            _diff(f"{path}[{k!r}]", before[k], after[k], out)
        return
    if isinstance(before, (list, tuple)):
        if not isinstance(after, (list, tuple)) or len(after) != len(before):
            out.append(f"{path} (its items)")
            return
        for i, (b, a) in enumerate(zip(before, after)):
            _diff(f"{path}[{i}]", b, a, out)
        return
    out.append(path)


# ---- the layer API's calls by name (``op: "invoke"``): handles ------------------------------------
# A function of the layer API returns objects that only its own code understands (CS231n's ``cache``:
# tuples of arrays, dicts, anything). The worker keeps such a result in a table and describes it as
# ``{"t": "handle", "h": KEY, "type": NAME}``; the parent passes it back as an argument as
# ``{HANDLE_KEY: KEY}`` (a plain dict, so the worker needs no crosscheck class to unpickle it).

HANDLE_KEY = "__crosscheck_handle__"


@dataclass(frozen=True)
class Handle:
    """A value kept in the worker (the parent never sees it): pass it back as an argument."""

    key: int
    type: str
    generation: int = 0  # which worker process holds it (``Sandbox.starts`` when it was made)

    def __repr__(self) -> str:
        return f"<{self.type} kept in the worker>"

    def wire(self) -> dict:
        return {HANDLE_KEY: self.key}


def _decode_handle(tree: dict) -> Handle:
    key = tree.get("h")
    if not isinstance(key, int) or isinstance(key, bool):
        raise ProtocolError("malformed handle")
    return Handle(key, printable(str(tree.get("type", "object"))[:200]))
