"""The trusted side: starts a zygote, hands it one job's pipes at a time, reads the verdict.

Per job the host creates three pipes, writes the job into one, sends the zygote the
child's ends over the control socket, then polls the result and output pipes against the
wall-clock deadline, decoding frames strictly as they arrive. Whatever happens, it then
asks the zygote to reap the child (SIGKILL first if it still runs) and learns the real
exit status. A zygote that misbehaves in any way is discarded, never reused.

A child that sent its end frame has answered everything: its exit status cannot change
the verdict, so the host asks for the reap (which kills the child at once if it is still
there) but reads the zygote's answer only before the next request. The child's exit (a
few ms to unmap a numpy process) then overlaps storing the verdict instead of delaying it.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import json
import math
import os
import select
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from workers.environments import DEFAULT_ENVIRONMENT
from workers.sandbox.codec import (
    ProtocolViolation,
    decode_call,
    decode_end,
    decode_hello,
    decode_module,
    encode_job,
    parse_frame,
)
from workers.sandbox.config import SandboxConfig, machine_supported
from workers.sandbox.launch import data_directory, launch_for
from workers.sandbox.protocol import (
    CallOutcome,
    Limits,
    SandboxJob,
    SandboxRun,
    SandboxUnavailable,
    StudentError,
    Termination,
)

FRAME_HEADER = struct.Struct(">I")
STATUS = struct.Struct("!i?dq")
F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20
READ_BYTES = 1 << 18
# After the child closes its result pipe without an end frame: how long its exit may take.
EXIT_GRACE_SECONDS = 0.25
MIB = 1024 * 1024
# Hidden data files travel as descriptors beside the job's three pipes (runtime.py's
# MAX_HIDDEN_FILES is the same).
MAX_HIDDEN_FILES = 16
# How often the host reads a running child's memory use. Touching fresh pages runs at a
# few GB/s, so a bomb overshoots the limit by tens of MB at most before it is killed; the
# address-space backstop (ADDRESS_SPACE_FACTOR times the limit above the environment's
# own mappings) bounds what a faster allocation could take in between.
MEMORY_SAMPLE_SECONDS = 0.01
ADDRESS_SPACE_FACTOR = 2

USERNS_HINT = (
    "user namespaces are refused here. Allow unprivileged user namespaces (sysctl "
    "user.max_user_namespaces > 0, kernel.unprivileged_userns_clone=1 on older Debian kernels, "
    "kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap on Ubuntu 23.10+; "
    "in Docker, a seccomp profile that allows clone/unshare with CLONE_NEWUSER and, on AppArmor hosts, "
    "an AppArmor profile that allows userns: see docs/sandbox.md), or set GRADER_SANDBOX=rlimits for the "
    "weaker sandbox without namespaces"
)


class ZygoteGone(SandboxUnavailable):
    """The zygote was dead before the job reached a child: safe to retry on a fresh one."""


class Zygote:
    """One sandboxed, pre-forked interpreter with numpy loaded; owned by one OS process."""

    def __init__(self, config: SandboxConfig, environment: str = DEFAULT_ENVIRONMENT) -> None:
        self.config = config
        self.environment = environment
        self.owner_pid = os.getpid()
        self.memory: MemoryMonitor | None = None
        self.address_space = 0  # the zygote's, read once it is ready (it does not grow after)
        self.jobs = 0
        self.broken = False
        self.info: dict[str, Any] = {}
        self.scratch: str | None = None
        self.last_child = 0  # the latest job's pid, as the sandbox's pid namespace numbers it
        self.reap_pending = False  # a reap was asked for and its answer not read yet
        self.reap_grace = 0.0
        unsupported = machine_supported()
        if unsupported:
            raise SandboxUnavailable(unsupported)
        host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = host_end
        try:
            launch = launch_for(config, zygote_end.fileno(), environment)
            self.scratch = launch.scratch
            self.proc = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
                launch.argv,
                env={},  # bwrap itself starts with nothing: its environ is readable as /proc/1/environ
                cwd=launch.cwd,
                pass_fds=(zygote_end.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=launch.new_session,
            )
        except OSError as exc:
            host_end.close()
            self._remove_scratch()
            raise SandboxUnavailable(f"the sandbox could not be started: {exc}") from exc
        finally:
            zygote_end.close()
        try:
            self._await_ready()
        except SandboxUnavailable:
            self.close()
            raise

    # -- life cycle ---------------------------------------------------------------------

    def _await_ready(self) -> None:
        reply = self._reply(self.config.start_seconds, starting=True)
        if reply[:1] == b"R":
            self.info = json.loads(reply[1:])
            self.memory = MemoryMonitor.find(launcher=self.proc.pid, zygote=int(self.info.get("pid", 0)))
            threads = self.memory.threads() if self.memory else 1
            self.address_space = self.memory.zygote_address_space() if self.memory else 0
            if threads != 1:
                # A fork copies only the forking thread: a pool thread holding a lock at
                # that moment would deadlock the child that next takes the lock.
                raise self._fail(
                    f"the {self.environment} environment's zygote runs {threads} threads after importing its "
                    "modules; it must run one to fork safely (see THREAD_SETTINGS in workers/sandbox/runtime.py)"
                )
            return
        if reply[:1] == b"X":
            detail = reply[1:].decode(errors="replace")
            if "numpy" in detail.lower():
                raise SandboxUnavailable(f"numpy is not importable inside the sandbox ({detail})")
            raise SandboxUnavailable(f"the sandbox's interpreter failed to start: {detail}")
        raise SandboxUnavailable(f"the sandbox sent an unexpected greeting {reply[:40]!r}")

    def _startup_failure(self) -> SandboxUnavailable:
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        stderr = self._stderr(timeout=1.0)
        lowered = stderr.lower()
        if any(sign in lowered for sign in ("namespace", "uid map", "setting up uid", "unshare")):
            return SandboxUnavailable(f"{USERNS_HINT}. bwrap said: {stderr[-500:]}")
        if "numpy" in lowered:
            return SandboxUnavailable(f"numpy is not importable inside the sandbox: {stderr[-500:]}")
        return SandboxUnavailable(f"the sandbox exited while starting: {stderr[-500:] or 'no message'}")

    def _stderr(self, *, timeout: float) -> str:
        """What bwrap or the interpreter said, without waiting on a writer that lingers."""
        if self.proc.stderr is None:
            return ""
        fd = self.proc.stderr.fileno()
        os.set_blocking(fd, False)
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        while sum(map(len, chunks)) < 1 << 16 and select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace").strip()

    def close(self) -> None:
        """Stop the zygote and everything in its sandbox."""
        if self.owner_pid != os.getpid():
            self.abandon()
            return
        self.sock.close()  # the zygote exits on EOF
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            # Killing bwrap kills its pid namespace (--die-with-parent); in the weaker
            # mode the child dies with the zygote (PR_SET_PDEATHSIG).
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self._remove_scratch()

    def abandon(self) -> None:
        """In a forked copy of the owner: drop our descriptors, leave the owner's zygote alone."""
        self.sock.close()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc.returncode = 0  # not ours to wait for

    def _remove_scratch(self) -> None:
        if self.scratch and self.owner_pid == os.getpid():
            with contextlib.suppress(OSError):
                os.rmdir(self.scratch)
            self.scratch = None

    # -- talking to the zygote ----------------------------------------------------------

    def _fail(self, message: str) -> SandboxUnavailable:
        self.broken = True
        return SandboxUnavailable(message)

    def _reply(self, timeout: float, *, starting: bool = False) -> bytes:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            if starting:
                self.proc.kill()
                return self._raise(self._startup_failure())
            raise self._fail(f"the sandbox's zygote did not answer within {timeout:g} s")
        try:
            reply = self.sock.recv(4096)
        except OSError as exc:
            raise self._fail(f"the sandbox's zygote connection broke: {exc}") from exc
        if not reply:
            if starting:
                return self._raise(self._startup_failure())
            raise self._fail("the sandbox's zygote died")
        return reply

    def _raise(self, error: SandboxUnavailable) -> bytes:
        self.broken = True
        raise error

    def fork(self, fds: list[int]) -> None:
        try:
            self.settle()
        except SandboxUnavailable as exc:
            raise ZygoteGone(str(exc)) from exc  # the new job has reached no child yet
        if self.proc.poll() is not None:
            self.broken = True
            raise ZygoteGone(f"the sandbox's zygote exited ({describe_status_code(self.proc.returncode)})")
        try:
            socket.send_fds(self.sock, [b"F"], fds)
        except OSError as exc:
            self.broken = True
            raise ZygoteGone(f"the sandbox's zygote is gone: {exc}") from exc
        reply = self._reply(self.config.reply_seconds)
        if reply[:1] != b"K" or len(reply) != 5:
            raise self._fail(f"the sandbox's zygote could not fork: {reply[1:200].decode(errors='replace')}")
        (self.last_child,) = struct.unpack("!i", reply[1:])

    def child_memory(self) -> ChildMemory | None:
        """The running child's memory use, as the host's /proc shows it; None where it
        cannot be seen (the address-space limit then stands alone)."""
        if self.memory is None:
            return None
        return self.memory.child(self.last_child)

    def reap(self, grace: float) -> tuple[int, bool, float, int]:
        """The child's wait status, whether the zygote had to kill it, its CPU seconds and
        its peak resident memory (bytes, shared pages included)."""
        self.reap_later(grace)
        return self.settle()

    def reap_later(self, grace: float = 0.0) -> None:
        """Ask for the reap (the zygote kills the child if it outlives `grace`); settle()
        reads the answer."""
        try:
            self.sock.send(b"W" + struct.pack("!d", grace))
        except OSError as exc:
            raise self._fail(f"the sandbox's zygote is gone: {exc}") from exc
        self.reap_pending = True
        self.reap_grace = grace

    def settle(self) -> tuple[int, bool, float, int]:
        """Wait for the answer to a pending reap: once it returns, the last job's
        process no longer exists. A no-op (zeros) when no reap is pending."""
        if not self.reap_pending:
            return 0, False, 0.0, 0
        self.reap_pending = False
        reply = self._reply(self.config.reply_seconds + self.reap_grace)
        if reply[:1] != b"S" or len(reply) != 1 + STATUS.size:
            raise self._fail("the sandbox's zygote sent an unexpected reply")
        status, killed, cpu, peak_kib = STATUS.unpack(reply[1:])
        return status, killed, cpu, peak_kib * 1024

    def run(self, job: SandboxJob) -> SandboxRun:
        self.jobs += 1
        return JobRun(self, job).execute()

    def address_space_bytes(self, limits: Limits) -> int:
        """The child's RLIMIT_AS: a backstop above the use limit, not the limit itself.
        Address space is what the environment maps (PyTorch maps 600 MB before any
        tensor), plus room for memory reserved and not used; what counts is use, which
        the host measures (MemoryMonitor). Without that measure, the old limit."""
        if self.memory is None:
            return limits.memory_bytes
        return self.address_space + ADDRESS_SPACE_FACTOR * limits.memory_bytes


