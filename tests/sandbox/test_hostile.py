"""Every hostile case, run through sandbox_run on real bubblewrap.

After each case: the verdict is clean and came within the limit, the zygote is the same
process (the child could not kill it, nor make it fail), no process from the job is
left, and a normal job on the same zygote succeeds.
"""

from __future__ import annotations

import time

import pytest

import workers.sandbox as sandbox
from tests.sandbox.conftest import descendants, namespace_pid, parent_of
from tests.sandbox.hostile_cases import CASES, LIMITS, HostileCase, problems
from workers.sandbox import SandboxConfig, sandbox_run
from workers.sandbox.host import Zygote
from workers.sandbox.protocol import SandboxCall, SandboxJob, Termination

NORMAL = SandboxJob(
    code="import numpy as np\ndef double(x):\n    return x * 2\n",
    entry_points=("double",),
    calls=(SandboxCall(id="c", setup="x = np.arange(3.0)", expr="double(x).sum()"),),
    limits=LIMITS,
)


def zygote_pid(outer: int) -> int:
    """bwrap (outer) -> bwrap (pid 1 inside) -> the zygote (pid 2 inside)."""
    for pid in descendants(outer):
        if namespace_pid(pid) == 2:
            return pid
    raise AssertionError("no zygote below bwrap")


def assert_nothing_left(zygote: Zygote) -> None:
    zygote.settle()  # what the next job waits for: the zygote's word that the last child is reaped
    pid = zygote_pid(zygote.proc.pid)
    below = descendants(pid)
    assert all(parent_of(child) == pid for child in below), "a grandchild of the zygote exists"
    assert zygote.last_child not in {namespace_pid(child) for child in below}, "the job's process is still there"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_it_survives(case: HostileCase, bwrap_config: SandboxConfig, environment: str) -> None:
    sandbox_run(job=NORMAL, config=bwrap_config, environment=environment)
    zygote = sandbox._zygotes.get(environment)
    assert zygote is not None
    for number, step in enumerate(case.steps, start=1):
        started = time.monotonic()
        run = sandbox_run(job=step.job(), config=bwrap_config, environment=environment)
        seconds = time.monotonic() - started
        found = problems(run, step.expect, seconds=seconds, limits=step.limits)
        assert not found, f"step {number}: {found}\noutput: {run.output[-500:]!r}"
        assert sandbox._zygotes.get(environment) is zygote, "the zygote was replaced: the job made it misbehave"
        assert_nothing_left(zygote)
    after = sandbox_run(job=NORMAL, config=bwrap_config, environment=environment)
    assert after.termination is Termination.COMPLETED
    assert after.calls["c"].value == 6.0
    assert sandbox._zygotes.get(environment) is zygote
