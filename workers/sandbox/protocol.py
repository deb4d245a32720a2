"""What the trusted side asks of the sandbox and what it gets back.

Plain, frozen data on both sides of the boundary. A `SandboxJob` is everything a child
in the sandbox may see: the student's code, the check set-ups (instructor code that
builds inputs, run *before* the student's code) and the expressions to evaluate. It
never holds expected values: those stay on the trusted side, which compares the decoded
outcomes in `grader.checks`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, kw_only=True)
class Limits:
    wall_seconds: float = 5.0
    cpu_seconds: int = 5
    # Memory the child may use beyond what it shares with its environment's zygote
    # (resident anonymous memory, measured by the host); not address space.
    memory_bytes: int = 512 * 1024 * 1024
    # What the student's print() and tracebacks may fill; more ends the run.
    output_bytes: int = 1024 * 1024
    # Output kept for the student to read (the rest is cut with a note).
    output_kept_bytes: int = 64 * 1024
    # Everything the child may send back as results, all calls together.
    result_bytes: int = 8 * 1024 * 1024
    file_bytes: int = 1024 * 1024
    open_files: int = 64


@dataclass(frozen=True, kw_only=True)
class SandboxCall:
    """One evaluation in the child, in the order given.

    `setup` is a block of Python run in a fresh namespace holding `np` (numpy) and
    `rng` (`np.random.default_rng(seed)`), before any student code runs; the names it
    binds are the call's inputs. `expr` is then evaluated in the student's module
    namespace overlaid with those inputs; its value is the call's result.
    """

    id: str
    expr: str
    setup: str = ""
    seed: int = 0
    # Send back the value of each of these inputs before and after the call. The trusted
    # side compares the values after the call with the inputs as the reference's run
    # saw them (the student's own "before" is never believed).
    track: tuple[str, ...] = ()
    # Plain data bound as inputs after the setup (a float or an array): how a metric
    # receives the `result` the student's call returned, in a run without student code.
    bind: dict[str, float | np.ndarray] = field(default_factory=dict)
    # Gradient checks: after `expr`, evaluate `fd_of` with the input named `fd_wrt`
    # replaced by copies perturbed by +fd_step and -fd_step along each coordinate in
    # turn; the values come back in `CallOutcome.fd_values` as [f(w+h e0), f(w-h e0),
    # f(w+h e1), ...]. The trusted side does the differencing.
    fd_of: str | None = None
    fd_wrt: str | None = None
    fd_step: float = 1e-5


@dataclass(frozen=True, kw_only=True)
class SandboxData:
    """An exercise's data files as a job sees them (materialized by grader.data_files).

    `directory` names a prepared directory under the data root's sets/ (by digest) that
    holds data/<name> for each visible file: the child's working directory, so that
    set-ups and student code open "data/train.csv". `hidden` are (name, host path) of the
    files only set-ups may read: the host opens them and hands the child their
    descriptors, which it closes before the student's code loads."""

    directory: str
    hidden: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class SandboxJob:
    code: str
    # Names the student must define (callables); missing ones are reported, not run.
    entry_points: tuple[str, ...]
    calls: tuple[SandboxCall, ...]
    limits: Limits = field(default_factory=Limits)
    # A notebook's code cells, as the 1-based line of `code` each one starts on, in order
    # (empty: `code` is one module). Each cell then runs on its own, as in a kernel: one
    # that raises is reported and the next cell still runs.
    cell_starts: tuple[int, ...] = ()
    data: SandboxData | None = None


@dataclass(frozen=True, kw_only=True)
class StudentError:
    """An exception raised by student (or set-up) code, as a student should read it."""

    type: str  # "SyntaxError", "ZeroDivisionError", ...
    message: str  # str(exc), cut to a few hundred characters
    line: int | None = None  # line in the student's code, when known
    # Raised by a check's set-up (instructor code, run before the student's): a grader
    # configuration error, not the student's.
    in_setup: bool = False


