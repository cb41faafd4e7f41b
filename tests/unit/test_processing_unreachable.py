"""A processing attempt rides out an AWS endpoint that does not answer its stop checks.

The executor reads the job once a second while its containers run, to see
whether a stop was asked for. A read the endpoint does not answer must not end
the attempt: that kills the containers and leaves the task to be retried,
which runs the job again. Here the first reads get no answer while the
container runs; the job completes, its container started once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from botocore.exceptions import EndpointConnectionError

from services.core.settings import Settings
from services.core.store import DocumentStore, MemoryBackend
from services.processing.executor import ProcessingJobExecutor
from services.processing.models import CreateProcessingJobRequest, ProcessingJob, ProcessingJobStatus
from services.processing.service import ProcessingService
from services.runners.base import Runner, RunningContainer, RunSpec
from tests.unit.test_final_sync import QuietLogs, RefusingS3
from tests.unit.test_training_service import Clock, Recorder


class RunsUntilReleased(RunningContainer):
    """Runs until ``released`` is set, then exits 0; ends at once when terminated or killed."""

    def __init__(self, released: asyncio.Event) -> None:
        self.released = released

    @property
    def ident(self) -> str:
        return "stand-in"

    async def lines(self) -> AsyncIterator[str]:
        await self.released.wait()
        yield "done"

    async def wait(self) -> int:
        await self.released.wait()
        return 0

    async def terminate(self) -> None:
        self.released.set()

    async def kill(self) -> None:
        self.released.set()


class CountingRunner(Runner):
    def __init__(self, released: asyncio.Event) -> None:
        super().__init__()
        self.released = released
        self.started = 0

    async def start(self, spec: RunSpec) -> RunningContainer:
        self.started += 1
        return RunsUntilReleased(self.released)


class AwayDuringTheRun(ProcessingService):
    """The first ``away`` reads after the containers start get no answer; the next releases the container."""

    def __init__(self, *args: object, away: int, released: asyncio.Event, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.away, self.released, self.reads, self.running = away, released, 0, False

    async def describe_processing_job(self, name: str) -> ProcessingJob:
        if self.running:
            self.reads += 1
            if self.reads <= self.away:
                raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")
            self.released.set()
        return await super().describe_processing_job(name)


async def test_stop_checks_that_get_no_answer_do_not_end_the_attempt(tmp_path: Path) -> None:
    rec = Recorder()
    released = asyncio.Event()
    service = AwayDuringTheRun(DocumentStore(MemoryBackend(), "processing-jobs", ProcessingJob, "Processing job"),
                               rec, rec, region="us-east-1", account_id="123456789012", clock=Clock(),
                               away=2, released=released)
    await service.create_processing_job(CreateProcessingJobRequest.model_validate({
        "ProcessingJobName": "dark", "RoleArn": "arn:aws:iam::123456789012:role/r",
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": "headwater/sklearn", "ContainerEntrypoint": ["python3", "-c", "pass"]},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}}))
    runner = CountingRunner(released)
    executor = ProcessingJobExecutor(Settings(state_dir=tmp_path, stop_grace_seconds=1), service,
                                     RefusingS3(("none", "none/")), QuietLogs(), runner)  # type: ignore[arg-type]
    original_start = runner.start

    async def start(spec: RunSpec) -> RunningContainer:
        service.running = True  # from here on, reads are the attempt's stop checks
        return await original_start(spec)

    runner.start = start  # type: ignore[method-assign]

    job = await executor.execute("dark")

    assert job.processing_job_status is ProcessingJobStatus.COMPLETED, job.failure_reason
    assert runner.started == 1 and service.reads == 3
