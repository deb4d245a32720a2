"""Holes a review found and their fixes, run against real bubblewrap."""

from __future__ import annotations

import time

from workers.sandbox import SandboxConfig, sandbox_run
from workers.sandbox.protocol import Limits, SandboxCall, SandboxJob, Termination

LIMITS = Limits(wall_seconds=3.0, cpu_seconds=2, memory_bytes=512 * 1024 * 1024)

SYSCALL_PROBE = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)

def errno_of(number, *args):
    ctypes.set_errno(0)
    result = libc.syscall(number, *args)
    return float(ctypes.get_errno()) if result == -1 else -1.0
"""


def _one(code: str, expr: str, config: SandboxConfig) -> float | object:
    job = SandboxJob(code=code, entry_points=(), calls=(SandboxCall(id="c", expr=expr),), limits=LIMITS)
    run = sandbox_run(job=job, config=config)
    assert run.termination is Termination.COMPLETED, (run.termination, run.termination_detail, run.output)
    outcome = run.calls["c"]
    assert outcome.error is None, outcome.error
    return outcome.value


def test_linux_aio_is_denied_so_a_child_cannot_drain_the_hosts_aio_slots(bwrap_config: SandboxConfig):
    # io_setup(nr_events, &ctx): EPERM (1), not a reservation against the host-wide aio-max-nr.
    code = SYSCALL_PROBE + "ctx = ctypes.c_ulong(0)\n"
    assert _one(code, "errno_of(206, 65536, ctypes.byref(ctx))", bwrap_config) == 1.0


def test_syscalls_newer_than_the_filter_are_denied(bwrap_config: SandboxConfig):
    # statmount (457) and listmount (458) would list the host paths of the mounts.
    for number in (457, 458, 470, 499):
        assert _one(SYSCALL_PROBE, f"errno_of({number}, 0, 0, 0, 0)", bwrap_config) == 1.0


def test_a_lease_on_a_mounted_file_is_denied(bwrap_config: SandboxConfig):
    code = (
        "import fcntl, os\n"
        "def lease():\n"
        "    fd = os.open(os.__file__, os.O_RDONLY)\n"
        "    try:\n"
        "        fcntl.fcntl(fd, 1024, fcntl.F_RDLCK)\n"
        "        return 1.0\n"
        "    except OSError as exc:\n"
        "        return float(exc.errno)\n"
    )
    assert _one(code, "lease()", bwrap_config) == 1.0


def test_a_frame_of_a_million_objects_is_refused_without_parsing_it(bwrap_config: SandboxConfig):
    code = (
        "import os, struct\n"
        "def flood():\n"
        '    payload = b\'{"t":"call","id":"c","x":[\' + b\',\'.join([b\'{}\'] * 1_000_000) + b\']}\'\n'
        "    os.write(4, struct.pack('>I', len(payload)) + payload)\n"
        "    return 0.0\n"
    )
    job = SandboxJob(code=code, entry_points=(), calls=(SandboxCall(id="c", expr="flood()"),), limits=LIMITS)
    started = time.process_time()
    run = sandbox_run(job=job, config=bwrap_config)
    host_cpu = time.process_time() - started
    assert run.termination in (Termination.PROTOCOL, Termination.COMPLETED)
    assert host_cpu < 0.5, f"the host spent {host_cpu:.2f} s of CPU on one frame"
