"""Runs student code in a sandbox: one pre-forked, locked-down interpreter per worker
process and environment (workers.environments).

    run = sandbox_run(job=SandboxJob(...), environment="torch")   # SandboxUnavailable only for grader failures
    sandbox_check(environment="torch")   # at worker start: refuse to start without that sandbox
    sandbox_shutdown()                   # stop this process's zygotes

The design and the threat model are in docs/sandbox.md.
"""

from __future__ import annotations

import atexit
import os
import threading

from workers.environments import DEFAULT_ENVIRONMENT
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
_zygotes: dict[str, Zygote] = {}

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


def sandbox_run(
    *, job: SandboxJob, config: SandboxConfig | None = None, environment: str = DEFAULT_ENVIRONMENT
) -> SandboxRun:
    """Run one job on this process's zygote for `environment`, starting (or replacing)
    it when needed."""
    config = config or SandboxConfig.from_env()
    with _lock:
        for attempt in (1, 2):
            zygote = _zygote_for(config, environment)
            try:
                run = zygote.run(job)
            except ZygoteGone:
                _discard(environment)
                if attempt == 2:
                    raise
                continue  # died while idle: one fresh zygote, same job
            except SandboxUnavailable:
                _discard(environment)
                raise
            except BaseException:
                _discard(environment)  # a host-side bug or an interrupt: never reuse a zygote mid-job
                raise
            if zygote.broken or zygote.jobs >= config.recycle_after_jobs:
                _discard(environment)
            return run
    raise AssertionError("unreachable")


def sandbox_check(config: SandboxConfig | None = None, *, environment: str = DEFAULT_ENVIRONMENT) -> dict[str, object]:
    """Build a zygote and run a probe job on it; raise SandboxUnavailable saying what is
    missing. Returns what the zygote reported (versions, import time)."""
    config = config or SandboxConfig.from_env()
    zygote = Zygote(config, environment)
    try:
        run = zygote.run(PROBE)
    finally:
        zygote.close()
    total = run.calls.get("total")
    if run.termination is not Termination.COMPLETED or total is None or total.value != 6.0:
        raise SandboxUnavailable(
            f"the {environment} sandbox's probe job failed "
            f"({run.termination}: {run.termination_detail or run.module_error})"
        )
    forks = run.calls.get("forks")
    if forks is None or forks.value != 0.0:
        raise SandboxUnavailable(
            "the sandbox's seccomp filter is not effective (a child could fork); "
            "this kernel or container does not support seccomp filters as needed"
        )
    return zygote.info


def sandbox_shutdown() -> None:
    """Stop this process's zygotes (a later sandbox_run starts new ones)."""
    with _lock:
        for environment in list(_zygotes):
            _discard(environment)


def _zygote_for(config: SandboxConfig, environment: str) -> Zygote:
    zygote = _zygotes.get(environment)
    if zygote is not None and (zygote.owner_pid != os.getpid() or zygote.config != config):
        _discard(environment)
        zygote = None
    if zygote is None:
        zygote = _zygotes[environment] = Zygote(config, environment)
    return zygote


def _discard(environment: str) -> None:
    zygote = _zygotes.pop(environment, None)
    if zygote is not None:
        zygote.close()  # in a forked copy, close() only drops the inherited descriptors


def _forget_after_fork() -> None:
    # A Celery prefork child must not talk to its parent's zygotes: drop the inherited ones.
    global _lock
    _lock = threading.Lock()
    inherited = list(_zygotes.values())
    _zygotes.clear()
    for zygote in inherited:
        zygote.abandon()


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(sandbox_shutdown)
