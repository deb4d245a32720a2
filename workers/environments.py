"""The environments student code runs in: which packages `import` finds in the sandbox.

Each is a pinned set of packages (a lock file in requirements/envs/) installed in a
prefix of its own, outside the worker's virtualenv, and mounted read-only as the
sandbox's only site directory. `numpy` is the worker's own numpy and always there;
the others are installed on the machines that grade them:

    python -m workers.environments install scientific    # `make env ENV=scientific`
    python -m workers.environments list

A worker grades an environment's exercises from its own queue (workers.queues), so an
operator runs heavy environments on machines that have them.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from config.env import env_str

REPOSITORY = Path(__file__).resolve().parent.parent
LOCKS = REPOSITORY / "requirements" / "envs"
DEFAULT_ENVIRONMENT = "numpy"
# What an install leaves beside the packages: the hash of the lock it installed, so a
# prefix from an older lock is reported stale instead of used.
MARKER = ".grader-environment"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;#]+)")


class UnknownEnvironment(KeyError):
    def __str__(self) -> str:
        return f"unknown environment {self.args[0]!r}; known: {', '.join(ENVIRONMENTS)}"


class EnvironmentMissing(Exception):
    """This machine does not have the environment installed (or has a stale install)."""


@dataclass(frozen=True, kw_only=True)
class Environment:
    name: str
    title: str
    description: str
    # Modules the zygote imports before it forks, so no submission pays for them.
    preload: tuple[str, ...]
    # The lock file naming every package with its version; None: the worker's own numpy.
    lock: Path | None = None
    # Device files the environment's libraries open at import, bound in its sandbox.
    devices: tuple[str, ...] = ()

    @property
    def queue(self) -> str:
        from workers.queues import grading_queue

        return grading_queue(self.name)


ENVIRONMENTS: dict[str, Environment] = {
    environment.name: environment
    for environment in (
        Environment(
            name="numpy",
            title="NumPy",
            description="Python's standard library and NumPy.",
            preload=("numpy",),
        ),
        Environment(
            name="scientific",
            title="Scientific Python",
            description="NumPy, SciPy, pandas (Parquet through fastparquet), scikit-learn and matplotlib "
            "(the Agg backend: figures render to memory, no window).",
            preload=(
                "numpy",
                "scipy",
                "scipy.special",
                "scipy.optimize",
                "pandas",
                "fastparquet",
                "sklearn",
                "sklearn.linear_model",
                "sklearn.metrics",
                "sklearn.model_selection",
                "sklearn.datasets",
                "sklearn.tree",
                "sklearn.ensemble",
                "sklearn.preprocessing",
                "matplotlib",
                "matplotlib.pyplot",
            ),
            lock=LOCKS / "scientific.txt",
        ),
        Environment(
            name="torch",
            title="PyTorch (CPU)",
            description="PyTorch on the CPU, with NumPy. One thread: no data loader workers, no GPU.",
            preload=("numpy", "torch", "torch.nn", "torch.nn.functional", "torch.optim"),
            lock=LOCKS / "torch.txt",
            # PyTorch seeds its default generator from it at import (it does not use getrandom()).
            devices=("/dev/urandom",),
        ),
    )
}


def environment_get(name: str) -> Environment:
    try:
        return ENVIRONMENTS[name]
    except KeyError:
        raise UnknownEnvironment(name) from None


def environments_root() -> Path:
    """Where non-default environments are installed (one directory each)."""
    return Path(env_str("GRADER_ENVIRONMENTS_DIR", default=str(REPOSITORY / "var" / "environments")))


def environment_prefix(environment: Environment) -> Path:
    return environments_root() / environment.name


@functools.cache
def lock_digest(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def environment_packages(environment: Environment) -> list[tuple[str, str]]:
    """(package, version) as the lock pins them; the worker's numpy for `numpy`."""
    if environment.lock is None:
        import numpy

        return [("numpy", numpy.__version__)]
    pins = []
    for line in environment.lock.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins.append((match["name"], match["version"]))
    return pins


def environment_problem(environment: Environment) -> str | None:
    """None when this machine can run the environment, else what is wrong and the fix."""
    if environment.lock is None:
        return None
    prefix = environment_prefix(environment)
    install = f"run `make env ENV={environment.name}` (python -m workers.environments install {environment.name})"
    try:
        installed = (prefix / MARKER).read_text().strip()
    except OSError:
        return f"the {environment.name} environment is not installed on this machine (no {prefix}): {install}"
    if installed != lock_digest(environment.lock):
        return f"the {environment.name} environment at {prefix} was installed from another lock file: {install}"
    return None


def environment_site(environment: Environment) -> Path | None:
    """The directory mounted as the sandbox's site directory; None for `numpy` (the
    worker's own numpy is mounted alone). Raises EnvironmentMissing."""
    problem = environment_problem(environment)
    if problem:
        raise EnvironmentMissing(problem)
    return None if environment.lock is None else environment_prefix(environment)


def environments_installed() -> list[Environment]:
    return [environment for environment in ENVIRONMENTS.values() if environment_problem(environment) is None]


def environment_install(environment: Environment, *, python: str = sys.executable, force: bool = False) -> Path:
    """Install the lock's packages (exactly those: --no-deps) into the environment's
    prefix: into a fresh directory first, renamed into place once complete, so a worker
    never mounts a half-installed environment."""
    if environment.lock is None:
        raise ValueError(f"the {environment.name} environment is the worker's own numpy: nothing to install")
    prefix = environment_prefix(environment)
    if not force and environment_problem(environment) is None:
        return prefix
    prefix.parent.mkdir(parents=True, exist_ok=True)
    staging = prefix.with_name(f".{prefix.name}.installing")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-compile",  # nothing may be written inside the sandbox, and .pyc files are not read there
        "--target",
        str(staging),
        "-r",
        str(environment.lock),
    ]
    subprocess.run(command, check=True)  # noqa: S603 - our own interpreter's pip, no shell
    (staging / MARKER).write_text(lock_digest(environment.lock) + "\n")
    old = prefix.with_name(f".{prefix.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if prefix.exists():
        os.rename(prefix, old)
    os.rename(staging, prefix)
    shutil.rmtree(old, ignore_errors=True)
    return prefix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.environments", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help="install an environment's packages on this machine")
    install.add_argument("names", nargs="+", metavar="NAME", help=f"one of {', '.join(ENVIRONMENTS)}, or all")
    install.add_argument("--force", action="store_true", help="reinstall even when up to date")
    commands.add_parser("list", help="the environments, their packages, and whether this machine has them")
    commands.add_parser("queues", help="the grading queues of the environments this machine has, comma-separated")
    args = parser.parse_args(argv)
    if args.command == "queues":
        print(",".join(environment.queue for environment in environments_installed()))
        return 0
    if args.command == "list":
        for environment in ENVIRONMENTS.values():
            problem = environment_problem(environment)
            print(f"{environment.name}: {'installed' if problem is None else problem}")
            print("   " + ", ".join(f"{name} {version}" for name, version in environment_packages(environment)))
        return 0
    names = list(ENVIRONMENTS) if args.names == ["all"] else args.names
    for name in names:
        try:
            environment = environment_get(name)
        except UnknownEnvironment as exc:
            parser.error(str(exc))
        if environment.lock is None:
            print(f"{name}: the worker's own numpy, always there")
            continue
        if not args.force and environment_problem(environment) is None:
            print(f"{name}: up to date at {environment_prefix(environment)}")
            continue
        print(f"{name}: installing into {environment_prefix(environment)} ...", flush=True)
        environment_install(environment, force=True)
        print(f"{name}: ready")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
