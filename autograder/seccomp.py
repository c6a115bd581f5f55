"""A seccomp filter that stops a process from creating processes (threads stay allowed)
and from reaching into other processes.

The grading worker installs it on itself before it imports a submission, so that a
submission cannot fork, spawn a subprocess or start a detached process that outlives its
grading: ``fork``, ``vfork`` and ``clone`` without ``CLONE_THREAD`` fail with ``EPERM``,
and ``clone3`` (whose flags a classic filter cannot read) fails with ``ENOSYS``, so that
the C library falls back to ``clone``. Nor can it read or write another process's memory
or take control of it (the sandbox's own first process, bubblewrap, runs without the
filter and without the worker's limits): ``ptrace``, ``process_vm_readv`` and
``process_vm_writev`` fail with ``EPERM``. With ``no_new_privs`` set first, the filter can
never be removed by the process or its threads. Linux on x86-64 and AArch64 only.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_CLONE_THREAD = 0x00010000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
_OFFSET_NR, _OFFSET_ARCH, _OFFSET_ARG0_LOW = 0, 4, 16

# (audit arch, {name: syscall number})
_ARCHES = {
    "x86_64": (
        0xC000003E,
        {
            "clone": 56,
            "fork": 57,
            "vfork": 58,
            "clone3": 435,
            "ptrace": 101,
            "process_vm_readv": 310,
            "process_vm_writev": 311,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "clone": 220,
            "clone3": 435,
            "ptrace": 117,
            "process_vm_readv": 270,
            "process_vm_writev": 271,
        },
    ),
}
_REFUSED = ("fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev")

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JSET_K = 0x45
_RET_K = 0x06


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes:
    """The BPF program for ``machine`` (default: this one), as raw ``sock_filter``s.

    Raises:
        OSError: on an architecture this filter does not know.
    """
    machine = machine or platform.machine()
    if machine not in _ARCHES:
        raise OSError(f"no process filter for {machine}")
    arch, numbers = _ARCHES[machine]
    deny = _RET_ERRNO | errno.EPERM
    no_clone3 = _RET_ERRNO | errno.ENOSYS
    body: list[bytes] = []
    # A foreign architecture (a 32-bit call on a 64-bit kernel) is refused outright.
    body.append(_insn(_LD_W_ABS, 0, 0, _OFFSET_ARCH))
    body.append(_insn(_JEQ_K, 1, 0, arch))
    body.append(_insn(_RET_K, 0, 0, deny))
    body.append(_insn(_LD_W_ABS, 0, 0, _OFFSET_NR))
    refused = [numbers[n] for n in _REFUSED if n in numbers]
    # Layout after the syscall number is loaded:
    #   jeq clone3 -> ret ENOSYS; jeq fork/vfork/ptrace/... -> ret EPERM;
    #   jeq clone -> flags test;
    #   ret ALLOW; flags: ld arg0; jset CLONE_THREAD -> ALLOW else EPERM.
    checks = [(numbers["clone3"], "nosys")] + [(n, "deny") for n in refused]
    checks.append((numbers["clone"], "flags"))
    count = len(checks)
    for i, (number, action) in enumerate(checks):
        remaining = count - i - 1  # jumps still ahead of the "allow" return
        # Relative jumps: +remaining lands on "allow", then ENOSYS, EPERM, the flags test.
        offset = {"nosys": 1, "deny": 2, "flags": 3}[action]
        target = remaining + offset
        body.append(_insn(_JEQ_K, target, 0, number))
    body.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    body.append(_insn(_RET_K, 0, 0, no_clone3))
    body.append(_insn(_RET_K, 0, 0, deny))
    body.append(_insn(_LD_W_ABS, 0, 0, _OFFSET_ARG0_LOW))
    body.append(_insn(_JSET_K, 0, 1, _CLONE_THREAD))
    body.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    body.append(_insn(_RET_K, 0, 0, deny))
    return b"".join(body)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def forbid_new_processes() -> None:
    """Install the filter on the calling process (and every thread it starts later).

    Raises:
        OSError: when the kernel refuses (no seccomp, unknown architecture).
    """
    code = program()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = _SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
