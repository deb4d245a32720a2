"""Runs student code in a sandbox: one pre-forked, locked-down interpreter per worker process.

    run = sandbox_run(job=SandboxJob(...))   # a verdict; SandboxUnavailable only for grader failures
    sandbox_check()                          # at worker start: refuse to start without a sandbox
    sandbox_shutdown()                       # stop this process's zygote

The design and the threat model are in docs/sandbox.md.
"""

from __future__ import annotations

import atexit
import os
import threading

from workers.sandbox.config import SandboxConfig, SandboxMode
from workers.sandbox.host import Zygote, ZygoteGone
from workers.sandbox.protocol import SandboxCall, SandboxJob, SandboxRun, SandboxUnavailable, Termination

__all__ = [
    "SandboxConfig",
    "SandboxMode",
    "SandboxUnavailable",
    "sandbox_check",
    "sandbox_run",
    "sandbox_shutdown",
]

_lock = threading.Lock()
_zygote: Zygote | None = None

PROBE = SandboxJob(
    code=(
        "import os\n"
        "def total(x):\n"
        "    return x.sum()\n"
        "def forks():\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        return 0.0\n"
        "    if pid == 0:\n"
        "        os._exit(0)\n"
        "    os.waitpid(pid, 0)\n"
        "    return 1.0\n"
    ),
    entry_points=("total", "forks"),
    calls=(
        SandboxCall(id="total", setup="x = np.arange(4.0)", expr="total(x)"),
        SandboxCall(id="forks", expr="forks()"),
    ),
)


def sandbox_run(*, job: SandboxJob, config: SandboxConfig | None = None) -> SandboxRun:
    """Run one job on this process's zygote, starting (or replacing) it when needed."""
    config = config or SandboxConfig.from_env()
    global _zygote
    with _lock:
        for attempt in (1, 2):
            zygote = _zygote_for(config)
            try:
                run = zygote.run(job)
            except ZygoteGone:
                _discard()
                if attempt == 2:
                    raise
                continue  # died while idle: one fresh zygote, same job
            except SandboxUnavailable:
                _discard()
                raise
            except BaseException:
                _discard()  # a host-side bug or an interrupt: never reuse a zygote mid-job
                raise
            if zygote.broken or zygote.jobs >= config.recycle_after_jobs:
                _discard()
            return run
    raise AssertionError("unreachable")


def sandbox_check(config: SandboxConfig | None = None) -> None:
    """Build a zygote and run a probe job on it; raise SandboxUnavailable saying what is missing."""
    config = config or SandboxConfig.from_env()
    zygote = Zygote(config)
    try:
        run = zygote.run(PROBE)
    finally:
        zygote.close()
    total = run.calls.get("total")
    if run.termination is not Termination.COMPLETED or total is None or total.value != 6.0:
        raise SandboxUnavailable(
            f"the sandbox probe job failed ({run.termination}: {run.termination_detail or run.module_error})"
        )
    forks = run.calls.get("forks")
    if forks is None or forks.value != 0.0:
        raise SandboxUnavailable(
            "the sandbox's seccomp filter is not effective (a child could fork); "
            "this kernel or container does not support seccomp filters as needed"
        )


def sandbox_shutdown() -> None:
    """Stop this process's zygote (a later sandbox_run starts a new one)."""
    with _lock:
        _discard()


def _zygote_for(config: SandboxConfig) -> Zygote:
    global _zygote
    if _zygote is not None and (_zygote.owner_pid != os.getpid() or _zygote.config != config):
        _discard()
    if _zygote is None:
        _zygote = Zygote(config)
    return _zygote


def _discard() -> None:
    global _zygote
    zygote, _zygote = _zygote, None
    if zygote is not None:
        zygote.close()  # in a forked copy, close() only drops the inherited descriptors


def _forget_after_fork() -> None:
    # A Celery prefork child must not talk to its parent's zygote: drop the inherited one.
    global _zygote, _lock
    _lock = threading.Lock()
    zygote, _zygote = _zygote, None
    if zygote is not None:
        zygote.abandon()


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(sandbox_shutdown)