@dataclass(frozen=True, kw_only=True)
class NotNumeric:
    """The call returned something that is not plain numeric data."""

    type_name: str  # e.g. "str", "NoneType", "dict", "MyArraySubclass"


# A decoded result: a Python float (from any real scalar: int, float, numpy scalar,
# 0-d array; bool counts as not numeric), an exact `np.ndarray` of a numeric dtype
# (bool, int*, uint*, float16/32/64) decoded from bytes by the trusted side, or
# NotNumeric. Complex numbers, object arrays and subclasses never decode as numbers.
Value = float | np.ndarray | NotNumeric


@dataclass(frozen=True, kw_only=True)
class CallOutcome:
    id: str
    value: Value | None = None  # None when error is set
    error: StudentError | None = None
    # Set only for calls with `track`: name -> the input's value, before and after the
    # call (a list arrives as an array; anything that is not numeric as NotNumeric).
    inputs_before: dict[str, Value] = field(default_factory=dict)
    inputs_after: dict[str, Value] = field(default_factory=dict)
    # Set only for calls with `fd_of`: the perturbed function values, as plain floats.
    fd_values: tuple[float, ...] = ()
    # Measured on the trusted side from the arrival of the previous frame (or of the
    # module-ready frame for the first call): the child cannot shorten it.
    seconds: float = 0.0


class Termination(enum.StrEnum):
    COMPLETED = "completed"  # every call answered, child exited or was reaped
    TIME_LIMIT = "time_limit"  # wall-clock deadline hit, or CPU limit (SIGXCPU/SIGKILL)
    MEMORY_LIMIT = "memory_limit"  # used more than the limit (measured by the host), or MemoryError
    OUTPUT_LIMIT = "output_limit"  # stdout/stderr exceeded Limits.output_bytes
    RESULT_LIMIT = "result_limit"  # results exceeded Limits.result_bytes
    CRASHED = "crashed"  # died by a signal (SIGSEGV, SIGABRT, ...) or exited early
    PROTOCOL = "protocol"  # the child sent frames the trusted side cannot accept


@dataclass(frozen=True, kw_only=True)
class SandboxRun:
    # Set when the student's module failed to run at all (SyntaxError, an exception at
    # import time, MemoryError); then `calls` is empty.
    module_error: StudentError | None = None
    # Entry points the module did not define as callables; calls are still attempted.
    missing: tuple[str, ...] = ()
    # Notebooks: the cells that raised, by index into `SandboxJob.cell_starts`.
    cell_errors: dict[int, StudentError] = field(default_factory=dict)
    # Where each entry point's code starts (line of `code`), as the child reports it: for
    # feedback that names a notebook's cell, never for scoring.
    defined_at: dict[str, int] = field(default_factory=dict)
    # Outcomes of the calls that finished, by call id. A call absent here did not
    # finish: `termination` says why.
    calls: dict[str, CallOutcome] = field(default_factory=dict)
    termination: Termination = Termination.COMPLETED
    # Human-readable detail for the termination: "SIGSEGV", "exit status 3", the limit.
    termination_detail: str = ""
    output: str = ""  # stdout and stderr interleaved, cut to Limits.output_kept_bytes
    output_truncated: bool = False
    # Where the time went, measured on the trusted side (seconds).
    fork_seconds: float = 0.0  # request to the zygote until the child's first frame
    # Whole run: from the request to the zygote until the last frame when the child ended
    # cleanly (its exit then overlaps what the host does next), else until it was reaped.
    run_seconds: float = 0.0
    # The most memory the child was seen using above what it shared with its zygote
    # (sampled every few ms by the host; 0 where the host cannot see it).
    memory_peak_bytes: int = 0


class SandboxUnavailable(Exception):
    """The grader could not run the job (no zygote, zygote died, broken pipe to it).

    Never the student's fault: the grading job retries with backoff, then ends as an
    `error` that does not count against the student.
    """
