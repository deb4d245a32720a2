"""An answer key's data files, made ready for the sandbox on this worker's disk.

The bytes live in the database (questions.models.DataBlob, by sha256), so any worker
machine can grade any exercise; each worker keeps its own copy under the data root
(workers.sandbox.config.data_root):

    blobs/<sha256>                 every file once, read-only; never mounted
    sets/<digest>/data/<name>      a key's visible files (hard links to the blobs),
                                   mounted read-only in the sandbox at /sandbox/data

A job's child works in its set's directory, so "data/train.csv" opens the file. Hidden
files stay in blobs/ and reach only the set-ups, as descriptors (SandboxData.hidden).
Everything is written to a temporary name and renamed, so a crash half-way leaves
nothing another worker process would use.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from questions.exercises import DataFileSpec
from questions.models import DataBlob
from workers.sandbox.config import data_root
from workers.sandbox.launch import data_sets
from workers.sandbox.protocol import SandboxData, SandboxUnavailable


def data_set_prepare(*, files: Sequence[DataFileSpec]) -> SandboxData | None:
    """The key's data as a job names it; None for an exercise without data files.
    Raises SandboxUnavailable when a file's bytes are not in the database (a grader
    failure: the job is retried, never failed against the student)."""
    if not files:
        return None
    blobs = {file.sha256: _blob_path(sha256=file.sha256, content=file.content) for file in files}
    visible = sorted((file.name, file.sha256) for file in files if not file.hidden)
    digest = hashlib.sha256(repr(visible).encode()).hexdigest()
    directory = data_sets() / digest
    if not directory.is_dir():
        _set_create(directory=directory, files=[(name, blobs[sha256]) for name, sha256 in visible])
    hidden = tuple((file.name, str(blobs[file.sha256])) for file in files if file.hidden)
    return SandboxData(directory=digest, hidden=hidden)


def _blob_path(*, sha256: str, content: bytes | None = None) -> Path:
    """The blob's file, written from `content` (a spec read from files) or the database."""
    blobs = data_root() / "blobs"
    path = blobs / sha256
    if path.is_file():
        return path
    if content is None:
        stored = DataBlob.objects.filter(sha256=sha256).values_list("content", flat=True).first()
        if stored is None:
            raise SandboxUnavailable(f"the data file with sha256 {sha256} is not in the database")
        content = bytes(stored)
    if hashlib.sha256(content).hexdigest() != sha256:
        raise SandboxUnavailable(f"the stored data file {sha256} does not match its sha256")
    blobs.mkdir(parents=True, exist_ok=True)
    _write_atomically(path=path, content=content)
    return path


def _write_atomically(*, path: Path, content: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o444)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _set_create(*, directory: Path, files: list[tuple[str, Path]]) -> None:
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=".incoming-"))
    try:
        (staging / "data").mkdir()
        for name, blob in files:
            target = staging / "data" / name
            try:
                os.link(blob, target)
            except OSError:  # another file system: a copy then
                target.write_bytes(blob.read_bytes())
                os.chmod(target, 0o444)
        # Read-only for all: the sandbox's uid is not the worker's outside the namespace.
        os.chmod(staging / "data", 0o555)  # noqa: S103
        os.chmod(staging, 0o555)  # noqa: S103
        try:
            os.rename(staging, directory)
        except OSError:
            if not directory.is_dir():
                raise
            _remove(staging)  # another process made the same set first
    except BaseException:
        _remove(staging)
        raise


def _remove(path: Path) -> None:
    for root, _dirs, _names in os.walk(path):  # parents first: each made writable before its entries go
        with contextlib.suppress(OSError):
            os.chmod(root, 0o755)  # noqa: S103 - only to remove it
    shutil.rmtree(path, ignore_errors=True)
