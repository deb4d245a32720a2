"""Hostile submissions, as data: what each one tries and what the verdict must be.

Each case is one or more steps run in order on the same worker process (so on the same
zygote); `problems(run, step.expect)` lists what is wrong with a verdict, so the same
cases can be replayed through a real Celery worker. Probes report numbers: a probe
returns how many of its attempts succeeded, so 0.0 means the sandbox held.

The paths, the host secret and the probes are computed here, on the host; the student
code only receives them as literals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from workers.sandbox.protocol import Limits, NotNumeric, SandboxCall, SandboxJob, SandboxRun, Termination

PROJECT = Path(__file__).resolve().parents[2]
# The tests put this in the host's environment before starting the zygote.
HOST_SECRET_NAME = "GRADER_SANDBOX_TEST_SECRET"
HOST_SECRET_VALUE = "host-secret-7f3a9c1e-do-not-leak"
# Job 1 of "memory_secret" carries this in its code; job 2 scans its memory for it.
CODE_SECRET = "code-secret-5b8e02d4-from-an-earlier-submission"

LIMITS = Limits(
    wall_seconds=2.0,
    cpu_seconds=1,
    memory_bytes=512 * 1024 * 1024,
    output_bytes=64 * 1024,
    output_kept_bytes=4 * 1024,
    result_bytes=256 * 1024,
    file_bytes=1024 * 1024,
    open_files=64,
)
COMPLETED = (Termination.COMPLETED,)


@dataclass(frozen=True, kw_only=True)
class Expect:
    terminations: tuple[Termination, ...] = COMPLETED
    values: dict[str, float] = field(default_factory=dict)  # call id -> exact value
    errors: dict[str, tuple[str, ...]] = field(default_factory=dict)  # call id -> allowed error types
    not_numeric: dict[str, str] = field(default_factory=dict)  # call id -> type name
    unanswered: tuple[str, ...] = ()
    module_error: str | None = None
    output_includes: tuple[str, ...] = ()
    output_excludes: tuple[str, ...] = ()
    detail_includes: str = ""
    # The verdict must come within the wall-clock limit plus this (reaping, start-up).
    slack_seconds: float = 1.5


@dataclass(frozen=True, kw_only=True)
class Step:
    code: str
    calls: tuple[SandboxCall, ...]
    expect: Expect
    entry_points: tuple[str, ...] = ()
    limits: Limits = LIMITS

    def job(self) -> SandboxJob:
        return SandboxJob(code=self.code, entry_points=self.entry_points, calls=self.calls, limits=self.limits)


@dataclass(frozen=True, kw_only=True)
class HostileCase:
    id: str
    why: str
    steps: tuple[Step, ...]


def probe(code: str, *, expect: Expect | None = None, limits: Limits = LIMITS) -> Step:
    """A submission defining probe(); one call evaluating it, expected to return 0.0."""
    return Step(
        code=code,
        entry_points=("probe",),
        calls=(SandboxCall(id="probe", expr="probe()"),),
        expect=expect or Expect(values={"probe": 0.0}),
        limits=limits,
    )


def one_call(code: str, expr: str, expect: Expect, *, limits: Limits = LIMITS) -> Step:
    return Step(code=code, calls=(SandboxCall(id="c", expr=expr),), expect=expect, limits=limits)


def problems(run: SandboxRun, expect: Expect, *, seconds: float | None = None, limits: Limits = LIMITS) -> list[str]:
    found: list[str] = []
    if run.termination not in expect.terminations:
        found.append(f"termination {run.termination} ({run.termination_detail}), expected {expect.terminations}")
    module_error = run.module_error.type if run.module_error else None
    if expect.detail_includes not in run.termination_detail:
        found.append(f"termination detail {run.termination_detail!r} lacks {expect.detail_includes!r}")
    if module_error != expect.module_error:
        found.append(f"module error {module_error!r}, expected {expect.module_error!r}")
    for call_id, value in expect.values.items():
        outcome = run.calls.get(call_id)
        got = None if outcome is None else outcome.value
        if not (type(got) is float and (got == value or (math.isnan(got) and math.isnan(value)))):
            error = outcome.error if outcome else None
            found.append(f"call {call_id}: value {got!r} (error {error}), expected {value!r}")
    for call_id, types in expect.errors.items():
        outcome = run.calls.get(call_id)
        if outcome is None or outcome.error is None or outcome.error.type not in types:
            found.append(f"call {call_id}: {outcome}, expected an error in {types}")
    for call_id, type_name in expect.not_numeric.items():
        outcome = run.calls.get(call_id)
        if outcome is None or outcome.value != NotNumeric(type_name=type_name):
            found.append(f"call {call_id}: {outcome}, expected NotNumeric({type_name!r})")
    for call_id in expect.unanswered:
        if call_id in run.calls:
            found.append(f"call {call_id} was answered: {run.calls[call_id]}")
    for text in expect.output_includes:
        if text not in run.output:
            found.append(f"output lacks {text!r}: {run.output[-300:]!r}")
    for text in expect.output_excludes:
        if text in run.output:
            found.append(f"output leaks {text!r}")
    if seconds is not None and seconds > limits.wall_seconds + expect.slack_seconds:
        found.append(f"took {seconds:.2f} s, limit {limits.wall_seconds} s")
    return found


TIME_LIMIT = Expect(terminations=(Termination.TIME_LIMIT,), unanswered=("c",))
MEMORY_LIMIT = Expect(
    terminations=(Termination.MEMORY_LIMIT,), unanswered=("c",), detail_includes="memory limit of 512 MB exceeded"
)
IGNORE_SIGNALS = (
    "import signal\n"
    "for name in ('SIGXCPU', 'SIGTERM', 'SIGALRM', 'SIGINT', 'SIGHUP', 'SIGUSR1'):\n"
    "    signal.signal(getattr(signal, name), signal.SIG_IGN)\n"
)
FAKE_FRAME_CODE = (
    "import json, struct\n"
    "def frame(obj):\n"
    "    payload = json.dumps(obj).encode()\n"
    "    return struct.pack('>I', len(payload)) + payload\n"
    "FAKE = frame({'t': 'call', 'id': 'zzz', 'v': {'k': 'f', 'v': '0x1.0p+10'}}) + frame({'t': 'end'})\n"
)

CASES: tuple[HostileCase, ...] = (
    # -- time ---------------------------------------------------------------------------
    HostileCase(
        id="busy_loop",
        why="CPU burnt in a call ends at the CPU or wall-clock limit",
        steps=(one_call("def spin():\n    while True:\n        pass\n", "spin()", TIME_LIMIT),),
    ),
    HostileCase(
        id="busy_loop_ignoring_signals",
        why="SIGXCPU/SIGTERM/SIGALRM ignored: the hard CPU limit (SIGKILL) or the deadline still ends it",
        steps=(one_call(IGNORE_SIGNALS + "def spin():\n    while True:\n        pass\n", "spin()", TIME_LIMIT),),
    ),
    HostileCase(
        id="busy_loop_at_import",
        why="a loop at module level never sends the module frame",
        steps=(
            one_call(
                "while True:\n    pass\n",
                "1",
                Expect(terminations=(Termination.TIME_LIMIT,), unanswered=("c",)),
            ),
        ),
    ),
    HostileCase(
        id="sleep",
        why="sleeping uses no CPU: the wall-clock deadline ends it",
        steps=(one_call("import time\ndef nap():\n    time.sleep(3600)\n", "nap()", TIME_LIMIT),),
    ),
    HostileCase(
        id="sleep_ignoring_signals",
        why="blocking forever with every catchable signal ignored",
        steps=(
            one_call(
                IGNORE_SIGNALS + "import select\ndef block():\n    select.select([], [], [])\n", "block()", TIME_LIMIT
            ),
        ),
    ),
    # -- processes ----------------------------------------------------------------------
    HostileCase(
        id="fork_bomb",
        why="fork/clone are denied by seccomp (and RLIMIT_NPROC is 0)",
        steps=(
            probe(
                "import os\n"
                "def probe():\n"
                "    made = 0\n"
                "    for _ in range(50):\n"
                "        try:\n"
                "            pid = os.fork()\n"
                "        except OSError:\n"
                "            continue\n"
                "        if pid == 0:\n"
                "            os._exit(0)\n"
                "        made += 1\n"
                "    return float(made)\n"
            ),
        ),
    ),
    HostileCase(
        id="thread_bomb",
        why="clone is denied, so no thread starts: a clean RuntimeError, not a hung worker",
        steps=(
            probe(
                "import threading, time\n"
                "def probe():\n"
                "    started = 0\n"
                "    for _ in range(1000):\n"
                "        try:\n"
                "            threading.Thread(target=time.sleep, args=(60,)).start()\n"
                "            started += 1\n"
                "        except RuntimeError:\n"
                "            pass\n"
                "    return float(started)\n"
            ),
        ),
    ),
    HostileCase(
        id="subprocess_and_exec",
        why="no program can be started: execve and fork are denied, and /bin is not mounted",
        steps=(
            probe(
                "import os, subprocess, sys\n"
                "def probe():\n"
                "    ran = 0\n"
                "    attempts = [\n"
                "        lambda: subprocess.run(['/bin/sh', '-c', 'true'], check=True),\n"
                "        lambda: subprocess.run([sys.executable, '-c', 'pass'], check=True),\n"
                "        lambda: os.posix_spawn(sys.executable, [sys.executable, '-c', 'pass'], {}),\n"
                "        lambda: os.execv(sys.executable, [sys.executable, '-c', 'pass']),\n"
                "        lambda: os.execv('/bin/sh', ['sh', '-c', 'true']),\n"
                "    ]\n"
                "    for attempt in attempts:\n"
                "        try:\n"
                "            attempt()\n"
                "            ran += 1\n"
                "        except Exception:\n"
                "            pass\n"
                "    if os.system('true') == 0:\n"
                "        ran += 1\n"
                "    return float(ran)\n"
            ),
        ),
    ),
    HostileCase(
        id="daemon_left_running",
        why="a process that would outlive its verdict cannot be made (the tests also count processes)",
        steps=(
            probe(
                "import os\n"
                "def probe():\n"
                "    try:\n"
                "        if os.fork() == 0:\n"
                "            os.setsid()\n"
                "            while True:\n"
                "                pass\n"
                "    except OSError:\n"
                "        return 0.0\n"
                "    return 1.0\n"
            ),
        ),
    ),
    # -- memory -------------------------------------------------------------------------
    HostileCase(
        id="memory_bomb_list",
        why="the host measures the child's memory use and ends the run past the limit",
        steps=(
            one_call(
                "def grow():\n    hoard = []\n    while True:\n        hoard.append(bytearray(1 << 20))\n",
                "grow()",
                MEMORY_LIMIT,
            ),
        ),
    ),
    HostileCase(
        id="memory_bomb_bytes",
        why="one huge allocation fails at once",
        steps=(
            one_call("def big():\n    return len(bytes(10**12))\n", "big()", Expect(errors={"c": ("MemoryError",)})),
        ),
    ),
    HostileCase(
        id="memory_bomb_numpy",
        why="numpy.empty/ones beyond the limit raise (numpy's MemoryError subclass, reported as MemoryError)",
        steps=(
            Step(
                code="import numpy as np\n",
                calls=(
                    SandboxCall(id="empty", expr="np.empty(10**11).sum()"),
                    SandboxCall(id="ones", expr="np.ones((10**5, 10**5)).sum()"),
                    SandboxCall(id="after", expr="float(np.ones(1000).sum())"),
                ),
                expect=Expect(errors={"empty": ("MemoryError",), "ones": ("MemoryError",)}, values={"after": 1000.0}),
            ),
        ),
    ),
    HostileCase(
        id="memory_bomb_at_import",
        why="a MemoryError while the module runs is a memory-limit verdict",
        steps=(one_call("hoard = []\nwhile True:\n    hoard.append(bytearray(1 << 20))\n", "1", MEMORY_LIMIT),),
    ),
    HostileCase(
        id="deep_recursion",
        why="raising the recursion limit then recursing ends in an error or a crash, never a hang",
        steps=(
            one_call(
                "import sys\nsys.setrecursionlimit(10**6)\ndef down(n):\n    return down(n + 1) + 1\n",
                "down(0)",
                # RecursionError after a million frames, or the CPU limit first: either way in time.
                Expect(terminations=(Termination.COMPLETED, Termination.CRASHED, Termination.TIME_LIMIT)),
            ),
        ),
    ),
    HostileCase(
        id="deep_recursion_through_c",
        why="recursion through C calls overflows the C stack: SIGSEGV, a crash verdict",
        steps=(
            one_call(
                "import sys\nsys.setrecursionlimit(10**6)\nclass A:\n    def __getattr__(self, k):\n"
                "        return getattr(self, k)\n",
                "A().x",
                Expect(terminations=(Termination.CRASHED,), unanswered=("c",)),
            ),
        ),
    ),
    HostileCase(
        id="segfault",
        why="reading address 0 through ctypes kills the child with SIGSEGV: a crash verdict",
        steps=(
            one_call(
                "import ctypes\ndef crash():\n    return ctypes.string_at(0)\n",
                "crash()",
                Expect(terminations=(Termination.CRASHED,), unanswered=("c",)),
            ),
        ),
    ),
    # -- files --------------------------------------------------------------------------
    HostileCase(
        id="disk_flood",
        why="there is no writable filesystem: every write, anywhere, fails",
        steps=(
            probe(
                "import os, sys, numpy\n"
                "DIRS = ['.', '/', '/tmp', '/var/tmp', '/dev/shm', '/root', '/sandbox', '/sandbox/site',\n"
                "        os.path.dirname(numpy.__file__), os.path.dirname(os.__file__), '/usr/lib', '/lib',\n"
                f"        {str(PROJECT)!r}, {str(PROJECT / 'var')!r}, os.path.expanduser('~')]\n"
                "def probe():\n"
                "    wrote = 0\n"
                "    for d in DIRS:\n"
                "        for attempt in (\n"
                "            lambda: open(os.path.join(d, 'flood.bin'), 'wb').write(b'x' * 4096),\n"
                "            lambda: os.mkdir(os.path.join(d, 'flood-dir')),\n"
                "            lambda: os.symlink('/', os.path.join(d, 'flood-link')),\n"
                "            lambda: os.mkfifo(os.path.join(d, 'flood-fifo')),\n"
                "        ):\n"
                "            try:\n"
                "                attempt()\n"
                "                wrote += 1\n"
                "            except Exception:\n"
                "                pass\n"
                "    return float(wrote)\n"
            ),
        ),
    ),
    HostileCase(
        id="read_project_and_host_files",
        why="nothing of the project, /root, /etc or the host's /tmp is mounted",
        steps=(
            probe(
                "import glob, os\n"
                "TARGETS = [\n"
                f"    {str(PROJECT / 'config/settings/base.py')!r}, {str(PROJECT / '.env')!r},\n"
                f"    {str(PROJECT / 'manage.py')!r}, {str(PROJECT / 'pyproject.toml')!r},\n"
                f"    *glob.glob({str(PROJECT / 'var/*.sqlite3')!r}),\n"
                f"    {str(PROJECT / 'var/db.sqlite3')!r}, {str(PROJECT / '.venv/pyvenv.cfg')!r},\n"
                "    '/root/.bashrc', '/root/.profile', '/root/.ssh/id_rsa', '/root/.pyenv/version',\n"
                "    '/etc/passwd', '/etc/shadow', '/etc/hostname', '/proc/1/environ', '/proc/self/environ',\n"
                "    '/proc/self/mem', '/proc/1/cmdline', '/sys/kernel/notes', '/dev/mem', '/dev/null',\n"
                "]\n"
                "DIRS = ["
                f"{str(PROJECT)!r}, '/root', '/etc', '/home', '/proc', '/sys', '/dev', '/tmp', '/var', '/run',\n"
                "    '/work']\n"
                "def probe():\n"
                "    seen = 0\n"
                "    for path in TARGETS:\n"
                "        try:\n"
                "            with open(path, 'rb') as f:\n"
                "                f.read(1)\n"
                "            seen += 1\n"
                "        except OSError:\n"
                "            pass\n"
                "    for path in DIRS:\n"
                "        try:\n"
                "            entries = os.listdir(path)\n"
                "            if path == '/dev' and set(entries) <= {'urandom'}:\n"
                "                continue  # the torch environment's one device (PyTorch seeds from it)\n"
                "            seen += 1\n"
                "        except OSError:\n"
                "            pass\n"
                "    return float(seen)\n"
            ),
        ),
    ),
    HostileCase(
        id="environment",
        why="the environment is empty: bwrap starts with env={} and the zygote clears its own",
        steps=(
            probe(
                "import os\n"
                "def probe():\n"
                "    print(dict(os.environ))\n"
                "    leaked = float(len(os.environ))\n"
                "    for path in ('/proc/1/environ', '/proc/self/environ', '/proc/2/environ'):\n"
                "        try:\n"
                "            print(open(path, 'rb').read())\n"
                "            leaked += 1\n"
                "        except OSError:\n"
                "            pass\n"
                "    return leaked\n",
                expect=Expect(
                    values={"probe": 0.0},
                    output_excludes=(HOST_SECRET_VALUE, "DJANGO_SETTINGS_MODULE", "PATH"),
                ),
            ),
        ),
    ),
    # -- network and other processes ----------------------------------------------------
    HostileCase(
        id="network",
        why="socket() is denied (and the network namespace is empty): no PostgreSQL, Redis or unix socket",
        steps=(
            probe(
                "import socket\n"
                "def probe():\n"
                "    reached = 0\n"
                "    for port in (5432, 6379, 5672, 8000, 80):\n"
                "        try:\n"
                "            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()\n"
                "            reached += 1\n"
                "        except OSError:\n"
                "            pass\n"
                "    for path in ('/var/run/postgresql/.s.PGSQL.5432', '/tmp/.s.PGSQL.5432', '/run/redis.sock'):\n"
                "        try:\n"
                "            s = socket.socket(socket.AF_UNIX)\n"
                "            s.connect(path)\n"
                "            reached += 1\n"
                "        except OSError:\n"
                "            pass\n"
                "    try:\n"
                "        socket.socketpair()\n"
                "        reached += 1\n"
                "    except OSError:\n"
                "        pass\n"
                "    return float(reached)\n"
            ),
        ),
    ),
    HostileCase(
        id="kill_others",
        why="kill/tkill/tgkill/pidfd and F_SETOWN (SIGIO to a chosen pid) are denied: the zygote and host live on",
        steps=(
            probe(
                "import fcntl, os, signal\n"
                "def probe():\n"
                "    hits = 0\n"
                "    for pid in (1, 2, os.getppid(), 0, -1, os.getpid()):\n"
                "        try:\n"
                "            os.kill(pid, signal.SIGKILL)\n"
                "            hits += 1\n"
                "        except OSError:\n"
                "            pass\n"
                "    try:\n"
                "        os.killpg(os.getpgid(0), signal.SIGKILL)\n"
                "        hits += 1\n"
                "    except OSError:\n"
                "        pass\n"
                "    try:\n"
                "        fd = os.pidfd_open(os.getppid())\n"
                "        signal.pidfd_send_signal(fd, signal.SIGKILL)\n"
                "        hits += 1\n"
                "    except OSError:\n"
                "        pass\n"
                "    r, w = os.pipe()\n"
                "    try:\n"
                "        fcntl.fcntl(r, fcntl.F_SETOWN, os.getppid())\n"
                "        hits += 1\n"
                "    except OSError:\n"
                "        pass\n"
                "    try:\n"
                "        fcntl.fcntl(r, 10, signal.SIGKILL)  # F_SETSIG\n"
                "        hits += 1\n"
                "    except OSError:\n"
                "        pass\n"
                "    return float(hits)\n"
            ),
        ),
    ),
    HostileCase(
        id="kernel_surface",
        why="ptrace, unshare, mount, bpf, io_uring, keyctl, SysV IPC, setpriority and friends return EPERM",
        steps=(
            probe(
                "import ctypes, os, platform\n"
                "libc = ctypes.CDLL(None, use_errno=True)\n"
                "NR = {\n"
                "    'x86_64': {'ptrace': 101, 'unshare': 272, 'mount': 165, 'bpf': 321, 'io_uring_setup': 425,\n"
                "               'keyctl': 250, 'shmget': 29, 'msgget': 68, 'setpriority': 141,\n"
                "               'process_vm_readv': 310,\n"
                "               'userfaultfd': 323, 'perf_event_open': 298, 'setrlimit': 160, 'prlimit64': 302,\n"
                "               'chroot': 161, 'setns': 308, 'mq_open': 240, 'personality': 135},\n"
                "    'aarch64': {'ptrace': 117, 'unshare': 97, 'mount': 40, 'bpf': 280, 'io_uring_setup': 425,\n"
                "                'keyctl': 219, 'shmget': 194, 'msgget': 186, 'setpriority': 140,\n"
                "                'process_vm_readv': 270,\n"
                "                'userfaultfd': 282, 'perf_event_open': 241, 'setrlimit': 164, 'prlimit64': 261,\n"
                "                'chroot': 51, 'setns': 268, 'mq_open': 180, 'personality': 92},\n"
                "}[platform.machine()]\n"
                "def probe():\n"
                "    allowed = 0\n"
                "    limits = ctypes.create_string_buffer(16)  # a non-NULL new limit: prlimit64 may only read\n"
                "    for name, nr in NR.items():\n"
                "        ctypes.set_errno(0)\n"
                "        result = libc.syscall(nr, 0, 0, ctypes.addressof(limits), 0, 0, 0)\n"
                "        if ctypes.get_errno() != 1:  # anything but EPERM means the call reached the kernel\n"
                "            print(name, result, ctypes.get_errno())\n"
                "            allowed += 1\n"
                "    return float(allowed)\n"
            ),
        ),
    ),
    # -- output and results -------------------------------------------------------------
    HostileCase(
        id="stdout_flood",
        why="printing without end hits the output limit",
        steps=(
            one_call(
                "def flood():\n    while True:\n        print('x' * 1000)\n",
                "flood()",
                Expect(terminations=(Termination.OUTPUT_LIMIT,), unanswered=("c",)),
            ),
        ),
    ),
    HostileCase(
        id="stderr_flood",
        why="stderr counts towards the same limit, also through raw os.write",
        steps=(
            one_call(
                "import os, sys\ndef flood():\n    sys.stderr.write('y' * 10**6)\n    while True:\n"
                "        os.write(2, b'z' * 65536)\n",
                "flood()",
                Expect(terminations=(Termination.OUTPUT_LIMIT,), unanswered=("c",)),
            ),
        ),
    ),
    HostileCase(
        id="result_flood",
        why="a result bigger than Limits.result_bytes is refused at its header, unread",
        steps=(
            one_call(
                "import numpy as np\n",
                "np.zeros(10**7)",
                Expect(terminations=(Termination.RESULT_LIMIT,), unanswered=("c",)),
            ),
        ),
    ),
    HostileCase(
        id="fake_frames_on_output",
        why="frames printed to stdout and stderr are only output",
        steps=(
            one_call(
                FAKE_FRAME_CODE + "import os, sys\ndef lie():\n    os.write(1, FAKE)\n    os.write(2, FAKE)\n"
                "    print(FAKE)\n    return 2.0\n",
                "lie()",
                Expect(values={"c": 2.0}),
            ),
        ),
    ),
    HostileCase(
        id="fake_frames_on_every_fd",
        why="a forged frame that reaches the result pipe is refused (unexpected call id): protocol verdict",
        steps=(
            one_call(
                FAKE_FRAME_CODE + "import os\ndef lie():\n    for fd in range(65):\n        try:\n"
                "            os.write(fd, FAKE)\n        except OSError:\n            pass\n    return 2.0\n",
                "lie()",
                Expect(terminations=(Termination.PROTOCOL,), unanswered=("c", "zzz")),
            ),
        ),
    ),
    HostileCase(
        id="garbage_on_result_pipe",
        why="bytes that are not a frame end the run as a protocol violation",
        steps=(
            one_call(
                "import os\ndef lie():\n    os.write(4, b'\\x00\\x00\\x00\\x05{bad}')\n    return 1.0\n",
                "lie()",
                Expect(terminations=(Termination.PROTOCOL,), unanswered=("c",)),
            ),
        ),
    ),
    HostileCase(
        id="closed_result_pipe",
        why="closing the result pipe and exiting is a crash, not a hang",
        steps=(
            one_call(
                "import os\ndef quit():\n    os.close(4)\n    os._exit(3)\n",
                "quit()",
                Expect(terminations=(Termination.CRASHED,), unanswered=("c",)),
            ),
        ),
    ),
    HostileCase(
        id="lying_values",
        why="subclasses and objects with lying __eq__/__float__/__array__ never decode as numbers",
        steps=(
            Step(
                code=(
                    "import numpy as np\n"
                    "class Sub(np.ndarray):\n    pass\n"
                    "class Liar:\n"
                    "    def __eq__(self, other):\n        return True\n"
                    "    def __float__(self):\n        return 1.0\n"
                    "    def __array__(self, dtype=None, copy=None):\n        return np.ones(3)\n"
                    "class F(float):\n    pass\n"
                    "class F64(np.float64):\n    pass\n"
                    "class Meta(type):\n    __name__ = 'float'\n"
                    "class Named(metaclass=Meta):\n    pass\n"
                ),
                calls=(
                    SandboxCall(id="sub", expr="np.zeros(3).view(Sub)"),
                    SandboxCall(id="liar", expr="Liar()"),
                    SandboxCall(id="float_sub", expr="F(1.0)"),
                    SandboxCall(id="f64_sub", expr="F64(1.0)"),
                    SandboxCall(id="named", expr="Named()"),
                    SandboxCall(id="bool", expr="True"),
                    SandboxCall(id="complex", expr="1j"),
                    SandboxCall(id="objects", expr="np.array([1, 'a'], dtype=object)"),
                    SandboxCall(id="matrix", expr="np.matrix([[1.0]])"),
                    SandboxCall(id="huge_int", expr="10**400"),
                    SandboxCall(id="longdouble", expr="np.ones(2, dtype=np.longdouble)"),
                ),
                expect=Expect(
                    not_numeric={
                        "sub": "Sub",
                        "liar": "Liar",
                        "float_sub": "F",
                        "f64_sub": "F64",
                        "named": "Named",
                        "bool": "bool",
                        "complex": "complex",
                        "objects": "ndarray[object]",
                        "matrix": "matrix",
                        "huge_int": "int",
                        "longdouble": "ndarray[float128]",
                    }
                ),
            ),
        ),
    ),
    # -- state carried to the next submission -------------------------------------------
    HostileCase(
        id="monkeypatch_numpy_and_builtins",
        why="the next submission forks from the pristine zygote: patched numpy and builtins are gone",
        steps=(
            one_call(
                "import builtins, numpy as np, json\n"
                "np.mean = lambda *a, **k: 42.0\n"
                "np.random.default_rng = lambda *a, **k: None\n"
                "builtins.sum = None\n"
                "builtins.abs = lambda x: -1\n"
                "np.ndarray_patched = True\n",
                "np.mean(np.ones(3))",
                Expect(values={"c": 42.0}),
            ),
            one_call(
                # Breaking a builtin the harness itself uses spoils only this verdict.
                "import builtins, json\nbuiltins.len = lambda x: 7\njson.dumps = lambda *a, **k: 'x'\n",
                "1.0",
                Expect(terminations=(Termination.COMPLETED, Termination.PROTOCOL, Termination.CRASHED)),
            ),
            one_call(
                "import builtins, numpy as np\n"
                "def check():\n"
                "    bad = 0\n"
                "    bad += np.mean(np.arange(3.0)) != 1.0\n"
                "    bad += len([1, 2]) != 2\n"
                "    bad += sum([1, 2]) != 3\n"
                "    bad += abs(-1) != 1\n"
                "    bad += hasattr(np, 'ndarray_patched')\n"
                "    import json\n"
                "    bad += json.dumps([1]) != '[1]'\n"
                "    bad += np.random.default_rng(0) is None\n"
                "    return float(bad)\n",
                "check()",
                Expect(values={"c": 0.0}),
            ),
        ),
    ),
    HostileCase(
        id="planted_state",
        why="files, module attributes, environment and sys.modules entries do not reach the next submission",
        steps=(
            one_call(
                "import os, sys, types, numpy, json, builtins\n"
                "for d in ('.', '/', '/sandbox/work'):\n"
                "    try:\n"
                "        open(os.path.join(d, 'planted.txt'), 'w').write('x')\n"
                "    except OSError:\n"
                "        pass\n"
                "numpy.planted = 1\n"
                "json.planted = 1\n"
                "builtins.planted = 1\n"
                "os.environ['PLANTED'] = '1'\n"
                "sys.modules['planted'] = types.ModuleType('planted')\n"
                "sys.path.insert(0, '/planted')\n",
                "1.0",
                Expect(values={"c": 1.0}),
            ),
            one_call(
                "import os, sys, numpy, json, builtins\n"
                "def check():\n"
                "    found = 0\n"
                "    for d in ('.', '/', '/sandbox/work'):\n"
                "        found += os.path.exists(os.path.join(d, 'planted.txt'))\n"
                "    found += hasattr(numpy, 'planted') + hasattr(json, 'planted') + hasattr(builtins, 'planted')\n"
                "    found += 'PLANTED' in os.environ\n"
                "    found += 'planted' in sys.modules\n"
                "    found += '/planted' in sys.path\n"
                "    return float(found)\n",
                "check()",
                Expect(values={"c": 0.0}),
            ),
        ),
    ),
    HostileCase(
        id="memory_secret",
        why="an earlier submission's code never enters the zygote, so a later child cannot find it in memory",
        steps=(
            one_call(
                f"SECRET = {CODE_SECRET!r}\nCOPIES = [SECRET * 3 for _ in range(100)]\n",
                "float(len(COPIES))",
                Expect(values={"c": 100.0}),
            ),
            Step(
                # The needle is built at run time (XOR), so this code does not contain it; the
                # scan copies nothing into Python objects (libc write/read/memmem on raw pages).
                code=(
                    "import ctypes, gc, os\n"
                    f"MASKED = {bytes(b ^ 0x5A for b in CODE_SECRET.encode())!r}\n"
                    "libc = ctypes.CDLL(None, use_errno=True)\n"
                    "libc.write.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)\n"
                    "libc.read.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)\n"
                    "libc.memmem.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t)\n"
                    "libc.memmem.restype = ctypes.c_void_p\n"
                    "libc.malloc.restype = ctypes.c_void_p\n"
                    "PAGE, WINDOW = 4096, 1 << 20\n"
                    "def regions():\n"
                    "    try:\n"
                    "        with open('/proc/self/maps') as maps:\n"
                    "            spans = [line.split() for line in maps]\n"
                    "        return [tuple(int(x, 16) for x in f[0].split('-')) for f in spans if 'r' in f[1]]\n"
                    "    except OSError:\n"
                    "        pass\n"
                    "    # No /proc: windows around every live object and around the malloc heap.\n"
                    "    bases = {id(o) & ~(WINDOW - 1) for o in gc.get_objects()}\n"
                    "    heap = libc.malloc(64) & ~(WINDOW - 1)\n"
                    "    bases.update(heap + k * WINDOW for k in range(-32, 33))\n"
                    "    return [(base, base + WINDOW) for base in sorted(bases)]\n"
                    "def unmask(key):\n"
                    "    # Byte by byte into a preallocated buffer: no temporary copy is left behind.\n"
                    "    buffer = bytearray(32)\n"
                    "    for i in range(32):\n"
                    "        buffer[i] = MASKED[i] ^ key\n"
                    "    return buffer, (ctypes.c_char * 32).from_buffer(buffer)\n"
                    "def count(pattern, skip, spans, probe_r, probe_w, scratch):\n"
                    "    hits, address = 0, ctypes.addressof(pattern)\n"
                    "    for lo, hi in spans:\n"
                    "        for page in range(lo, hi, PAGE):\n"
                    "            if libc.write(probe_w, page, PAGE) != PAGE:\n"
                    "                continue  # not readable\n"
                    "            libc.read(probe_r, scratch, PAGE)\n"
                    "            at = libc.memmem(page, PAGE, address, 32)\n"
                    "            while at:\n"
                    "                if at not in skip:\n"
                    "                    hits += 1\n"
                    "                rest = page + PAGE - at - 1\n"
                    "                at = libc.memmem(at + 1, rest, address, 32) if rest > 0 else None\n"
                    "    return hits\n"
                    "def leaks():\n"
                    "    probe_r, probe_w = os.pipe()\n"
                    "    scratch = ctypes.create_string_buffer(PAGE)\n"
                    "    needle_buffer, needle = unmask(0x5A)\n"
                    "    control_buffer, control = unmask(0x33)\n"
                    "    planted = bytes(control_buffer)  # the control proves that the scan finds things\n"
                    "    skip = {ctypes.addressof(needle), ctypes.addressof(control), ctypes.addressof(scratch)}\n"
                    "    spans = regions()\n"
                    "    # bytes objects are not tracked by gc, so the control's own window is added: the\n"
                    "    # control proves the scanning machinery works, the windows the coverage.\n"
                    "    own = id(planted) & ~(WINDOW - 1)\n"
                    "    spans.append((own, own + WINDOW))\n"
                    "    found = count(needle, skip, spans, probe_r, probe_w, scratch)\n"
                    "    seen = count(control, skip, spans, probe_r, probe_w, scratch)\n"
                    "    assert planted\n"
                    "    return float(found), float(seen > 0)\n"
                    "RESULT = leaks()\n"
                ),
                calls=(
                    SandboxCall(id="leaks", expr="RESULT[0]"),
                    SandboxCall(id="control_found", expr="RESULT[1]"),
                ),
                expect=Expect(values={"leaks": 0.0, "control_found": 1.0}, slack_seconds=3.0),
                limits=Limits(
                    wall_seconds=10.0,
                    cpu_seconds=10,
                    memory_bytes=LIMITS.memory_bytes,
                    output_bytes=LIMITS.output_bytes,
                    output_kept_bytes=LIMITS.output_kept_bytes,
                    result_bytes=LIMITS.result_bytes,
                    file_bytes=LIMITS.file_bytes,
                    open_files=LIMITS.open_files,
                ),
            ),
        ),
    ),
    # -- the harness itself -------------------------------------------------------------
    HostileCase(
        id="exits_and_interrupts",
        why="sys.exit and KeyboardInterrupt are per-call errors; stdin is empty",
        steps=(
            Step(
                code="import sys\ndef leave():\n    sys.exit(0)\ndef interrupt():\n    raise KeyboardInterrupt\n",
                calls=(
                    SandboxCall(id="exit", expr="leave()"),
                    SandboxCall(id="interrupt", expr="interrupt()"),
                    SandboxCall(id="stdin", expr="input()"),
                    SandboxCall(id="after", expr="1.5"),
                ),
                expect=Expect(
                    errors={"exit": ("SystemExit",), "interrupt": ("KeyboardInterrupt",), "stdin": ("EOFError",)},
                    values={"after": 1.5},
                ),
            ),
        ),
    ),
    HostileCase(
        id="os_exit",
        why="os._exit mid-run ends the run as a crash with its status; earlier calls stand",
        steps=(
            Step(
                code="import os\n",
                calls=(SandboxCall(id="first", expr="1.0"), SandboxCall(id="c", expr="os._exit(3)")),
                expect=Expect(terminations=(Termination.CRASHED,), values={"first": 1.0}, unanswered=("c",)),
            ),
        ),
    ),
    HostileCase(
        id="unprintable_exception",
        why="an exception whose __str__ raises or is huge is still reported, cut short",
        steps=(
            Step(
                code=(
                    "class Bad(Exception):\n    def __str__(self):\n        raise ValueError('no')\n"
                    "def bad():\n    raise Bad()\n"
                    "def long():\n    raise ValueError('x' * 10**6)\n"
                ),
                calls=(SandboxCall(id="bad", expr="bad()"), SandboxCall(id="long", expr="long()")),
                expect=Expect(errors={"bad": ("Bad",), "long": ("ValueError",)}),
            ),
        ),
    ),
)
