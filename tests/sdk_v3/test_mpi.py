"""The SageMaker Python SDK v3's MPI distributed training, unchanged: ``ModelTrainer(compute=Compute(
instance_count=2), distributed=MPI(process_count_per_node=1))`` on the PyTorch image.

v3's MPI driver starts an SSH server on every host (``/usr/sbin/sshd``, port 22), checks its peers with
paramiko by their names (``algo-N``), and on algo-1 runs ``mpirun --host algo-1,algo-2 ... python -m mpi4py
<entry>``, which starts the other hosts' ranks over SSH. Under the process runner each host is then its own
machine as far as the job can tell: its own loopback address, host name, ``/tmp``, ``/etc/environment`` and SSH
configuration, and root's capabilities to bind port 22.
"""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

from infra.demo.datasets import to_csv
from tests.sdk_v3.support import SCRIPTS, run_v3
from tests.support import NodeThread

pytestmark = pytest.mark.sdk

OUTPUT = "s3://headwater-artifacts/sdk-v3-mpi"


def _rows(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    return to_csv(x, x @ np.array([1.0, -2.0, 0.5]))


def test_mpi_runs_one_rank_per_host(node: NodeThread, shell: dict[str, str]) -> None:
    s3 = node.client("s3")
    s3.put_object(Bucket="headwater-data", Key="sdk-v3-mpi/part-0.csv", Body=_rows(30, seed=7))
    s3.put_object(Bucket="headwater-data", Key="sdk-v3-mpi/part-1.csv", Body=_rows(50, seed=8))
    # v3's driver runs `mpirun --host algo-1,algo-2 -np <process_count_per_node>`: -np is the world's size, so
    # one rank per host on two hosts takes `-np 2` among the additional options (mpirun's last -np wins), on
    # SageMaker as here.
    spec = {"output": OUTPUT, "framework": "pytorch", "source_dir": str(SCRIPTS / "mpi_code"),
            "entry_script": "train_mpi.py", "instance_count": 2, "distributed": "mpi", "mpi_options": ["-np", "2"],
            "sharded": True,
            "train": "s3://headwater-data/sdk-v3-mpi/", "base_job_name": "v3-mpi"}
    run = run_v3("train_script_mode", shell, json.dumps(spec), timeout=300)
    result = run.result
    assert result["status"] == "Completed", result
    logs = {host: (node.settings.jobs_dir / result["job"] / f"{host}.log").read_text()
            for host in ("algo-1", "algo-2")}
    assert "Running MPI Driver" in logs["algo-1"] and "Running MPI Driver" in logs["algo-2"]
    # algo-1 ran mpirun over both hosts; its log holds every rank's output (mpirun's --tag-output).
    assert "mpirun --host algo-1,algo-2 -np 1" in logs["algo-1"]
    assert "rank 0 of 2 on algo-1: 30 rows, 80 in all" in logs["algo-1"]
    assert "rank 1 of 2 on algo-2: 50 rows, 80 in all" in logs["algo-1"]
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket="headwater-artifacts", Key=result["artifact"].split(
            "headwater-artifacts/", 1)[1])["Body"].read()), mode="r:gz") as tar:
        member = tar.extractfile("result.json")
        assert member is not None
        model = json.loads(member.read())
    # Rank 1 ran on algo-2 (its shard, its host name): each host is its own machine to the job.
    assert model.pop("library").startswith("Open MPI")  # the machine's MPI, through the image's mpi4py
    assert model == {"world": 2, "hosts": ["algo-1/algo-1", "algo-2/algo-2"], "mpi_total": 80, "torch_total": 80.0}
