"""The grading environments (workers/environments.py) in the real sandbox: what each one
preloads, memory limits that count use rather than address space, PyTorch tensors
crossing as plain arrays, and the failures an operator must be able to read."""

from __future__ import annotations

import numpy as np
import pytest

from tests.sandbox.hostile_cases import LIMITS
from workers.environments import ENVIRONMENTS, environment_packages
from workers.sandbox import SandboxConfig, sandbox_check, sandbox_run
from workers.sandbox.protocol import Limits, NotNumeric, SandboxCall, SandboxJob, SandboxUnavailable, Termination

GIB = 1024**3
MIB = 1024**2


def one_call(code: str, expr: str, *, limits: Limits = LIMITS, setup: str = "") -> SandboxJob:
    return SandboxJob(code=code, entry_points=(), calls=(SandboxCall(id="c", expr=expr, setup=setup),), limits=limits)


def test_every_environment_preloads_its_modules_before_the_students_code(bwrap_config, environment):
    preload = ENVIRONMENTS[environment].preload
    code = "import sys\nLOADED = [name for name in " + repr(list(preload)) + " if name in sys.modules]\n"
    run = sandbox_run(job=one_call(code, "float(len(LOADED))"), config=bwrap_config, environment=environment)
    assert run.termination is Termination.COMPLETED, run.termination_detail
    # Imported in the zygote: the student's `import torch` is a dictionary lookup.
    assert run.calls["c"].value == float(len(preload))


def test_the_zygote_reports_what_it_loaded(bwrap_config, environment):
    info = sandbox_check(bwrap_config, environment=environment)
    pinned = dict(environment_packages(ENVIRONMENTS[environment]))
    assert info["numpy"] == pinned["numpy"]
    if environment == "torch":
        assert str(info["modules"]["torch"]).startswith(pinned["torch"])  # "2.13.0+cpu"


def test_memory_reserved_but_not_used_does_not_count(bwrap_config, environment):
    # 800 MB of address space under a 512 MB limit, of which 8 MB is touched; held for
    # 100 ms, so that the host's samples (every 10 ms) see it.
    code = "import time\nimport numpy as np\nbig = np.empty(100_000_000)\nbig[:1_000_000] = 1.0\ntime.sleep(0.1)\n"
    run = sandbox_run(job=one_call(code, "float(big[:1_000_000].sum())"), config=bwrap_config, environment=environment)
    assert run.termination is Termination.COMPLETED, run.termination_detail
    assert run.calls["c"].value == 1_000_000.0
    assert 8 * MIB <= run.memory_peak_bytes < 100 * MIB


def test_memory_used_past_the_limit_ends_the_run_in_every_environment(bwrap_config, environment):
    code = "import numpy as np\nbig = np.ones(100_000_000)\n"  # 800 MB, every page written
    limits = Limits(wall_seconds=10.0, cpu_seconds=10, memory_bytes=512 * MIB)  # the memory must run out first
    run = sandbox_run(job=one_call(code, "1.0", limits=limits), config=bwrap_config, environment=environment)
    assert run.termination is Termination.MEMORY_LIMIT
    assert run.termination_detail == "memory limit of 512 MB exceeded"
    assert "c" not in run.calls


TRAINING_LOOP = """
import torch

def train():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    X = torch.randn(2000, 20)
    y = (X[:, :1] > 0).float()
    for _ in range(100):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X), y)
        loss.backward()
        optimizer.step()
    return loss.detach()
"""


def test_a_pytorch_training_loop_runs_within_one_gigabyte(bwrap_config):
    limits = Limits(wall_seconds=10.0, cpu_seconds=10, memory_bytes=GIB)
    run = sandbox_run(job=one_call(TRAINING_LOOP, "train()", limits=limits), config=bwrap_config, environment="torch")
    assert run.termination is Termination.COMPLETED, (run.termination_detail, run.output)
    loss = run.calls["c"].value
    assert isinstance(loss, float)
    assert 0.0 <= loss < 0.2  # it learned the sign of the first feature


