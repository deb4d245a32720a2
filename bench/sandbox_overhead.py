"""What the sandbox costs above the student's own compute, for small inputs.

    .venv/bin/python bench/sandbox_overhead.py [--jobs 500] [--gap-ms 20] [--mode bubblewrap]

The baseline runs the same set-ups, student module and calls in this process with plain
numpy; the overhead of a job is its sandbox_run time minus that compute. Measured twice:
jobs back to back, and with an idle gap between jobs (a worker between grading tasks does
database work; the zygote uses such gaps to pre-fork and warm its next child). Also prints
the cost of a bare fork of a numpy-loaded process (the floor), of the zygote's fork as the
host sees it, of installing the seccomp filters, and of starting a zygote.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import numpy as np  # noqa: E402

from workers.sandbox import SandboxConfig, SandboxMode, runtime, sandbox_run, sandbox_shutdown  # noqa: E402
from workers.sandbox.protocol import Limits, SandboxCall, SandboxJob, Termination  # noqa: E402

STUDENT = """\
import numpy as np

def bce(y, p, eps=1e-12):
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

def bce_grad(y, p, eps=1e-12):
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return (p - y) / (p * (1 - p)) / len(y)
"""
CALLS = (
    SandboxCall(id="small", setup="y = np.array([0.0, 1.0, 1.0])\np = np.array([0.2, 0.7, 0.9])", expr="bce(y, p)"),
    SandboxCall(id="list", setup="y = [0, 1, 1, 0]\np = [0.1, 0.8, 0.6, 0.3]", expr="bce(y, p)"),
    SandboxCall(
        id="random",
        seed=3,
        setup="y = rng.integers(0, 2, size=100).astype(float)\np = rng.uniform(0.01, 0.99, size=100)",
        expr="bce_grad(y, p)",
        track=("p",),
    ),
)
JOB = SandboxJob(code=STUDENT, entry_points=("bce", "bce_grad"), calls=CALLS, limits=Limits())


def in_process_compute() -> float:
    """The same work without a sandbox: set-ups, the module, the calls."""
    started = time.perf_counter()
    namespaces = []
    for call in CALLS:
        namespace = {"np": np, "rng": np.random.default_rng(call.seed)}
        exec(compile(call.setup, "<setup>", "exec"), namespace)  # noqa: S102 - the benchmark's own code
        namespaces.append(namespace)
    module: dict[str, object] = {"__name__": "submission"}
    exec(compile(STUDENT, "submission.py", "exec"), module)  # noqa: S102
    for call, inputs in zip(CALLS, namespaces, strict=True):
        eval(compile(call.expr, "<check>", "eval"), {**module, **inputs})  # noqa: S307
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.3f} ms"


def measure(config: SandboxConfig, jobs: int, gap: float) -> None:
    totals, overheads, forks = [], [], []
    for _ in range(20):  # warm-up: the zygote, its spares, this process's caches
        sandbox_run(job=JOB, config=config)
    for _ in range(jobs):
        if gap:
            time.sleep(gap)
        compute = in_process_compute()
        started = time.perf_counter()
        run = sandbox_run(job=JOB, config=config)
        total = time.perf_counter() - started
        if run.termination is not Termination.COMPLETED or len(run.calls) != len(CALLS):
            raise SystemExit(f"the benchmark job failed: {run}")
        totals.append(total)
        overheads.append(total - compute)
        forks.append(run.fork_seconds)
    label = "back to back" if not gap else f"{gap * 1000:g} ms idle between jobs"
    print(f"\n{jobs} jobs, {label}")
    print(
        f"  overhead above compute   median {ms(statistics.median(overheads))}   p95 {ms(percentile(overheads, 0.95))}"
    )
    print(f"  whole sandbox_run        median {ms(statistics.median(totals))}   p95 {ms(percentile(totals, 0.95))}")
    print(f"  request -> child ready   median {ms(statistics.median(forks))}   p95 {ms(percentile(forks, 0.95))}")


# Run in a fresh interpreter holding what the zygote holds (numpy, the runtime), not in
# this process (Django, Celery's modules): a fork costs in proportion to the parent.
FLOOR = """
import importlib.util, json, os, sys, time, gc
spec = importlib.util.spec_from_file_location("runtime", sys.argv[1])
runtime = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runtime)
import numpy
lockdown = runtime.Lockdown()
gc.collect()
gc.freeze()
forks, first, second = [], [], []
for _ in range(300):
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    forks.append(time.perf_counter() - started)
for _ in range(100):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        lockdown.set(runtime.PR_SET_DUMPABLE, 0)  # warm the ctypes call path
        t0 = time.perf_counter()
        lockdown.install(0)
        t1 = time.perf_counter()
        lockdown.install(1)
        t2 = time.perf_counter()
        os.write(write_end, json.dumps([t1 - t0, t2 - t1]).encode())
        os._exit(0)
    os.close(write_end)
    a, b = json.loads(os.read(read_end, 100))
    os.close(read_end)
    os.waitpid(pid, 0)
    first.append(a)
    second.append(b)
print(json.dumps({"forks": forks, "first": first, "second": second}))
"""


def floor_costs() -> dict[str, list[float]]:
    """Bare fork+exit+wait of a numpy-loaded interpreter (the floor for any per-job fork)
    and the installation of the two seccomp filters in a fresh child."""
    out = subprocess.run(
        [sys.executable, "-I", "-c", FLOOR, runtime.__file__], capture_output=True, text=True, check=True
    ).stdout
    return dict(json.loads(out))


def zygote_start(config: SandboxConfig, samples: int = 5) -> list[float]:
    times = []
    empty = SandboxJob(code="", entry_points=(), calls=())
    for _ in range(samples):
        sandbox_shutdown()
        started = time.perf_counter()
        sandbox_run(job=empty, config=config)
        times.append(time.perf_counter() - started)
    return times


def cpu_pressure() -> str:
    """The share of time something waited for a CPU: other work on the machine skews timings."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"
    return " ".join(field for field in some.split() if field.startswith(("avg10", "avg60")))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--gap-ms", type=float, default=20.0)
    parser.add_argument("--mode", choices=[mode.value for mode in SandboxMode], default=SandboxMode.BUBBLEWRAP)
    args = parser.parse_args()
    config = SandboxConfig.from_env()
    config = SandboxConfig(mode=SandboxMode(args.mode), bwrap=config.bwrap)
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}"
    )
    print(f"numpy {np.__version__}, mode {config.mode}, bwrap {config.bwrap}")
    print(f"CPU pressure before: {cpu_pressure()}")
    compute = [in_process_compute() for _ in range(200)]
    print(f"\nstudent compute in-process  median {ms(statistics.median(compute))}   (3 calls, small inputs)")
    measure(config, args.jobs, 0.0)
    measure(config, args.jobs, args.gap_ms / 1000)
    floor = floor_costs()
    print(f"\nbare fork+exit+wait, numpy interpreter   median {ms(statistics.median(floor['forks']))}")
    print(f"                                         p95    {ms(percentile(floor['forks'], 0.95))}")
    print(f"seccomp install, large filter (spare)    median {ms(statistics.median(floor['first']))}")
    print(f"seccomp install, small filter (per job)  median {ms(statistics.median(floor['second']))}")
    starts = zygote_start(config)
    print(f"zygote start (bwrap + python + numpy)    median {ms(statistics.median(starts))}")
    sandbox_shutdown()
    print(f"CPU pressure after: {cpu_pressure()}")


if __name__ == "__main__":
    main()
