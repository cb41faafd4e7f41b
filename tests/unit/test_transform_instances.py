"""A transform job whose instances do not all start leaves none running."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from services.core.exceptions import JobFailed
from services.core.settings import Settings
from services.core.times import utcnow
from services.transform.executor import TransformJobExecutor
from services.transform.models import TransformJob


class FakeInstance:
    def __init__(self, n: int) -> None:
        self.n = n
        self.stopped = False

    async def stop(self, grace: float) -> None:
        self.stopped = True


def _job(count: int) -> TransformJob:
    now = utcnow()
    return TransformJob(
        TransformJobName="three", ModelName="m", TransformJobArn="arn:aws:sagemaker:::transform-job/three",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://in/x/"}}},
        TransformOutput={"S3OutputPath": "s3://out/x"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": count},
        CreationTime=now, LastModifiedTime=now)


async def test_instances_that_started_are_stopped_when_another_cannot_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[FakeInstance] = []
    third_may_finish = asyncio.Event()

    async def instance(self: Any, job: TransformJob, model: Any, n: int, env: dict[str, str],
                       session: Any) -> FakeInstance:
        if n == 1:
            raise JobFailed("ClientError: the second instance's container exited before its health check")
        if n == 2:
            await third_may_finish.wait()  # still starting when the second one fails
        started.append(FakeInstance(n))
        return started[-1]

    async def describe_model(name: str) -> Any:
        return None

    monkeypatch.setattr(TransformJobExecutor, "_instance", instance)
    executor = TransformJobExecutor(Settings(state_dir=tmp_path), None, describe_model, None, None,  # type: ignore[arg-type]
                                    None)
    starting = asyncio.create_task(executor._start(_job(3), None))  # type: ignore[arg-type]
    while not started:
        await asyncio.sleep(0)
    third_may_finish.set()
    with pytest.raises(JobFailed, match="second instance"):
        await starting
    assert sorted(i.n for i in started) == [0, 2] and all(i.stopped for i in started)