def test_tensors_cross_as_plain_arrays(bwrap_config):
    code = "import torch\nclass Mine(torch.Tensor):\n    pass\nw = torch.arange(3.0, requires_grad=True)\n"
    calls = (
        SandboxCall(id="vector", expr="torch.arange(4, dtype=torch.float32) * 0.5"),
        SandboxCall(id="scalar", expr="torch.tensor(2.5, dtype=torch.float64)"),
        SandboxCall(id="with_grad", expr="w * 2"),
        SandboxCall(id="parameter", expr="torch.nn.Parameter(torch.ones(2))"),
        SandboxCall(id="bfloat16", expr="torch.ones(2, dtype=torch.bfloat16)"),
        SandboxCall(id="subclass", expr="torch.ones(2).as_subclass(Mine)"),
    )
    job = SandboxJob(code=code, entry_points=(), calls=calls, limits=LIMITS)
    run = sandbox_run(job=job, config=bwrap_config, environment="torch")
    assert run.termination is Termination.COMPLETED, run.output
    vector = run.calls["vector"].value
    assert type(vector) is np.ndarray
    assert vector.dtype == np.float32
    np.testing.assert_array_equal(vector, [0.0, 0.5, 1.0, 1.5])
    assert run.calls["scalar"].value == 2.5
    np.testing.assert_array_equal(run.calls["with_grad"].value, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(run.calls["parameter"].value, [1.0, 1.0])
    assert run.calls["bfloat16"].value == NotNumeric(type_name="Tensor")  # numpy has no bfloat16
    assert run.calls["subclass"].value == NotNumeric(type_name="Mine")


@pytest.mark.parametrize(
    "code",
    [
        "def go():\n"
        "    torch.set_num_threads(4)\n"
        "    return float((torch.randn(256, 256) @ torch.randn(256, 256)).sum())\n",
        "from torch.utils.data import DataLoader, TensorDataset\n"
        "def go():\n"
        "    loader = DataLoader(TensorDataset(torch.ones(8, 2)), batch_size=2, num_workers=2)\n"
        "    return float(sum(batch[0].sum() for batch in loader))\n",
    ],
    ids=["intra_op_threads", "data_loader_workers"],
)
def test_pytorch_gets_no_threads_nor_processes(bwrap_config, code):
    """clone() stays denied in the student's child: a thread pool cannot start, a data
    loader cannot fork its workers. The run fails (the student reads why), nothing runs."""
    run = sandbox_run(job=one_call("import torch\n" + code, "go()"), config=bwrap_config, environment="torch")
    outcome = run.calls.get("c")
    assert outcome is None or outcome.error is not None, outcome
    after = sandbox_run(
        job=one_call("import torch\n", "float(torch.ones(3).sum())"), config=bwrap_config, environment="torch"
    )
    assert after.calls["c"].value == 3.0


def test_scikit_learn_and_matplotlib_work_on_one_thread_without_a_display(bwrap_config):
    code = (
        "import io\n"
        "import numpy as np\n"
        "import matplotlib.pyplot as plt\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "from sklearn.metrics import log_loss\n"
        "def go():\n"
        "    rng = np.random.default_rng(0)\n"
        "    X = rng.normal(size=(300, 4)); y = (X[:, 0] > 0).astype(int)\n"
        "    model = RandomForestClassifier(n_estimators=20, n_jobs=-1, random_state=0).fit(X, y)\n"
        "    plt.plot(model.predict_proba(X)[:, 1]); figure = io.BytesIO(); plt.savefig(figure, format='png')\n"
        "    assert figure.getvalue()[:4] == b'\\x89PNG'\n"
        "    return log_loss(y, model.predict_proba(X))\n"
    )
    limits = Limits(wall_seconds=10.0, cpu_seconds=10, memory_bytes=512 * MIB)
    run = sandbox_run(job=one_call(code, "go()", limits=limits), config=bwrap_config, environment="scientific")
    assert run.termination is Termination.COMPLETED, run.output
    assert run.calls["c"].error is None, (run.calls["c"].error, run.output)
    assert 0.0 < run.calls["c"].value < 0.3


def test_an_unknown_environment_is_a_grader_error(bwrap_config: SandboxConfig):
    with pytest.raises(SandboxUnavailable, match="unknown environment 'tensorflow'"):
        sandbox_run(job=one_call("", "1.0"), config=bwrap_config, environment="tensorflow")


def test_an_environment_this_machine_lacks_says_how_to_install_it(bwrap_config, monkeypatch, tmp_path):
    from workers.sandbox import launch

    monkeypatch.setenv("GRADER_ENVIRONMENTS_DIR", str(tmp_path))
    launch.site_trees.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match=r"not installed on this machine .*make env ENV=torch"):
            sandbox_check(bwrap_config, environment="torch")
    finally:
        launch.site_trees.cache_clear()


def test_pandas_reads_csv_and_parquet_on_one_thread(bwrap_config):
    code = (
        "import io\n"
        "import pandas as pd\n"
        "def go():\n"
        "    frame = pd.read_csv(io.StringIO('label,score\\ncat,0.25\\ndog,0.75\\n'))\n"
        "    buffer = io.BytesIO()\n"
        "    frame.to_parquet(buffer)\n"
        "    again = pd.read_parquet(io.BytesIO(buffer.getvalue()))\n"
        "    return float(again['score'].sum()) + len(again['label'].str.upper().iloc[1])\n"
    )
    limits = Limits(wall_seconds=10.0, cpu_seconds=10, memory_bytes=512 * MIB)
    run = sandbox_run(job=one_call(code, "go()", limits=limits), config=bwrap_config, environment="scientific")
    assert run.termination is Termination.COMPLETED, run.output
    assert run.calls["c"].value == 4.0, (run.calls["c"].error, run.output)
