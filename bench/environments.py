"""The grading environments in the real sandbox: what each costs once, and per submission.

    .venv/bin/python bench/environments.py [--jobs 200] [--environments numpy,scientific,torch]

Per environment (workers/environments.py; an environment this machine lacks is skipped
with the command that installs it):

1. Zygote start: from starting bwrap to the zygote's first answer (its imports of the
   environment's modules included), median of --starts, and the part the zygote itself
   measured for its imports; its resident memory (VmRSS) and the private part of it
   (RssAnon), read from the host's /proc, with the two spare children it keeps.
2. Sandbox overhead: the wall-clock time of a job whose student code does nothing
   (`def f(): return 1.0`, one call), measured by the host from the request to the zygote
   to the last frame (SandboxRun.run_seconds): median and p95 of --jobs jobs sent one
   after another with a short gap, as a worker receives them.
3. The first import inside a job: the same job with `import torch` (or sklearn, pandas,
   ...) at the top of the student's code, each module the environment preloads: median
   difference from (2). The zygote imported them before forking, so this is the cost of
   a dictionary lookup.

Then the notebook parsing overhead on the trusted side (grader.notebooks): validating and
laying out a 50-cell notebook, median of 200.

The machine and the date are printed first. Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django

django.setup()

from workers.environments import ENVIRONMENTS, environment_problem  # noqa: E402
from workers.sandbox import SandboxConfig, sandbox_run, sandbox_shutdown  # noqa: E402
from workers.sandbox.host import Zygote, read_status, status_kib  # noqa: E402
from workers.sandbox.protocol import Limits, SandboxCall, SandboxJob, Termination  # noqa: E402

LIMITS = Limits(wall_seconds=10.0, cpu_seconds=10, memory_bytes=512 * 1024 * 1024)
NOTHING = "def f():\n    return 1.0\n"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def job(code: str) -> SandboxJob:
    return SandboxJob(code=code, entry_points=("f",), calls=(SandboxCall(id="c", expr="f()"),), limits=LIMITS)


def zygote_start(config: SandboxConfig, environment: str, starts: int) -> None:
    seconds, imports, resident, private, spares = [], [], [], [], []
    for _ in range(starts):
        started = time.perf_counter()
        zygote = Zygote(config, environment)
        seconds.append(time.perf_counter() - started)
        imports.append(float(zygote.info.get("import_seconds", 0.0)))
        if zygote.memory is not None:
            fields = read_status(zygote.memory.zygote) or {}
            resident.append(status_kib(fields, "VmRSS") / 1024)
            private.append(status_kib(fields, "RssAnon") / 1024)
            from workers.sandbox.host import children

            spares.append(
                sum(status_kib(read_status(pid) or {}, "RssAnon") for pid in children(zygote.memory.zygote)) / 1024
            )
        zygote.close()
    print(
        f"  zygote start: {statistics.median(seconds):.2f} s median of {starts} "
        f"(its own imports {statistics.median(imports):.2f} s)"
    )
    if resident:
        print(
            f"  zygote memory: {statistics.median(resident):.0f} MB resident, {statistics.median(private):.0f} MB "
            f"of it private (anonymous); its 2 spares: {statistics.median(spares):.0f} MB anonymous, "
            "shared copy-on-write with the zygote until written"
        )


def jobs_median(environment: str, code: str, count: int, gap: float) -> tuple[float, float]:
    times = []
    for _ in range(count):
        run = sandbox_run(job=job(code), environment=environment)
        if run.termination is not Termination.COMPLETED or run.calls["c"].value != 1.0:
            raise SystemExit(f"{environment}: the job failed: {run.termination} {run.output[-500:]}")
        times.append(run.run_seconds)
        time.sleep(gap)
    return statistics.median(times), percentile(times, 0.95)


def overhead(environment: str, jobs: int, gap: float) -> None:
    sandbox_run(job=job(NOTHING), environment=environment)  # start this process's zygote
    for _ in range(10):
        sandbox_run(job=job(NOTHING), environment=environment)
    median, p95 = jobs_median(environment, NOTHING, jobs, gap)
    print(f"  sandbox overhead (empty job): median {median * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms over {jobs} jobs")
    for module in ENVIRONMENTS[environment].preload:
        if "." in module:
            continue
        with_import, _ = jobs_median(environment, f"import {module}\n" + NOTHING, max(20, jobs // 5), gap)
        print(
            f"  first `import {module}` in a job: {(with_import - median) * 1000:+.2f} ms "
            f"(median {with_import * 1000:.2f} ms)"
        )


def notebook_cell(cell_type: str, source: str, number: int) -> dict[str, object]:
    cell: dict[str, object] = {"cell_type": cell_type, "id": f"cell-{number}", "metadata": {}, "source": source}
    if cell_type == "code":
        cell |= {"execution_count": None, "outputs": []}
    return cell


def notebook_parsing(samples: int) -> None:
    import json

    from grader.notebooks import notebook_code, notebook_validate

    sources = [("markdown", f"## Step {n}\n\nSome text.") for n in range(10)]
    sources += [("code", f"import numpy as np\n\ndef step_{n}(x):\n    return np.mean(x) * {n}\n") for n in range(38)]
    sources += [("code", "%matplotlib inline"), ("code", "!pip list")]
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"language_info": {"name": "python"}},
        "cells": [notebook_cell(kind, text, number) for number, (kind, text) in enumerate(sources)],
    }
    size = len(json.dumps(notebook))
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        validated = notebook_validate(notebook=notebook, max_bytes=2 * 1024 * 1024)
        notebook_code(notebook=validated)
        times.append(time.perf_counter() - started)
    print(
        f"notebook parsing (50 cells, {size // 1024} KB; nbformat validation and cell layout): "
        f"median {statistics.median(times) * 1000:.2f} ms, p95 {percentile(times, 0.95) * 1000:.2f} ms over {samples}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument(
        "--gap-ms", type=float, default=20.0, help="pause between jobs (a worker's idle spares warm up)"
    )
    parser.add_argument("--environments", default=",".join(ENVIRONMENTS))
    args = parser.parse_args()
    config = SandboxConfig.from_env()
    now = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(f"{now}, {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"sandbox: {config.mode}")
    for environment in args.environments.split(","):
        problem = environment_problem(ENVIRONMENTS[environment])
        print(f"{environment}:")
        if problem:
            print(f"  skipped: {problem}")
            continue
        zygote_start(config, environment, args.starts)
        overhead(environment, args.jobs, args.gap_ms / 1000)
        sandbox_shutdown()
    notebook_parsing(200)


if __name__ == "__main__":
    main()
