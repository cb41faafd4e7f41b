"""What List*, Describe, a lookup on a miss and CreateModelPackage's lineage cost at 100, 1,000 and 10,000 jobs.

One embedded emulator. Training job documents are seeded straight through the
S3 backend (not through jobs: 10,000 jobs would take an hour), with their
index shards, in three steps: 100, then up to 1,000, then up to 10,000 jobs;
a tenth of them ``Completed`` with a model artifact, the rest ``InProgress``.
At each step a new node's services (training, registry) over the system
bucket answer, ``--repeat`` times each after one call that reads the index:

* ``ListTrainingJobs`` first page (10, newest first), a filtered page
  (``StatusEquals=Completed``), ``NameContains`` (one job's name);
* ``DescribeTrainingJob`` by name, and by a name in other case (a miss: the
  lookup an ARN's lower-cased name needs);
* ``CreateModelPackage`` whose ``ModelDataUrl`` is one job's artifact (the
  lineage lookup finds the job behind it).

Beside them, the baseline: the plain listing of the training jobs' documents
(the ``ListObjectsV2`` walk every ``List*`` made before the index, before any
document read). Printed: p50 per call at each size and the ratio of 10,000
to 100. These machines are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiobotocore.session import get_session  # noqa: E402
from botocore.config import Config  # noqa: E402

from infra.emulator import EmbeddedEmulator  # noqa: E402
from services.aws.s3 import S3Adapter  # noqa: E402
from services.aws.s3_documents import S3Backend  # noqa: E402
from services.core.job_service import ListJobsQuery  # noqa: E402
from services.core.store import DocumentStore  # noqa: E402
from services.registry.models import ModelPackage, ModelPackageGroup  # noqa: E402
from services.registry.service import ModelRegistryService  # noqa: E402
from services.training.models import TrainingJob  # noqa: E402
from services.training.service import TrainingService  # noqa: E402

BUCKET = "bench-system"
CREDS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "us-east-1"}
ACCOUNT = "123456789012"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
SIZES = (100, 1_000, 10_000)


class NoEvents:
    """Publisher and task queue that drop what they get (the bench measures the store)."""

    queue_name = "bench"

    async def publish(self, *_: Any, **__: Any) -> str:
        return "id"

    async def enqueue(self, *_: Any, **__: Any) -> None:
        return None


def _job(i: int) -> TrainingJob:
    name = f"job-{i:05d}"
    when = T0 + timedelta(seconds=i)
    done = i % 10 == 0
    return TrainingJob.model_validate({
        "TrainingJobName": name, "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/{name}",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r",
        "AlgorithmSpecification": {"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://data/out"},
        "InputDataConfig": [{"ChannelName": c, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://data/{c}/{i}/"}}} for c in ("train", "validation")],
        "HyperParameters": {f"hp{k}": str(k * 0.1) for k in range(12)},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "TrainingJobStatus": "Completed" if done else "InProgress",
        "SecondaryStatus": "Completed" if done else "Training",
        "CreationTime": when, "LastModifiedTime": when,
        **({"ModelArtifacts": {"S3ModelArtifacts": _artifact(i)}} if done else {})})


def _artifact(i: int) -> str:
    return f"s3://data/out/job-{i:05d}/output/model.tar.gz"


async def _seed(backend: S3Backend, start: int, stop: int) -> None:
    """Jobs ``start..stop-1``: their documents, then their index entries, as the store would leave them."""
    store = DocumentStore(backend, "training-jobs", TrainingJob, "Training job", TrainingService.summary)
    assert store.index is not None
    jobs = [_job(i) for i in range(start, stop)]
    for at in range(0, len(jobs), 64):
        await asyncio.gather(*(backend.create(store.key(j.training_job_name),
                                              j.model_dump(by_alias=True, exclude_none=True, mode="json"))
                               for j in jobs[at:at + 64]))
    by_shard: dict[str, dict[str, Any]] = {}
    for j in jobs:
        by_shard.setdefault(store.index.shard_key(j.training_job_name), {})[j.training_job_name] = \
            TrainingService.summary(j)
    await asyncio.gather(*(store.index.add_missing(s) for s in by_shard.values()))
    if start == 0:
        await backend.create(f"{store.index.root}built.json", {"built": True})


async def _p50(call: Callable[[], Awaitable[Any]], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        await call()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


async def _measure(backend: S3Backend, size: int, repeat: int) -> dict[str, float]:
    """A new node's services over the bucket: each call's p50 after one call that reads the index."""
    training = TrainingService(
        DocumentStore(backend, "training-jobs", TrainingJob, "Training job", TrainingService.summary),
        NoEvents(), NoEvents(), region="us-east-1", account_id=ACCOUNT)  # type: ignore[arg-type]
    registry = ModelRegistryService(
        DocumentStore(backend, f"groups-{size}", ModelPackageGroup, "Model package group"),
        DocumentStore(backend, f"packages-{size}", ModelPackage, "Model package"), NoEvents(),  # type: ignore[arg-type]
        training.find_generator, region="us-east-1", account_id=ACCOUNT)
    await registry.create_model_package_group({"ModelPackageGroupName": "bench"})
    first_load = time.perf_counter()
    await training.list_jobs(ListJobsQuery(max_results=1))
    first_load = time.perf_counter() - first_load
    probe = size // 2 // 10 * 10  # a Completed job in the middle of the history
    name = f"job-{probe:05d}"

    async def create_package() -> None:
        package = await registry.create_model_package({
            "ModelPackageGroupName": "bench", "InferenceSpecification": {
                "Containers": [{"Image": "headwater/xgboost", "ModelDataUrl": _artifact(probe)}],
                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}})
        assert package.lineage is not None and package.lineage.training_job_name == name

    async def first_page() -> None:
        jobs, token = await training.list_jobs(ListJobsQuery(sort_order="Descending"))
        assert len(jobs) == 10 and token

    async def filtered() -> None:
        jobs, _ = await training.list_jobs(ListJobsQuery(status_equals="Completed", sort_order="Descending"))
        assert len(jobs) == 10 and all(j.training_job_status.value == "Completed" for j in jobs)

    async def name_contains() -> None:
        jobs, _ = await training.list_jobs(ListJobsQuery(name_contains=name.upper()))
        assert [j.training_job_name for j in jobs] == [name]

    async def listing() -> None:
        assert len(await backend.listing("training-jobs/")) == size

    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "baseline: the plain listing (ListObjectsV2 walk)": listing,
        "ListTrainingJobs, first page": first_page,
        "ListTrainingJobs, StatusEquals page": filtered,
        "ListTrainingJobs, NameContains": name_contains,
        "DescribeTrainingJob": lambda: training.describe_training_job(name),
        "lookup by name on a miss (other case)": lambda: training.describe_training_job(name.upper()),
        "CreateModelPackage with lineage": create_package,
    }
    results = {what: await _p50(call, repeat) for what, call in calls.items()}
    results["a new node's first call (reads the index)"] = first_load
    return results


async def run(url: str, repeat: int, sizes: tuple[int, ...]) -> None:
    config = Config(s3={"addressing_style": "path"}, max_pool_connections=64)
    async with get_session().create_client("s3", endpoint_url=url, config=config, **CREDS) as client:
        await client.create_bucket(Bucket=BUCKET)
        backend = S3Backend(S3Adapter(client), BUCKET)
        table: dict[str, dict[int, float]] = {}
        seeded = 0
        for size in sizes:
            t = time.perf_counter()
            await _seed(backend, seeded, size)
            print(f"seeded {size} jobs in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            seeded = size
            for what, seconds in (await _measure(backend, size, repeat)).items():
                table.setdefault(what, {})[size] = seconds

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.node()}: {os.cpu_count()} cores, load average {load:.1f}; p50 of {repeat} calls each")
    head = "".join(f"{f'{s:,} jobs':>13}" for s in sizes)
    print(f"{'call':<50}{head}{f'{sizes[-1]:,}/{sizes[0]:,}':>13}")
    for what, by_size in table.items():
        cells = "".join(f"{by_size[s] * 1000:>10.1f} ms" for s in sizes)
        print(f"{what:<50}{cells}{by_size[sizes[-1]] / by_size[sizes[0]]:>12.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's request log
    emulator = EmbeddedEmulator("127.0.0.1", 0)
    url = emulator.start()
    try:
        asyncio.run(run(url, args.repeat, tuple(sorted(args.sizes))))
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
