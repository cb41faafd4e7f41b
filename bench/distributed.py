"""Throughput of one host vs two hosts on the same data (PyTorch DDP over gloo).

Starts one Headwater node in this process (embedded moto, control plane,
worker; free loopback ports, state in a temporary directory), uploads one
dataset (``--files`` CSV files of ``--rows`` rows each) and the training
script ``bench/distributed_train.py`` as ``sourcedir.tar.gz``, then runs the
same PyTorch script-mode job twice, one after the other: with
``InstanceCount=1`` (the host reads every file) and with ``InstanceCount=2``
(``ShardedByS3Key``: each host reads half the files, DDP averages gradients
every step). Printed side by side, with the ratio two/one:

* samples/s: samples trained by all hosts / seconds of rank 0's training loop
  (printed by the script; both measured in the same run);
* job seconds: CreateTrainingJob returned -> Completed (wall clock here).

The jobs run one at a time so they never compete with each other. Nothing
is asserted; the exit status is non-zero only when a job does not complete.
Usage: ``python bench/distributed.py [--files 8] [--rows 4000] [--epochs 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import re
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.node import HeadwaterNode  # noqa: E402
from services.core.settings import Settings  # noqa: E402
from services.training.models import CreateTrainingJobRequest  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "distributed_train.py"
TIMEOUT = 600.0


def _csv(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 32))
    y = X @ rng.normal(size=32) + 0.1 * rng.normal(size=rows)
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, X]), delimiter=",", fmt="%.5f")
    return buf.getvalue().encode()


def _sourcedir() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(SCRIPT, arcname=SCRIPT.name)
    return buf.getvalue()


async def _run_job(node: HeadwaterNode, name: str, hosts: int, epochs: int, settings: Settings) -> dict[str, float]:
    services = node.services
    assert services is not None
    request = CreateTrainingJobRequest.model_validate({
        "TrainingJobName": name, "RoleArn": "arn:aws:iam::123456789012:role/bench",
        "AlgorithmSpecification": {"TrainingImage": "headwater/pytorch", "TrainingInputMode": "File"},
        "HyperParameters": {"sagemaker_program": f'"{SCRIPT.name}"',
                            "sagemaker_submit_directory": f'"s3://{settings.artifacts_bucket}/bench/sourcedir.tar.gz"',
                            "epochs": str(epochs)},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{settings.data_bucket}/bench-distributed/train/",
            "S3DataDistributionType": "ShardedByS3Key"}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{settings.artifacts_bucket}/bench"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": hosts, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": int(TIMEOUT)}})
    started = time.time()
    await services.training.create_training_job(request)
    while True:
        job = await services.training.describe_training_job(name)
        if job.training_job_status.is_terminal:
            break
        if time.time() - started > TIMEOUT:
            raise SystemExit(f"{name} did not finish in {TIMEOUT:.0f} s")
        await asyncio.sleep(0.2)
    wall = time.time() - started
    if job.training_job_status.value != "Completed":
        raise SystemExit(f"{name}: {job.training_job_status.value}: {job.failure_reason}")
    log = (settings.jobs_dir / name / "algo-1.log").read_text()
    throughput = float(re.search(r"throughput ([0-9.]+) samples/s", log).group(1))
    return {"samples_per_s": throughput, "job_seconds": wall}


async def bench(files: int, rows: int, epochs: int) -> int:
    with tempfile.TemporaryDirectory(prefix="headwater-bench-") as state:
        settings = Settings(state_dir=Path(state), emulator_port=0, sagemaker_port=0, runtime_port=0, lambda_port=0,
                            worker_concurrency=1)
        async with HeadwaterNode(settings) as node:
            settings = node.settings
            stop = asyncio.Event()
            serving = asyncio.create_task(node.serve(stop))
            s3 = node.services.s3  # type: ignore[union-attr]
            for i in range(files):
                await s3.put_bytes(settings.data_bucket, f"bench-distributed/train/part-{i:02d}.csv", _csv(rows, i))
            await s3.put_bytes(settings.artifacts_bucket, "bench/sourcedir.tar.gz", _sourcedir())
            one = await _run_job(node, "bench-one-host", 1, epochs, settings)
            two = await _run_job(node, "bench-two-hosts", 2, epochs, settings)
            stop.set()
            await serving
    print(f"data: {files} files x {rows} rows x 32 features, {epochs} epochs, batch 64; machine: {os.cpu_count()} CPUs")
    print(f"{'':<14}{'1 host':>12}{'2 hosts':>12}{'2/1':>8}")
    for key, label in (("samples_per_s", "samples/s"), ("job_seconds", "job seconds")):
        print(f"{label:<14}{one[key]:>12.1f}{two[key]:>12.1f}{two[key] / one[key]:>8.2f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the benchmark."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's access log
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    return asyncio.run(bench(args.files, args.rows, args.epochs))


if __name__ == "__main__":
    sys.exit(main())
