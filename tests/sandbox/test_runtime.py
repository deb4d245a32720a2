"""The in-sandbox runtime, checked without running it: its seccomp programs (for both
architectures, through a small BPF interpreter) and its imports."""

from __future__ import annotations

import ast
import struct
import sys
from pathlib import Path

import pytest

from workers.sandbox import runtime

ALLOW, EPERM, KILL = runtime.SECCOMP_RET_ALLOW, runtime.SECCOMP_RET_ERRNO | 1, runtime.SECCOMP_RET_KILL_PROCESS


def evaluate(program: list[tuple[int, int, int, int]], *, arch: int, nr: int, args: tuple[int, ...] = ()) -> int:
    """Run a classic BPF seccomp program over a struct seccomp_data."""
    values = list(args) + [0] * (6 - len(args))
    data = struct.pack("<iIQ6Q", nr, arch, 0, *values)
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == runtime.BPF_LD_W_ABS:
            (accumulator,) = struct.unpack_from("<I", data, k)
        elif code == runtime.BPF_JEQ_K:
            pc += jt if accumulator == k else jf
        elif code == runtime.BPF_JGE_K:
            pc += jt if accumulator >= k else jf
        elif code == runtime.BPF_RET_K:
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")
        pc += 1


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_its_filters_deny_what_they_must(machine):
    arch, numbers = runtime.SYSCALLS[machine]
    large = runtime.seccomp_program(machine, rlimits=False)
    small = runtime.seccomp_program(machine, rlimits=True)
    for name in runtime.DENIED:
        if name in numbers:
            expected = ALLOW if name in runtime.RLIMIT_CALLS else EPERM
            assert evaluate(large, arch=arch, nr=numbers[name]) == expected, name
    read = {"x86_64": 0, "aarch64": 63}[machine]
    assert evaluate(large, arch=arch, nr=read) == ALLOW
    assert evaluate(small, arch=arch, nr=read) == ALLOW
    for program in (large, small):
        assert evaluate(program, arch=0x40000003, nr=read) == KILL  # i386 (int 0x80) or anything else
    if machine == "x86_64":
        assert evaluate(large, arch=arch, nr=read | runtime.X32_SYSCALL_BIT) == EPERM
    assert evaluate(large, arch=arch, nr=numbers["ioctl"], args=(0, runtime.TIOCSTI)) == EPERM
    assert evaluate(large, arch=arch, nr=numbers["ioctl"], args=(0, 0x5401)) == ALLOW  # TCGETS
    for command in (runtime.F_SETOWN, runtime.F_SETSIG, runtime.F_SETOWN_EX):
        assert evaluate(large, arch=arch, nr=numbers["fcntl"], args=(3, command)) == EPERM
    assert evaluate(large, arch=arch, nr=numbers["fcntl"], args=(3, 3)) == ALLOW  # F_GETFL
    assert evaluate(small, arch=arch, nr=numbers["setrlimit"]) == EPERM
    assert evaluate(small, arch=arch, nr=numbers["prlimit64"], args=(0, 0, 0, 0x7FFF0000)) == ALLOW  # reads
    assert evaluate(small, arch=arch, nr=numbers["prlimit64"], args=(0, 0, 0x7FFF0000, 0)) == EPERM
    assert evaluate(small, arch=arch, nr=numbers["prlimit64"], args=(0, 0, 1 << 40, 0)) == EPERM
    assert len(large) < 256


def test_it_refuses_other_architectures():
    with pytest.raises(OSError, match="x86_64, aarch64"):
        runtime.seccomp_program("riscv64", rlimits=False)


def test_it_imports_only_the_standard_library_and_numpy():
    tree = ast.parse(Path(runtime.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    imported |= set(runtime.STUDENT_MODULES)
    assert imported - set(sys.stdlib_module_names) - {"__future__"} == {"numpy"}
