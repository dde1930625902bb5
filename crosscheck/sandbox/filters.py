"""A seccomp filter for the worker, in pure Python (``ctypes``): system calls that untrusted code
does not need and that would pass the other guards by, refused with EPERM.

Worker side: the parent sends this file's text with the worker's (``crosscheck.sandbox.boot``),
so it imports nothing of crosscheck. ``seccomp_deny(...)`` installs the filter on every thread of the worker
(``SECCOMP_FILTER_FLAG_TSYNC``), after the worker is up and before the target is imported; a filter
cannot be removed, and children inherit it. It needs Linux on x86_64 or aarch64 and
``no_new_privs`` (the supervisor sets it); elsewhere it returns a reason and changes nothing.

- ``exec=True`` (a ``--forbid-import`` list is set): ``execve`` and ``execveat``, so no child
  interpreter (which has no audit hook) runs at all;
- ``dir_fd=True`` (no mount namespace hides the forbidden folders): ``openat`` relative to a
  directory descriptor, ``openat2`` and ``open_by_handle_at`` (the audit hook sees only the name),
  and ``socket(AF_UNIX)`` (the host's unix sockets are reachable without a mount namespace).

System calls of another ABI (i386 through ``int 0x80``, x32) are refused whenever a filter is set.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

_ARCH = {  # machine -> (AUDIT_ARCH, seccomp syscall, {name: number})
    "x86_64": (0xC000003E, 317, {"execve": 59, "execveat": 322, "openat": 257, "openat2": 437,
                                 "open_by_handle_at": 304, "socket": 41}),
    "aarch64": (0xC00000B7, 277, {"execve": 221, "execveat": 281, "openat": 56, "openat2": 437,
                                  "open_by_handle_at": 265, "socket": 198}),
}
_LD, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_AT_FDCWD = 0xFFFFFF9C  # -100, the low 32 bits of the dirfd argument
_AF_UNIX = 1


def program(machine: str, *, exec_: bool, dir_fd: bool) -> list[tuple[int, int, int, int]]:
    """The BPF program as (code, jt, jf, k) instructions."""
    arch, _, nr = _ARCH[machine]
    eperm = _ERRNO | 1
    out: list[tuple[int, int, int, int]] = [(_LD, 0, 0, 4), (_JEQ, 1, 0, arch), (_RET, 0, 0, eperm), (_LD, 0, 0, 0)]
    if machine == "x86_64":
        out += [(_JGE, 0, 1, 0x40000000), (_RET, 0, 0, eperm)]  # the x32 ABI
    denied = (["execve", "execveat"] if exec_ else []) + (["openat2", "open_by_handle_at"] if dir_fd else [])
    for name in denied:
        out += [(_JEQ, 0, 1, nr[name]), (_RET, 0, 0, eperm)]
    if dir_fd:
        # openat(dirfd, ...): allowed only relative to the working directory
        out += [(_JEQ, 0, 3, nr["openat"]), (_LD, 0, 0, 16), (_JEQ, 1, 0, _AT_FDCWD), (_RET, 0, 0, eperm),
                (_LD, 0, 0, 0)]
        # socket(AF_UNIX, ...): refused (socketpair stays)
        out += [(_JEQ, 0, 3, nr["socket"]), (_LD, 0, 0, 16), (_JEQ, 0, 1, _AF_UNIX), (_RET, 0, 0, eperm)]
    out.append((_RET, 0, 0, _ALLOW))
    return out


def seccomp_deny(*, exec_: bool, dir_fd: bool) -> str | None:
    """Install the filter; None when it is in place, else why not (nothing changed then)."""
    if not (exec_ or dir_fd):
        return None
    machine = platform.machine()
    if not os.uname().sysname == "Linux" or machine not in _ARCH:
        return f"no seccomp filter on {os.uname().sysname} {machine}"
    code = program(machine, exec_=exec_, dir_fd=dir_fd)
    raw = b"".join(struct.pack("=HBBI", *ins) for ins in code)
    buf = ctypes.create_string_buffer(raw, len(raw))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Prog(len(code), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    syscall_nr = _ARCH[machine][1]
    # seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, prog): every thread, or none
    if libc.syscall(ctypes.c_long(syscall_nr), ctypes.c_ulong(1), ctypes.c_ulong(1), ctypes.byref(prog)) == 0:
        return None
    err = ctypes.get_errno()
    return f"no seccomp filter ({os.strerror(err)})"
