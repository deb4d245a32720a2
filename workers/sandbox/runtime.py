"""The code that runs inside the sandbox: the zygote and the child harness.

The host hands this file to the interpreter as source (`python -I -S -c <source>`), so
no project file is mounted: it imports the standard library and numpy only, never the
project. Arguments: the control socket's fd, the directory holding numpy, the mode.

The zygote imports numpy once, then waits on the control socket. For each job the host
sends three pipe ends (job to read, results to write, output to write) and nothing else;
the zygote passes them to a child it forked ahead of time (a "spare") and closes its
copies unread, so it never holds a submission's code, inputs or results and has nothing
to leak to a later child. The child locks itself down (no_new_privs and the large seccomp
filter while it waits, then rlimits and the small filter) before it runs any job code,
then runs the set-ups, the student's module and the calls, writing one length-prefixed
JSON frame per step. The host trusts nothing a child sends after the first ("hello") frame.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import ctypes
import fcntl
import json
import linecache
import os
import platform
import resource
import select
import signal
import socket
import struct
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any, NoReturn

# Modules students commonly import, loaded before any fork so that children need not read
# them from disk (in the weaker mode they may not be able to).
STUDENT_MODULES = ("collections", "functools", "itertools", "math", "operator", "random", "typing", "dataclasses")

FRAME_HEADER = struct.Struct(">I")
STUDENT_FILE = "submission.py"
CHECK_FILE = "<check>"
MESSAGE_CHARS = 500
TRACEBACK_HEAD, TRACEBACK_TAIL, TRACEBACK_CHARS = 10, 20, 8000
TYPE_NAME_CHARS = 100
NOBODY = 65534

# prctl(2) and seccomp(2) constants (identical on x86_64 and aarch64).
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
EPERM = 1
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_RET_K = 0x06
TIOCSTI = 0x5412
F_SETOWN, F_SETSIG, F_SETOWN_EX, F_SETLEASE = 8, 10, 15, 1024
# Syscalls numbered from here on are newer than this table (the same numbers on x86_64
# and aarch64 since 5.x): denied unless reviewed and listed as harmless.
FIRST_UNREVIEWED_SYSCALL = 450
X32_SYSCALL_BIT = 0x40000000
# Offsets in struct seccomp_data of the low 32 bits (little-endian) of args[1] and args[2].
ARG1_LOW, ARG2_LOW = 16 + 8, 16 + 16
RLIMIT_CALLS = ("setrlimit", "prlimit64")

# Denied with EPERM. Names absent from an architecture's table do not exist there.
# fmt: off
DENIED = (
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "execve", "execveat", "fork", "vfork",
    "clone", "clone3", "ptrace", "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open",
    "pidfd_send_signal", "pidfd_getfd", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf",
    "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "process_vm_readv",
    "process_vm_writev", "process_madvise", "kcmp", "keyctl", "add_key", "request_key", "setrlimit", "prlimit64",
    "personality", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl", "semget",
    "semop", "semctl", "semtimedop", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
    "mq_getsetattr", "setpriority", "sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr",
    "ioprio_set", "migrate_pages", "move_pages", "mbind", "open_by_handle_at", "name_to_handle_at", "quotactl",
    "quotactl_fd", "acct", "syslog", "iopl", "ioperm", "fanotify_init", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "get_robust_list", "lookup_dcookie", "modify_ldt", "uselib",
    "vhangup", "sysfs", "ustat", "_sysctl", "clock_adjtime", "settimeofday", "adjtimex", "clock_settime",
    "sethostname", "setdomainname", "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents",
    "io_pgetevents", "cachestat", "statmount", "listmount",
)
# fmt: on

# (audit arch, syscall numbers) from the kernel's unistd_64.h and asm-generic/unistd.h.
# fmt: off
SYSCALLS: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "socket": 41, "socketpair": 53, "connect": 42, "bind": 49, "listen": 50, "accept": 43,
            "accept4": 288, "execve": 59, "execveat": 322, "fork": 57, "vfork": 58, "clone": 56,
            "clone3": 435, "ptrace": 101, "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
            "rt_tgsigqueueinfo": 297, "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438,
            "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
            "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425,
            "io_uring_enter": 426, "io_uring_register": 427, "process_vm_readv": 310,
            "process_vm_writev": 311, "process_madvise": 440, "kcmp": 312, "keyctl": 250, "add_key": 248,
            "request_key": 249, "setrlimit": 160, "prlimit64": 302, "personality": 135, "init_module": 175,
            "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
            "reboot": 169, "swapon": 167, "swapoff": 168, "shmget": 29, "shmat": 30, "shmctl": 31,
            "shmdt": 67, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "semget": 64, "semop": 65,
            "semctl": 66, "semtimedop": 220, "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242,
            "mq_timedreceive": 243, "mq_notify": 244, "mq_getsetattr": 245, "setpriority": 141,
            "sched_setaffinity": 203, "sched_setscheduler": 144, "sched_setparam": 142, "sched_setattr": 314,
            "ioprio_set": 251, "migrate_pages": 256, "move_pages": 279, "mbind": 237,
            "open_by_handle_at": 304, "name_to_handle_at": 303, "quotactl": 179, "quotactl_fd": 443,
            "acct": 163, "syslog": 103, "iopl": 172, "ioperm": 173, "fanotify_init": 300, "move_mount": 429,
            "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
            "mount_setattr": 442, "get_robust_list": 274, "lookup_dcookie": 212, "modify_ldt": 154,
            "uselib": 134, "vhangup": 153, "sysfs": 139, "ustat": 136, "_sysctl": 156, "clock_adjtime": 305,
            "settimeofday": 164, "adjtimex": 159, "clock_settime": 227, "sethostname": 170,
            "setdomainname": 171, "ioctl": 16, "fcntl": 72, "io_setup": 206, "io_destroy": 207,
            "io_getevents": 208, "io_submit": 209, "io_cancel": 210, "io_pgetevents": 333, "cachestat": 451,
            "statmount": 457, "listmount": 458,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "socket": 198, "socketpair": 199, "connect": 203, "bind": 200, "listen": 201, "accept": 202,
            "accept4": 242, "execve": 221, "execveat": 281, "clone": 220, "clone3": 435, "ptrace": 117,
            "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
            "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438, "mount": 40, "umount2": 39,
            "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268, "bpf": 280, "perf_event_open": 241,
            "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
            "process_vm_readv": 270, "process_vm_writev": 271, "process_madvise": 440, "kcmp": 272,
            "keyctl": 219, "add_key": 217, "request_key": 218, "setrlimit": 164, "prlimit64": 261,
            "personality": 92, "init_module": 105, "finit_module": 273, "delete_module": 106,
            "kexec_load": 104, "kexec_file_load": 294, "reboot": 142, "swapon": 224, "swapoff": 225,
            "shmget": 194, "shmat": 196, "shmctl": 195, "shmdt": 197, "msgget": 186, "msgsnd": 189,
            "msgrcv": 188, "msgctl": 187, "semget": 190, "semop": 193, "semctl": 191, "semtimedop": 192,
            "mq_open": 180, "mq_unlink": 181, "mq_timedsend": 182, "mq_timedreceive": 183, "mq_notify": 184,
            "mq_getsetattr": 185, "setpriority": 140, "sched_setaffinity": 122, "sched_setscheduler": 119,
            "sched_setparam": 118, "sched_setattr": 274, "ioprio_set": 30, "migrate_pages": 238,
            "move_pages": 239, "mbind": 235, "open_by_handle_at": 265, "name_to_handle_at": 264,
            "quotactl": 60, "quotactl_fd": 443, "acct": 89, "syslog": 116, "fanotify_init": 262,
            "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
            "fspick": 433, "mount_setattr": 442, "get_robust_list": 100, "lookup_dcookie": 18,
            "vhangup": 58, "clock_adjtime": 266, "settimeofday": 170, "adjtimex": 171, "clock_settime": 112,
            "sethostname": 161, "setdomainname": 162, "ioctl": 29, "fcntl": 25, "io_setup": 0,
            "io_destroy": 1, "io_submit": 2, "io_cancel": 3, "io_getevents": 4, "io_pgetevents": 292,
            "cachestat": 451, "statmount": 457, "listmount": 458,
        },
    ),
}
# fmt: on


Op = tuple[int, str | int, str | int, int]


class SockFilter(ctypes.Structure):
    _fields_ = (("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint))


class SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter)))


def seccomp_program(machine: str, *, rlimits: bool) -> list[tuple[int, int, int, int]]:
    """A BPF program as (code, jt, jf, k), jumps resolved to relative offsets.

    rlimits=False: the large filter, every DENIED call but the rlimit ones, plus
    ioctl(TIOCSTI) and fcntl(F_SETOWN/F_SETSIG/F_SETOWN_EX). rlimits=True: the small one,
    setrlimit, and prlimit64 unless it only reads (new limit NULL: glibc's getrlimit)."""
    if machine not in SYSCALLS:
        raise OSError(f"no seccomp table for architecture {machine!r} (supported: x86_64, aarch64)")
    arch, numbers = SYSCALLS[machine]
    # Symbolic program: a string is a label; jump targets name labels, resolved below.
    ops: list[Op | str] = [
        (BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (BPF_JEQ_K, 0, "kill", arch),
        (BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64":
        ops.append((BPF_JGE_K, "deny", 0, X32_SYSCALL_BIT))
    if rlimits:
        ops += [
            (BPF_JEQ_K, "deny", 0, numbers["setrlimit"]),
            (BPF_JEQ_K, 0, "allow", numbers["prlimit64"]),
            (BPF_LD_W_ABS, 0, 0, ARG2_LOW),
            (BPF_JEQ_K, 0, "deny", 0),
            (BPF_LD_W_ABS, 0, 0, ARG2_LOW + 4),
            (BPF_JEQ_K, "allow", "deny", 0),
        ]
    else:
        denied = [numbers[name] for name in DENIED if name in numbers and name not in RLIMIT_CALLS]
        ops.append((BPF_JGE_K, "deny", 0, FIRST_UNREVIEWED_SYSCALL))
        ops += [(BPF_JEQ_K, "deny", 0, number) for number in denied if number < FIRST_UNREVIEWED_SYSCALL]
        # The command is args[1], an unsigned int: its low 32 bits suffice. F_SETOWN and
        # friends would have the kernel signal another process of our uid (the zygote).
        ops += [
            (BPF_JEQ_K, 0, "not_ioctl", numbers["ioctl"]),
            (BPF_LD_W_ABS, 0, 0, ARG1_LOW),
            (BPF_JEQ_K, "deny", "allow", TIOCSTI),
            "not_ioctl",
            (BPF_JEQ_K, 0, "allow", numbers["fcntl"]),
            (BPF_LD_W_ABS, 0, 0, ARG1_LOW),
            (BPF_JEQ_K, "deny", 0, F_SETOWN),
            (BPF_JEQ_K, "deny", 0, F_SETSIG),
            (BPF_JEQ_K, "deny", 0, F_SETOWN_EX),
            (BPF_JEQ_K, "deny", "allow", F_SETLEASE),
        ]
    ops += [
        "allow",
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        "deny",
        (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        "kill",
        (BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
    ]
    labels: dict[str, int] = {}
    program: list[Op] = []
    for op in ops:
        if isinstance(op, str):
            labels[op] = len(program)
        else:
            program.append(op)

    def offset(target: str | int, pc: int) -> int:
        if isinstance(target, int):
            return target
        distance = labels[target] - pc - 1
        if not 0 <= distance <= 255:
            raise OSError("seccomp program too long for 8-bit jumps")
        return distance

    return [(code, offset(jt, pc), offset(jf, pc), k) for pc, (code, jt, jf, k) in enumerate(program)]


class Lockdown:
    """no_new_privs and two stacked seccomp filters (the kernel runs both; the stricter
    answer wins), built in the zygote so that a child only hands over ready programs.

    The large filter is installed by the spare before its job arrives, off the critical
    path (about 0.35 ms: the kernel compiles its 120 instructions), so it must still allow
    the rlimit calls that the job's limits need; the small one (about 0.05 ms), installed
    once those are set, denies them. Both are in place before any job code runs."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.prctl = self.libc.prctl
        self.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
        self.prctl.restype = ctypes.c_int
        self.error = ""
        self.programs: list[tuple[Any, SockFprog]] = []
        try:
            machine = platform.machine()
            programs = [
                seccomp_program(machine, rlimits=False),
                seccomp_program(machine, rlimits=True),
            ]
        except OSError as exc:
            self.error = str(exc)
            programs = []
        for program in programs:
            filters = (SockFilter * len(program))(*(SockFilter(*op) for op in program))
            self.programs.append((filters, SockFprog(len(program), filters)))

    def set(self, option: int, arg2: int) -> None:
        if self.prctl(option, arg2, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl({option}) failed: {os.strerror(errno)}")

    def install(self, stage: int) -> None:
        """Stage 0: no_new_privs and the large filter; stage 1: the rlimit calls too."""
        if self.error:
            raise OSError(self.error)
        if stage == 0:
            self.set(PR_SET_NO_NEW_PRIVS, 1)
        _filters, fprog = self.programs[stage]
        if self.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"seccomp filter refused: {os.strerror(errno)}")


# ----------------------------------------------------------------------------------------
# Zygote


# Set before any preloaded module starts: thread pools of one (clone() is denied in the
# children, and a pool alive in the zygote would not exist in its forks), no allocator
# background thread (pyarrow's jemalloc starts one at import), no multiprocessing in
# joblib, and matplotlib drawing to memory only.
THREAD_SETTINGS = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
    "ARROW_IO_THREADS": "1",
    "JOBLIB_MULTIPROCESSING": "0",
    "MPLBACKEND": "Agg",
}


def zygote_main(argv: list[str]) -> None:
    ctl_fd, site_dir, mode = int(argv[0]), argv[1], argv[2]
    preload = [name for name in (argv[3] if len(argv) > 3 else "numpy").split(",") if name]
    ctl = socket.socket(fileno=ctl_fd)
    try:
        os.environ.update(THREAD_SETTINGS)
        if site_dir not in sys.path:
            sys.path.append(site_dir)
        import importlib
        import time

        started = time.monotonic()
        import tempfile

        import numpy

        # No directory is writable, so none passes tempfile's test and gettempdir()
        # raises; libraries that only ask for it at import (PyTorch's compiler, reached
        # by torch.optim) get the read-only cwd, where a real write then fails plainly.
        tempfile.tempdir = SANDBOX_CWD if mode == "bubblewrap" else os.getcwd()
        # PyTorch's compiler makes its cache directory at first use (an optimizer's step):
        # an existing one passes makedirs(exist_ok=True).
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.tempdir
        with matplotlib_cache_in(tempfile.tempdir):
            for module in (*STUDENT_MODULES, *preload):
                importlib.import_module(module)
        settle_preloaded()
        numpy.random.default_rng(0).random(4)  # load the generator path once, before any fork
        imported = time.monotonic() - started
        lockdown = Lockdown()
        os.environ.clear()
        if mode == "rlimits":
            drop_privileges(lockdown)
        lockdown.set(PR_SET_DUMPABLE, 0)  # no ptrace or /proc/<pid>/mem by same-uid processes
        import gc

        gc.collect()
        gc.freeze()  # children then do not dirty (copy) the zygote's objects when collecting
        info = {
            "numpy": numpy.__version__,
            "uid": os.getuid(),
            "seccomp": lockdown.error or "ok",
            "pid": os.getpid(),
            "import_seconds": round(imported, 4),
            "modules": {name: getattr(sys.modules[name], "__version__", "") for name in preload if "." not in name},
        }
    except BaseException as exc:
        ctl.send(b"X" + f"{type(exc).__name__}: {exc}".encode(errors="replace")[:2000])
        raise SystemExit(1) from None
    Zygote(ctl, lockdown).serve(json.dumps(info).encode())


SANDBOX_CWD = "/sandbox/work"


@contextlib.contextmanager
def matplotlib_cache_in(directory: str) -> Any:
    """matplotlib insists, at import, on a writable configuration directory (else a
    temporary one), and the sandbox has no writable directory at all. It only writes
    there to save its font list, which it builds in memory anyway; so while the zygote
    imports the preloaded modules, the read-only `directory` passes its writability
    test. Children inherit the answer (matplotlib caches it) and never ask again."""
    os.environ["MPLCONFIGDIR"] = directory
    real_access = os.access

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        if mode == os.W_OK and os.fspath(path) == directory:
            return True
        return real_access(path, mode, *args, **kwargs)

    os.access = access
    try:
        yield
    finally:
        os.access = real_access


def settle_preloaded() -> None:
    """What the preloaded libraries would otherwise do lazily in a child, where it fails
    or costs each submission: PyTorch's thread pools sized to one, and one small forward
    and backward pass (its kernels' first-use set-up) done here, before any fork."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
        x = torch.linspace(-1.0, 1.0, 8, requires_grad=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x, (x.detach() > 0).float())
        loss.backward()
        torch.from_numpy(sys.modules["numpy"].zeros(2)).numpy()
        # An optimizer's first use imports PyTorch's compiler machinery (seconds).
        weight = torch.nn.Parameter(torch.zeros(2))
        for optimizer in (torch.optim.SGD([weight], lr=0.1), torch.optim.Adam([weight], lr=0.1)):
            weight.sum().backward()
            optimizer.step()
            optimizer.zero_grad()


def drop_privileges(lockdown: Lockdown) -> None:
    """Weaker mode only: die with the host, and never run jobs as root."""
    lockdown.set(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getuid() == 0 or os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


class Process:
    """A forked child as the zygote sees it: pid, pidfd, and its wait status once reaped."""

    def __init__(self, pid: int, channel: socket.socket) -> None:
        self.pid = pid
        self.channel = channel  # the spare's private socket, until it gets its job
        self.pidfd = os.pidfd_open(pid)
        self.status: tuple[int, float, int] | None = None  # wait status, CPU seconds, peak RSS (KiB)
        self.warmed = False

    def poll(self) -> bool:
        """Reap if it has exited; True once reaped."""
        if self.status is None:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                self.status = (status, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
        return self.status is not None

    def kill(self) -> None:
        if self.status is None:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            _pid, status, usage = os.wait4(self.pid, 0)
            self.status = (status, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)

    def close(self) -> None:
        os.close(self.pidfd)
        self.channel.close()


SPARES = 2
# Spares warm up only once the zygote has had nothing to do for this long: jobs sent back
# to back then run on cold spares rather than share two CPUs with a warm-up.
IDLE_SECONDS = 0.002


class Zygote:
    """Answers the host: F (+3 fds) runs a job in the spare child, W reaps it and reports.

    Spare children are forked ahead of time and, when the zygote is idle, warmed up, so a
    job starts with a wake-up instead of a fork and finds its pages already copied. A
    spare holds no job data until it receives its pipes; the zygote never reads them.
    """

    def __init__(self, ctl: socket.socket, lockdown: Lockdown) -> None:
        self.ctl = ctl
        self.lockdown = lockdown
        self.spares: list[Process] = []
        self.running: Process | None = None

    def serve(self, info: bytes) -> None:
        self.spares = [self.fork_spare() for _ in range(SPARES)]
        self.ctl.send(b"R" + info)
        poller = select.poll()
        poller.register(self.ctl, select.POLLIN)
        while True:
            idle = self.running is None and any(not spare.warmed for spare in self.spares)
            events = poller.poll(IDLE_SECONDS * 1000 if idle else None)
            if not events and idle:
                self.warm_spares()
            for fd, _events in events:
                if self.running is not None and fd == self.running.pidfd:
                    poller.unregister(fd)
                    self.running.poll()  # reap at once: the host's W then needs no wait
                elif fd == self.ctl.fileno() and not self.request(poller):
                    return

    def request(self, poller: select.poll) -> bool:
        msg, fds, _flags, _addr = socket.recv_fds(self.ctl, 64, 3 + MAX_HIDDEN_FILES + 1)
        if not msg:
            close_all(fds)
            return False  # the host is gone
        if msg == b"F" and 3 <= len(fds) <= 3 + MAX_HIDDEN_FILES and self.running is None:
            child = self.dispatch(fds)
            close_all(fds)  # unread: the job never passes through the zygote's memory
            if child is None:
                self.ctl.send(b"E" + b"cannot fork a child")
                return True
            self.running = child
            poller.register(child.pidfd, select.POLLIN)
            self.ctl.send(b"K" + struct.pack("!i", child.pid))
            return True
        if msg[:1] == b"W" and len(msg) == 9 and not fds and self.running is not None:
            child, self.running = self.running, None
            (grace,) = struct.unpack("!d", msg[1:])
            if not child.poll() and grace > 0:
                select.select([child.pidfd], [], [], grace)
            killed = not child.poll()
            if killed:
                child.kill()
            with contextlib.suppress(KeyError):
                poller.unregister(child.pidfd)
            child.close()
            assert child.status is not None
            status, cpu, peak = child.status
            self.ctl.send(b"S" + struct.pack("!i?dq", status, killed, cpu, peak))
            if len(self.spares) < SPARES:
                # Now, not while the job ran: on two cores a fork beside the job slowed both.
                # The other spare, warmed during earlier jobs, takes a job sent right away.
                self.spares.append(self.fork_spare())
            return True
        close_all(fds)
        self.ctl.send(b"E" + b"unexpected request")
        return False

    def warm_spares(self) -> None:
        for spare in self.spares:
            if not spare.warmed:
                spare.warmed = True
                with contextlib.suppress(OSError):  # a dead spare is replaced at dispatch
                    spare.channel.send(b"H")

    def dispatch(self, fds: list[int]) -> Process | None:
        for _attempt in range(SPARES + 1):
            if self.spares:
                spare = self.spares.pop(0)  # the oldest is the warmest
            else:
                try:
                    spare = self.fork_spare()
                except OSError:
                    return None
            try:
                socket.send_fds(spare.channel, [b"J"], fds)
                spare.channel.close()
                return spare
            except OSError:
                spare.kill()  # it died while waiting (or cannot take the job): replace it
                spare.close()
        return None

    def fork_spare(self) -> Process:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        zygote = os.getpid()
        pid = os.fork()
        if pid == 0:
            mine.detach()
            spare_main(zygote, self.ctl, theirs, self.lockdown)
        theirs.close()
        return Process(pid, mine)


def close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


# ----------------------------------------------------------------------------------------
# Child: everything below runs in a fresh fork, one job, then _exit.

JOB_FD, RESULT_FD = 3, 4
HIDDEN_FD = 5  # the first hidden data file's descriptor (set-ups only)
MAX_HIDDEN_FILES = 16
STATE: dict[str, Any] = {"hello": False}


def spare_main(zygote: int, ctl: socket.socket, channel: socket.socket, lockdown: Lockdown) -> NoReturn:
    code = 70
    try:
        if spare_wait(zygote, ctl, channel, lockdown):
            code = child_run(lockdown)
    except BaseException as exc:
        code = 71
        if not STATE["hello"]:
            # Still trusted code: tell the host what broke (fd 4 is the result pipe by now).
            detail = "".join(traceback.format_exception(exc))[-1500:]
            payload = json.dumps({"t": "hello", "fatal": detail}).encode()
            with contextlib.suppress(OSError):
                os.write(RESULT_FD, FRAME_HEADER.pack(len(payload)) + payload)
    finally:
        os._exit(code)


def spare_wait(zygote: int, ctl: socket.socket, channel: socket.socket, lockdown: Lockdown) -> bool:
    """Before the job: shed the zygote's descriptors, lock down, warm up, wait for the pipes."""
    lockdown.set(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != zygote:
        return False  # the zygote died before the line above
    ctl.close()
    keep = channel.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 20)
    stdin_r, stdin_w = os.pipe()
    os.dup2(stdin_r, 0)  # input() sees end of file
    os.close(stdin_r)
    os.close(stdin_w)
    scratch_r, scratch_w = os.pipe()  # stands in for the output pipe while warming up
    os.dup2(scratch_w, 1)
    os.dup2(scratch_w, 2)
    os.close(scratch_w)
    # Fresh streams over pipes (the zygote's were opened on another file; sys.__stdout__
    # keeps those alive so that their descriptors are never closed behind our back).
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    try:
        lockdown.install(0)
    except OSError as exc:
        STATE["fatal"] = f"{type(exc).__name__}: {exc}"  # reported once a job's pipes arrive
    while True:
        msg, fds, _flags, _addr = socket.recv_fds(channel, 16, 3 + MAX_HIDDEN_FILES + 1)
        if msg != b"H" or fds or "fatal" in STATE:
            break
        warm_up(channel)  # the zygote is idle: copy the pages a job will touch now
    sys.stdout.flush()
    sys.stderr.flush()
    os.close(scratch_r)
    channel.close()
    if msg != b"J" or not 3 <= len(fds) <= 3 + MAX_HIDDEN_FILES:
        close_all(fds)
        return False
    # Park the descriptors above the target numbers, lay out 0..4 and the hidden data
    # files from 5 on, close everything else.
    job_fd, result_fd, output_fd, *hidden = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds)
    layout = [(1, output_fd), (2, output_fd), (JOB_FD, job_fd), (RESULT_FD, result_fd)]
    layout += [(HIDDEN_FD + index, fd) for index, fd in enumerate(hidden)]
    for target, fd in layout:
        os.dup2(fd, target)
    os.closerange(HIDDEN_FD + len(hidden), 1 << 20)
    return True


# fmt: off
WARM_UP_JOB: dict[str, Any] = {
    "code": "import numpy as np\ndef f(x):\n    return np.asarray(x) * 2\ndef g(x):\n    return 1 / 0\n",
    "entry_points": ["f", "g"],
    "calls": [
        {"id": "b", "expr": "f(1.5)", "setup": "", "seed": 0, "track": [], "fd_of": None, "fd_wrt": None},
        {"id": "a", "expr": "f(x)", "setup": "x = rng.normal(size=3)", "seed": 1, "track": ["x"],
         "fd_of": "float(f(x).sum())", "fd_wrt": "x", "fd_step": 1e-5},
        {"id": "c", "expr": "g(2)", "setup": "", "seed": 0, "track": [], "fd_of": None, "fd_wrt": None},
    ],
    "limits": {"result_bytes": 1 << 20},
}
# fmt: on


def warm_up(channel: socket.socket) -> None:
    """Run a fixed job with its frames and output discarded, so that the pages a job
    touches are copied now rather than while the host waits; stop as soon as a job is
    waiting. Trusted code and data; the real job overwrites what it leaves (the
    "submission" module and its source in linecache)."""
    reporter = Reporter(1 << 20)
    reporter.write = lambda _fd, data: memoryview(data).nbytes

    def fresh() -> dict[str, Any]:
        job: dict[str, Any] = json.loads(json.dumps(WARM_UP_JOB))  # the harness consumes its job
        return job

    steps: list[Callable[[], object]] = [
        fresh,
        lambda: Harness(fresh() | {"calls": fresh()["calls"][:1]}, reporter).run(),
        lambda: Harness(fresh(), reporter).run(),
    ]
    for step in steps:
        if select.select([channel], [], [], 0)[0]:
            return
        step()


def child_run(lockdown: Lockdown) -> int:
    job = json.loads(read_all(JOB_FD))
    os.close(JOB_FD)
    limits = job["limits"]
    reporter = Reporter(int(limits["result_bytes"]))
    try:
        if "fatal" in STATE:
            raise OSError(STATE["fatal"])
        set_rlimits(limits)
        lockdown.install(1)
    except OSError as exc:
        reporter.frame({"t": "hello", "fatal": f"{type(exc).__name__}: {exc}"})
        return 72
    reporter.frame({"t": "hello"})
    STATE["hello"] = True
    # From here on the process runs untrusted code: the host treats every frame as forged.
    return Harness(job, reporter).run()


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def set_rlimits(limits: dict[str, Any]) -> None:
    cpu = int(limits["cpu_seconds"])
    wanted = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        # A backstop: the host measures use and stops the child past memory_bytes.
        resource.RLIMIT_AS: (int(limits.get("address_space_bytes", limits["memory_bytes"])),) * 2,
        resource.RLIMIT_FSIZE: (int(limits["file_bytes"]),) * 2,
        resource.RLIMIT_NOFILE: (int(limits["open_files"]),) * 2,
        resource.RLIMIT_NPROC: (0, 0),
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_MEMLOCK: (0, 0),
        resource.RLIMIT_MSGQUEUE: (0, 0),
    }
    for which, (soft, hard) in wanted.items():
        _cur_soft, cur_hard = resource.getrlimit(which)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))


class Reporter:
    """Writes frames to the result pipe; never more than the host will accept."""

    def __init__(self, budget: int) -> None:
        self.remaining = budget
        self.write = os.write
        self.dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode

    def frame(self, obj: dict[str, Any]) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):  # the student may have broken the stream
                stream.flush()
        payload = self.dumps(obj).encode()
        self.send(payload)

    def oversized(self, size: int) -> NoReturn:
        # Announce the size without sending the body: the host stops at the header.
        self.send_raw(FRAME_HEADER.pack(min(size, 0xFFFFFFFF)))
        os._exit(0)

    def send(self, payload: bytes) -> None:
        if len(payload) + FRAME_HEADER.size > self.remaining:
            self.oversized(len(payload))
        self.send_raw(FRAME_HEADER.pack(len(payload)) + payload)

    def send_raw(self, data: bytes) -> None:
        self.remaining -= len(data)
        view = memoryview(data)
        while view:
            view = view[self.write(RESULT_FD, view) :]


# Exact types that decode as a real number.
def _real_scalar_types() -> tuple[type, ...]:
    import numpy as np

    return (
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
        np.float16,
        np.float32,
        np.float64,
        np.longlong,
        np.ulonglong,
        np.intc,
        np.uintc,
    )


ARRAY_KINDS = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8)}


def referenced_names(*sources: str | None) -> set[str]:
    """Every global name an expression (and the lambdas in it) may read."""
    names: set[str] = set()
    for source in sources:
        if not source:
            continue
        stack = [compile(source, CHECK_FILE, "eval")]
        while stack:
            code = stack.pop()
            names.update(code.co_names)
            stack.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return names


def hidden_reader(hidden: dict[str, int]) -> Callable[[str], Any]:
    """hidden_data(name) for set-ups: a binary file object over a hidden data file's
    descriptor, from its start (np.load, pandas.read_csv and friends take one)."""

    def hidden_data(name: str) -> Any:
        if name not in hidden:
            raise FileNotFoundError(f"no hidden data file {name!r} (hidden ones: {', '.join(sorted(hidden))})")
        fd = hidden[name]
        os.lseek(fd, 0, os.SEEK_SET)
        return open(fd, "rb", closefd=False)

    return hidden_data


class Harness:
    def __init__(self, job: dict[str, Any], reporter: Reporter) -> None:
        import numpy as np

        self.np = np
        self.job = job
        self.reporter = reporter
        self.real_scalars = frozenset(_real_scalar_types())
        self.ndarray = np.ndarray
        torch = sys.modules.get("torch")
        # Exact types only, as for arrays: a subclass of Tensor is the student's own class.
        self.tensor_types = frozenset((torch.Tensor, torch.nn.Parameter)) if torch is not None else frozenset()
        # Freed on MemoryError so the harness can still describe it.
        self.reserve: bytearray | None = bytearray(1 << 20)

    # -- steps --------------------------------------------------------------------------

    def run(self) -> int:
        calls: list[dict[str, Any]] = self.job["calls"]
        if self.job.get("cwd"):
            os.chdir(self.job["cwd"])  # the exercise's data set: data/<name> from here
        hidden = {name: HIDDEN_FD + index for index, name in enumerate(self.job.get("hidden", []))}
        try:
            inputs = [self.setup(call, hidden) for call in calls]
        finally:
            # The student's code never holds them: no descriptor, and no path inside.
            for fd in hidden.values():
                with contextlib.suppress(OSError):
                    os.close(fd)
        for call in calls:
            # How the inputs were built is not the student's to read (frames reach this
            # harness): only the inputs themselves and the expressions remain.
            del call["setup"], call["seed"]
        module = types.ModuleType("submission")
        module.__file__ = STUDENT_FILE
        code: str = self.job["code"]
        linecache.cache[STUDENT_FILE] = (len(code), None, code.splitlines(True), STUDENT_FILE)
        sys.modules["submission"] = module
        cell_errors: list[list[Any]] = []
        try:
            cells = self.cells(code, self.job.get("cell_starts") or [])
            for index, cell in enumerate(cells):
                try:
                    if isinstance(cell, SyntaxError):
                        raise cell
                    exec(cell, module.__dict__)  # noqa: S102 - the sandbox exists for this
                except MemoryError:
                    raise  # the process is short of memory: no later cell can be trusted to run
                except BaseException as exc:
                    if len(cells) == 1:
                        raise
                    # A notebook: the kernel reports the cell and runs the next one.
                    cell_errors.append([index, self.describe(exc)])
                    del exc
        except BaseException as exc:
            error = self.describe(exc)
            module.__dict__.clear()
            del exc
            self.reporter.frame({"t": "module", "e": error})
            self.reporter.frame({"t": "end"})
            return 0
        student = module.__dict__
        missing = [name for name in self.job["entry_points"] if not callable(student.get(name))]
        self.reporter.frame({"t": "module", "missing": missing, "cells": cell_errors, "defined": self.defined(student)})
        for call, prepared in zip(calls, inputs, strict=True):
            self.reporter.frame(self.call(call, prepared, student))
        self.reporter.frame({"t": "end"})
        return 0

    def cells(self, code: str, starts: list[int]) -> list[types.CodeType | SyntaxError]:
        """The module's code, compiled as one block or as a notebook's cells; each cell is
        padded to its own lines so that line numbers are those of `code` throughout. A
        cell that does not compile raises its SyntaxError when its turn comes, as in a
        kernel."""
        if not starts:
            return [compile(code, STUDENT_FILE, "exec")]
        lines = code.splitlines(True)
        compiled: list[types.CodeType | SyntaxError] = []
        for index, start in enumerate(starts):
            end = starts[index + 1] if index + 1 < len(starts) else len(lines) + 1
            source = "\n" * (start - 1) + "".join(lines[start - 1 : end - 1])
            try:
                compiled.append(compile(source, STUDENT_FILE, "exec"))
            except SyntaxError as exc:
                compiled.append(exc)
        return compiled

    def defined(self, student: dict[str, Any]) -> dict[str, int]:
        """The first line of each entry point's code, for feedback ("defined in cell 3");
        read off plain functions only, so no student attribute hook runs here."""
        lines = {}
        for name in self.job["entry_points"]:
            function = student.get(name)
            if type(function) is types.FunctionType:
                code = function.__code__
                if type(code) is types.CodeType and code.co_filename == STUDENT_FILE and code.co_firstlineno > 0:
                    lines[name] = code.co_firstlineno
        return lines

    def setup(
        self, call: dict[str, Any], hidden: dict[str, int] | None = None
    ) -> dict[str, Any] | dict[str, str | int | bool | None]:
        np = self.np
        rng = np.random.default_rng(int(call["seed"]))
        namespace: dict[str, Any] = {"np": np, "rng": rng, "hidden_data": hidden_reader(hidden or {})}
        try:
            exec(compile(call["setup"], f"<setup {call['id']}>", "exec"), namespace)  # noqa: S102
            if namespace.get("rng") is rng:
                del namespace["rng"]  # its SeedSequence holds the seed: not an input
            del rng
            for name, value in call.get("bind", {}).items():
                namespace[name] = self.decode(value)
        except BaseException as exc:
            return {"__error__": self.describe(exc, in_setup=True)}
        namespace.pop("__builtins__", None)
        # Only what the call uses: a held-out `y_test` bound beside `X_train` is not the
        # student's to read.
        try:
            wanted = referenced_names(call["expr"], call.get("fd_of")) | set(call["track"]) | {call.get("fd_wrt")}
        except (SyntaxError, ValueError):
            return namespace  # the call itself reports the error
        return {name: value for name, value in namespace.items() if name in wanted}

    def decode(self, value: dict[str, Any]) -> Any:
        """Trusted data from the host (a metric's `result`): a float or an array."""
        if value["k"] == "f":
            return float.fromhex(value["v"])
        raw = base64.b64decode(value["data"])
        return self.np.frombuffer(raw, dtype=value["dtype"]).reshape(value["shape"]).copy()

    def call(self, call: dict[str, Any], inputs: dict[str, Any], student: dict[str, Any]) -> dict[str, Any]:
        frame: dict[str, Any] = {"t": "call", "id": call["id"]}
        if "__error__" in inputs:
            frame["e"] = inputs["__error__"]
            return frame
        track: list[str] = call["track"]
        namespace = dict(student)
        namespace.update(inputs)
        if track:
            frame["ib"] = {name: self.encode_input(inputs.get(name)) for name in track}
        fd_base = self.fd_snapshot(inputs.get(call["fd_wrt"])) if call["fd_of"] else None
        try:
            value = eval(compile(call["expr"], CHECK_FILE, "eval"), namespace)  # noqa: S307
            if track:
                # Before the result can be dropped: a finalizer on it could undo a change.
                frame["ia"] = {name: self.encode_input(inputs.get(name)) for name in track}
            frame["v"] = self.encode(value)
            del value
            if call["fd_of"]:
                frame["fd"] = self.finite_differences(call, namespace, fd_base)
        except BaseException as exc:
            frame.pop("v", None)
            frame["e"] = self.describe(exc)
        if track and "ia" not in frame:
            frame["ia"] = {name: self.encode_input(inputs.get(name)) for name in track}
        return frame

    # -- gradient checks ----------------------------------------------------------------

    def fd_snapshot(self, value: Any) -> Any:
        np = self.np
        if type(value) in (float, int) or type(value) in self.real_scalars:
            return float(value)
        return np.array(value, dtype=np.float64, copy=True)

    def finite_differences(self, call: dict[str, Any], namespace: dict[str, Any], base: Any) -> list[str]:
        code = compile(call["fd_of"], CHECK_FILE, "eval")
        wrt: str = call["fd_wrt"]
        step = float(call["fd_step"])
        original = namespace.get(wrt)
        as_list = type(original) is list
        values: list[str] = []
        if type(base) is float:
            points: list[Any] = [base + step, base - step]
        else:
            points = []
            for i in range(base.size):
                for sign in (1.0, -1.0):
                    point = base.copy()
                    point.flat[i] += sign * step
                    points.append(point.tolist() if as_list else point)
        for point in points:
            perturbed = dict(namespace)
            perturbed[wrt] = point
            number = self.to_float(self.encodable(eval(code, perturbed)))  # noqa: S307
            if number is None:
                raise TypeError("fd_of must evaluate to a real number")
            values.append(number.hex())
        return values

    # -- encoding -----------------------------------------------------------------------

    def to_float(self, value: Any) -> float | None:
        kind = type(value)
        if kind is float:
            return float(value)
        if kind is int:
            try:
                return float(value)
            except OverflowError:
                return None
        if kind in self.real_scalars:
            return float(value)
        if kind is self.ndarray and value.ndim == 0 and value.dtype.kind in "iuf":
            return self.to_float(value[()])
        return None

    def encodable(self, value: Any) -> Any:
        return self.from_tensor(value) if type(value) in self.tensor_types else value

    def encode(self, value: Any) -> dict[str, Any]:
        value = self.encodable(value)
        number = self.to_float(value)
        if number is not None:
            return {"k": "f", "v": number.hex()}
        kind = type(value)
        if kind is self.ndarray and value.ndim > 0:
            dtype = value.dtype
            if dtype.kind in ARRAY_KINDS and dtype.itemsize in ARRAY_KINDS[dtype.kind] and dtype.fields is None:
                estimate = value.nbytes * 4 // 3 + 200
                if estimate + FRAME_HEADER.size > self.reporter.remaining:
                    self.reporter.oversized(estimate)
                little = self.np.ascontiguousarray(value, dtype=dtype.newbyteorder("<"))
                return {
                    "k": "a",
                    "dtype": little.dtype.str,
                    "shape": list(little.shape),
                    "data": base64.b64encode(little.tobytes()).decode("ascii"),
                }
            return {"k": "n", "t": f"ndarray[{dtype}]"[:TYPE_NAME_CHARS]}
        if kind is self.ndarray:
            return {"k": "n", "t": f"ndarray[{value.dtype}]"[:TYPE_NAME_CHARS]}
        # The C-level name: a metaclass cannot make __name__ run code here.
        return {"k": "n", "t": str(type.__dict__["__name__"].__get__(kind, type))[:TYPE_NAME_CHARS]}

    def from_tensor(self, tensor: Any) -> Any:
        """A PyTorch tensor crosses as the numpy array of its values (detached, on the
        CPU); one of a dtype numpy cannot hold stays a tensor, which is not numeric."""
        try:
            return tensor.detach().cpu().numpy()
        except (TypeError, RuntimeError):
            return tensor

    def encode_input(self, value: Any) -> dict[str, Any]:
        """A tracked input as data; a list or tuple as the array it holds."""
        if type(value) in (list, tuple):
            try:
                value = self.np.array(value)
            except BaseException:
                return {"k": "n", "t": "sequence"}
        return self.encode(value)

    def describe(self, exc: BaseException, *, in_setup: bool = False) -> dict[str, Any]:
        if isinstance(exc, MemoryError):
            self.reserve = None  # room to describe it
        kind = "MemoryError" if isinstance(exc, MemoryError) else type(exc).__name__
        try:
            # A SyntaxError's str() repeats the file and line, which `line` already says.
            message = str(exc.msg) if isinstance(exc, SyntaxError) and exc.msg else str(exc)
        except BaseException:
            message = "<exception message could not be shown>"
        if len(message) > MESSAGE_CHARS:
            message = message[: MESSAGE_CHARS - 3] + "..."
        line: int | None = None
        if isinstance(exc, SyntaxError) and exc.filename == STUDENT_FILE and type(exc.lineno) is int:
            line = exc.lineno
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == STUDENT_FILE:
                line = tb.tb_lineno
            tb = tb.tb_next
        if not in_setup:
            self.print_traceback(exc)
        return {"type": str(kind)[:TYPE_NAME_CHARS], "message": message, "line": line, "setup": in_setup}

    def print_traceback(self, exc: BaseException) -> None:
        """Show the student their own frames (not the harness's), at most the first and last
        few: a runaway recursion has a million."""
        try:
            head: list[traceback.FrameSummary] = []
            tail: collections.deque[traceback.FrameSummary] = collections.deque(maxlen=TRACEBACK_TAIL)
            skipped = 0
            tb = exc.__traceback__
            while tb is not None:
                code = tb.tb_frame.f_code
                if code.co_filename in (STUDENT_FILE, CHECK_FILE):
                    summary = traceback.FrameSummary(code.co_filename, tb.tb_lineno, code.co_name)
                    if len(head) < TRACEBACK_HEAD:
                        head.append(summary)
                    else:
                        skipped += len(tail) == tail.maxlen
                        tail.append(summary)
                tb = tb.tb_next
            lines = ["Traceback (most recent call last):\n", *traceback.format_list(head)]
            if skipped:
                lines.append(f"  ... {skipped} more frames ...\n")
            lines += traceback.format_list(list(tail))
            lines += traceback.format_exception_only(type(exc), exc)[-1:]
            sys.stderr.write("".join(lines)[:TRACEBACK_CHARS])
            sys.stderr.write("\n" if len("".join(lines)) > TRACEBACK_CHARS else "")
        except BaseException:  # noqa: S110 - best effort, for the student's benefit only
            pass


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    zygote_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