class JobRun:
    """One job's pipes, frames and verdict."""

    def __init__(self, zygote: Zygote, job: SandboxJob) -> None:
        self.zygote = zygote
        self.job = job
        self.limits = job.limits
        self.max_elements = job.limits.result_bytes
        self.results = bytearray()
        self.result_total = 0
        self.output = bytearray()
        self.output_total = 0
        self.hello = False
        self.module_seen = False
        self.module_error: StudentError | None = None
        self.missing: tuple[str, ...] = ()
        self.cell_errors: dict[int, StudentError] = {}
        self.defined_at: dict[str, int] = {}
        self.calls: dict[str, CallOutcome] = {}
        self.ended = False
        self.stop: tuple[Termination, str] | None = None
        self.started = 0.0
        self.fork_seconds = 0.0
        self.last_frame = 0.0
        self.job_w = -1
        self.memory: ChildMemory | None = None
        self.sampling = False
        self.memory_peak = 0

    def execute(self) -> SandboxRun:
        data = self.job.data
        cwd = data_directory(self.zygote.config, data.directory) if data else ""
        payload = encode_job(self.job, address_space_bytes=self.zygote.address_space_bytes(self.limits), cwd=cwd)
        hidden = self.open_hidden()
        job_r, self.job_w = os.pipe2(os.O_CLOEXEC)
        res_r, res_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        try:
            for fd in (self.job_w, res_w):
                with contextlib.suppress(OSError):  # a smaller pipe only means more round trips
                    fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
            for fd in (self.job_w, res_r, out_r):
                os.set_blocking(fd, False)
            sent = os.write(self.job_w, payload)
            self.started = time.monotonic()
            try:
                self.zygote.fork([job_r, res_w, out_w, *hidden])
            finally:
                for fd in (job_r, res_w, out_w, *hidden):
                    os.close(fd)
            self.memory = self.zygote.child_memory()
            self.sampling = self.memory is not None
            if sent == len(payload):
                self.close_job()
            self.poll(memoryview(payload)[sent:], res_r, out_r)
            self.close_job()
            timed_out = self.stop is not None and self.stop[0] is Termination.TIME_LIMIT
            finished = time.monotonic()
            if self.ended and self.stop is None:
                if self.sampling and self.memory is not None:
                    # One last reading for the report (a job shorter than a sampling
                    # interval has no other); the answers are in, so it cannot fail them.
                    self.memory_peak = max(self.memory_peak, self.memory.used() or 0)
                self.zygote.reap_later()  # its exit status cannot change the verdict
                status, killed, cpu, peak = 0, False, 0.0, 0
            else:
                grace = 0.0 if self.stop else EXIT_GRACE_SECONDS
                status, killed, cpu, peak = self.zygote.reap(grace)
                finished = time.monotonic()
                if self.memory is not None and peak:
                    # The kernel's count, for what the samples may have missed at the end.
                    self.memory_peak = max(self.memory_peak, peak - self.memory.baseline_resident)
        finally:
            self.close_job()
            os.close(res_r)
            os.close(out_r)
        if not self.hello:
            raise self.zygote._fail(
                "the sandbox child exited before it was ready"
                + (" (wall-clock limit)" if timed_out else f" ({describe_status(status)})")
            )
        termination, detail = self.verdict(status, killed, cpu)
        kept = self.output[: self.limits.output_kept_bytes]
        truncated = self.output_total > len(kept)
        # A cut through a multi-byte character drops its first bytes rather than show junk.
        text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(bytes(kept), final=not truncated)
        return SandboxRun(
            module_error=self.module_error,
            missing=self.missing,
            cell_errors=self.cell_errors,
            defined_at=self.defined_at,
            calls=self.calls,
            termination=termination,
            termination_detail=detail,
            output=text,
            output_truncated=truncated,
            fork_seconds=self.fork_seconds,
            run_seconds=finished - self.started,
            memory_peak_bytes=self.memory_peak,
        )

    def open_hidden(self) -> list[int]:
        """Read-only descriptors of the hidden data files, for the child's set-ups."""
        if self.job.data is None or not self.job.data.hidden:
            return []
        if len(self.job.data.hidden) > MAX_HIDDEN_FILES:
            raise SandboxUnavailable(f"a job may read at most {MAX_HIDDEN_FILES} hidden data files")
        opened: list[int] = []
        try:
            for _name, path in self.job.data.hidden:
                opened.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError as exc:
            for fd in opened:
                os.close(fd)
            raise SandboxUnavailable(f"a hidden data file could not be opened: {exc}") from exc
        return opened

    # -- the poll loop ------------------------------------------------------------------

    def close_job(self) -> None:
        if self.job_w >= 0:
            os.close(self.job_w)
            self.job_w = -1

    def poll(self, pending: memoryview, res_r: int, out_r: int) -> None:
        poller = select.poll()
        poller.register(res_r, select.POLLIN)
        poller.register(out_r, select.POLLIN)
        poller.register(self.zygote.sock, select.POLLIN)
        if self.job_w >= 0:
            poller.register(self.job_w, select.POLLOUT)
        deadline = self.started + self.limits.wall_seconds
        results_open = output_open = True
        while self.stop is None and not self.ended and (results_open or output_open):
            if not results_open:
                # The child closed its results without an end frame: give its exit a
                # moment to close the output pipe too, then reap it.
                deadline = min(deadline, time.monotonic() + EXIT_GRACE_SECONDS)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if results_open:
                    self.stop = (Termination.TIME_LIMIT, f"wall-clock limit of {self.limits.wall_seconds:g} s")
                break
            if self.sampling:
                if self.over_memory():
                    break
                remaining = min(remaining, MEMORY_SAMPLE_SECONDS)
            for fd, events in poller.poll(math.ceil(remaining * 1000)):
                if fd == self.zygote.sock.fileno():
                    raise self.zygote._fail("the sandbox's zygote spoke or died during a job")
                if fd == self.job_w:
                    pending = self.feed_job(self.job_w, pending, events)
                    if not pending:
                        poller.unregister(self.job_w)
                        self.close_job()
                elif fd == res_r:
                    if not self.read_results(res_r):
                        poller.unregister(res_r)
                        results_open = False
                elif fd == out_r and self.read_output(out_r) == 0:
                    poller.unregister(out_r)
                    output_open = False
                if self.stop or self.ended:
                    break
        if self.ended and output_open:
            # Output written before the end frame is already in the pipe.
            while self.stop is None and self.read_output(out_r) > 0:
                pass

    def over_memory(self) -> bool:
        """Sample the child's memory use; past the limit, stop the run (the reap kills it)."""
        assert self.memory is not None
        used = self.memory.used()
        if used is None:
            self.sampling = False  # it has exited: nothing more to measure
            return False
        self.memory_peak = max(self.memory_peak, used)
        if used <= self.limits.memory_bytes:
            return False
        self.stop = (Termination.MEMORY_LIMIT, f"memory limit of {self.limits.memory_bytes // MIB} MB exceeded")
        return True

    def feed_job(self, job_w: int, pending: memoryview, events: int) -> memoryview:
        if events & (select.POLLERR | select.POLLHUP):
            return pending[:0]  # the child is gone or stopped reading
        try:
            return pending[os.write(job_w, pending) :]
        except BlockingIOError:
            return pending
        except OSError:
            return pending[:0]

    def read_output(self, out_r: int) -> int:
        """Bytes read: 0 at end of file, -1 when nothing is there right now."""
        try:
            data = os.read(out_r, READ_BYTES)
        except BlockingIOError:
            return -1
        if not data:
            return 0
        room = self.limits.output_kept_bytes - len(self.output)
        if room > 0:
            self.output += data[:room]
        self.output_total += len(data)
        if self.output_total > self.limits.output_bytes:
            self.stop = (Termination.OUTPUT_LIMIT, f"output exceeded {self.limits.output_bytes} bytes")
        return len(data)

    def read_results(self, res_r: int) -> bool:
        try:
            data = os.read(res_r, READ_BYTES)
        except BlockingIOError:
            return True
        if not data:
            return False
        arrival = time.monotonic()
        self.result_total += len(data)
        self.results += data
        while self.stop is None and not self.ended and len(self.results) >= FRAME_HEADER.size:
            (size,) = FRAME_HEADER.unpack_from(self.results)
            consumed = self.result_total - len(self.results)
            if consumed + FRAME_HEADER.size + size > self.limits.result_bytes:
                self.stop = (Termination.RESULT_LIMIT, f"results exceeded {self.limits.result_bytes} bytes")
                break
            if len(self.results) < FRAME_HEADER.size + size:
                break
            payload = bytes(self.results[FRAME_HEADER.size : FRAME_HEADER.size + size])
            del self.results[: FRAME_HEADER.size + size]
            self.frame(payload, arrival)
        if self.stop is None and self.result_total > self.limits.result_bytes:
            self.stop = (Termination.RESULT_LIMIT, f"results exceeded {self.limits.result_bytes} bytes")
        return True

    def frame(self, payload: bytes, arrival: float) -> None:
        if not self.hello:
            # Sent before any job code ran: a bad one is the grader's failure.
            try:
                fatal = decode_hello(parse_frame(payload))
            except ProtocolViolation as exc:
                raise self.zygote._fail(f"the sandbox child sent a bad greeting: {exc}") from exc
            if fatal is not None:
                raise self.zygote._fail(f"the sandbox child could not lock itself down: {fatal}")
            self.hello = True
            self.fork_seconds = arrival - self.started
            self.last_frame = arrival
            return
        try:
            obj = parse_frame(payload)
            if not self.module_seen:
                module = decode_module(obj, self.job.entry_points, cells=len(self.job.cell_starts))
                self.module_error, self.missing = module.error, module.missing
                self.cell_errors, self.defined_at = module.cell_errors, module.defined_at
                self.module_seen = True
            elif self.module_error is not None or len(self.calls) == len(self.job.calls):
                decode_end(obj)
                self.ended = True
            else:
                call = self.job.calls[len(self.calls)]
                outcome = decode_call(obj, call, seconds=arrival - self.last_frame, max_elements=self.max_elements)
                self.calls[call.id] = outcome
        except ProtocolViolation as exc:
            self.stop = (Termination.PROTOCOL, str(exc))
            return
        self.last_frame = arrival
        if self.sampling and not self.ended:
            # Each step's memory while the child is still in it (a job shorter than a
            # sampling interval is otherwise never seen); past the limit, the run stops.
            self.over_memory()

    # -- the verdict --------------------------------------------------------------------

    def verdict(self, status: int, killed: bool, cpu: float) -> tuple[Termination, str]:
        if self.stop is not None:
            return self.stop
        if not self.ended and self.memory_peak > self.limits.memory_bytes:
            # Ended early after using more than its memory (a CPU limit reached while
            # paging in, a crash in an allocator): the memory is the cause to report.
            return Termination.MEMORY_LIMIT, f"memory limit of {self.limits.memory_bytes // MIB} MB exceeded"
        if self.ended:
            if self.module_error is not None and self.module_error.type == "MemoryError":
                return Termination.MEMORY_LIMIT, f"memory limit of {self.limits.memory_bytes // MIB} MB exceeded"
            return Termination.COMPLETED, ""
        if killed:
            return Termination.CRASHED, "closed its result pipe and kept running"
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu >= self.limits.cpu_seconds):
                return Termination.TIME_LIMIT, f"CPU limit of {self.limits.cpu_seconds} s ({signal_name(number)})"
        return Termination.CRASHED, describe_status(status)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return signal_name(os.WTERMSIG(status))
    if os.WIFEXITED(status):
        return f"exit status {os.WEXITSTATUS(status)}"
    return f"wait status {status}"


def describe_status_code(returncode: int) -> str:
    """A subprocess return code: negative for a signal."""
    return signal_name(-returncode) if returncode < 0 else f"exit status {returncode}"


# ----------------------------------------------------------------------------------------
# Memory use, measured from outside


def read_status(pid: int) -> dict[str, str] | None:
    """/proc/<pid>/status as a dict; None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as file:
            text = file.read()
    except OSError:
        return None
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def status_kib(fields: dict[str, str], name: str) -> int:
    value = fields.get(name, "0 kB").split()
    return int(value[0]) if value and value[0].isdigit() else 0


def private_memory(fields: dict[str, str]) -> int:
    """Anonymous and shared-memory pages resident: what a process's allocations use (its
    mapped files are page cache the kernel can drop)."""
    return (status_kib(fields, "RssAnon") + status_kib(fields, "RssShmem")) * 1024


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as file:
                found += [int(child) for child in file.read().split()]
    except (OSError, ValueError):
        return []
    return found


def namespace_pid(fields: dict[str, str]) -> int | None:
    """The pid as the innermost pid namespace numbers it (NSpid's last entry)."""
    numbers = fields.get("NSpid", "").split()
    return int(numbers[-1]) if numbers and numbers[-1].isdigit() else None


@dataclass(frozen=True)
class ChildMemory:
    """One job's child: its memory use above what it inherited from the zygote."""

    pid: int  # in the host's pid namespace
    baseline: int  # the zygote's private memory when the child was forked from it
    baseline_resident: int  # the zygote's whole resident memory then (the kernel's peak counts it)

    def used(self) -> int | None:
        fields = read_status(self.pid)
        if fields is None or fields.get("State", "").startswith(("Z", "X")):
            return None
        return max(0, private_memory(fields) - self.baseline)


@dataclass(frozen=True)
class MemoryMonitor:
    """Finds the zygote and its children in the host's /proc (bwrap's pid namespace
    renumbers them; the zygote reports its own number inside). The memory a child uses
    is its resident anonymous and shared memory less the zygote's, which it shares
    copy-on-write until it writes: the environment's libraries and preloaded modules
    count once, in the zygote, and not against each submission."""

    zygote: int  # host pid

    @classmethod
    def find(cls, *, launcher: int, zygote: int) -> MemoryMonitor | None:
        """launcher: the process the host started (bwrap, or the interpreter itself);
        zygote: the zygote's pid in its own namespace. None when /proc does not show it."""
        frontier, seen = [launcher], 0
        while frontier and seen < 16:
            pid = frontier.pop(0)
            seen += 1
            fields = read_status(pid)
            if fields is None:
                continue
            if namespace_pid(fields) == zygote and fields.get("Name", "").startswith("python"):
                return cls(zygote=pid)
            frontier += children(pid)
        return None

    def threads(self) -> int:
        fields = read_status(self.zygote) or {}
        return int(fields.get("Threads", "1"))

    def zygote_address_space(self) -> int:
        return status_kib(read_status(self.zygote) or {}, "VmSize") * 1024

    def child(self, namespace_number: int) -> ChildMemory | None:
        zygote = read_status(self.zygote)
        if zygote is None:
            return None
        for pid in children(self.zygote):
            fields = read_status(pid)
            if fields is not None and namespace_pid(fields) == namespace_number:
                return ChildMemory(
                    pid=pid, baseline=private_memory(zygote), baseline_resident=status_kib(zygote, "VmRSS") * 1024
                )
        return None
