"""A last upload that fails at a job's end is not swallowed.

SageMaker uploads a training job's checkpoints (``CheckpointConfig``) and a
processing job's ``Continuous`` outputs once more when the job ends; when
that upload fails, the job ends ``Failed`` with a ``FailureReason`` naming
where the files should have gone. Here S3 refuses every put under one
prefix; the containers are stand-ins that write a file and exit 0.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from services.core.settings import Settings
from services.core.store import DocumentStore, MemoryBackend
from services.execution.s3_sync import CheckpointSync
from services.processing.executor import ProcessingJobExecutor
from services.processing.models import CreateProcessingJobRequest, ProcessingJob, ProcessingJobStatus
from services.processing.service import ProcessingService
from services.runners.base import Runner, RunningContainer, RunSpec
from services.training.executor import TrainingJobExecutor
from services.training.models import CreateTrainingJobRequest, TrainingJob, TrainingJobStatus
from services.training.service import TrainingService
from tests.unit.test_training_service import Clock, Recorder

REFUSED = "s3://ckpt-bucket/refused/"


class RefusingS3:
    """An S3 that takes every upload except those under ``refused`` (``bucket``, ``prefix``)."""

    def __init__(self, refused: tuple[str, str]) -> None:
        self.refused = refused
        self.uploaded: list[tuple[str, str]] = []

    async def upload_file(self, path: Path, bucket: str, key: str, content_type: str | None = None) -> None:
        if (bucket, key[:len(self.refused[1])]) == self.refused:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")
        self.uploaded.append((bucket, key))

    async def list_objects(self, bucket: str, prefix: str) -> AsyncIterator[Any]:
        return
        yield  # an async generator with nothing in it: no checkpoints to restore


class QuietLogs:
    async def ensure_stream(self, group: str, stream: str) -> None:
        return None

    async def put(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        return None


class WritesThenExits(RunningContainer):
    """Writes ``relative`` under its ``/opt/ml`` while it runs (not at start), then exits 0."""

    def __init__(self, root: Path, relative: str) -> None:
        self.root, self.relative = root, relative
        self.exited = asyncio.Event()

    @property
    def ident(self) -> str:
        return "stand-in"

    async def lines(self) -> AsyncIterator[str]:
        await self.exited.wait()
        yield "done"

    async def wait(self) -> int:
        await asyncio.sleep(0)  # the platform has begun watching the tree by now
        path = self.root / self.relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"state")
        self.exited.set()
        return 0

    async def terminate(self) -> None:
        return None

    async def kill(self) -> None:
        return None


class StandInRunner(Runner):
    def __init__(self, relative: str) -> None:
        self.relative = relative

    async def start(self, spec: RunSpec) -> RunningContainer:
        return WritesThenExits(spec.ml_root, self.relative)


async def test_a_final_sync_that_cannot_upload_says_how_many_files_it_left(tmp_path: Path,
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "a.ckpt").write_bytes(b"1")
    (tmp_path / "b.ckpt").write_bytes(b"2")
    sync = CheckpointSync(RefusingS3(("ckpt-bucket", "refused/")), REFUSED, tmp_path)  # type: ignore[arg-type]
    done = asyncio.Event()
    done.set()
    with caplog.at_level(logging.ERROR):
        await sync.run(done)
    assert sync.final_failure is not None
    assert sync.final_failure.not_uploaded == 2 and sync.final_failure.s3_uri == REFUSED
    assert "AccessDenied" in str(sync.final_failure)
    assert "2 file(s)" in caplog.text and REFUSED in caplog.text


async def test_a_final_sync_that_uploads_everything_reports_no_failure(tmp_path: Path) -> None:
    (tmp_path / "a.ckpt").write_bytes(b"1")
    s3 = RefusingS3(("other-bucket", "x/"))
    sync = CheckpointSync(s3, REFUSED, tmp_path)  # type: ignore[arg-type]
    done = asyncio.Event()
    done.set()
    await sync.run(done)
    assert sync.final_failure is None and s3.uploaded == [("ckpt-bucket", "refused/a.ckpt")]


async def test_a_training_job_whose_checkpoints_cannot_be_uploaded_fails(tmp_path: Path) -> None:
    rec = Recorder()
    service = TrainingService(DocumentStore(MemoryBackend(), "training-jobs", TrainingJob, "Training job"), rec,
                              rec, region="us-east-1", account_id="123456789012", clock=Clock())  # type: ignore[arg-type]
    await service.create_training_job(CreateTrainingJobRequest.model_validate({
        "TrainingJobName": "ckpt", "RoleArn": "arn:aws:iam::123456789012:role/r",
        "AlgorithmSpecification": {"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://out-bucket/out"},
        "CheckpointConfig": {"S3Uri": REFUSED},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}}))
    s3 = RefusingS3(("ckpt-bucket", "refused/"))
    executor = TrainingJobExecutor(Settings(state_dir=tmp_path, stop_grace_seconds=1), service, s3,  # type: ignore[arg-type]
                                   QuietLogs(), StandInRunner("checkpoints/epoch-1.ckpt"))  # type: ignore[arg-type]

    job = await executor.execute("ckpt")

    assert job.training_job_status is TrainingJobStatus.FAILED
    assert REFUSED in (job.failure_reason or "") and "checkpoint" in (job.failure_reason or "").lower()
    assert ("out-bucket", "out/ckpt/output/model.tar.gz") not in s3.uploaded  # it never reached Uploading


async def test_a_processing_job_whose_continuous_output_cannot_be_uploaded_fails(tmp_path: Path) -> None:
    rec = Recorder()
    service = ProcessingService(DocumentStore(MemoryBackend(), "processing-jobs", ProcessingJob, "Processing job"),
                                rec, rec, region="us-east-1", account_id="123456789012", clock=Clock())  # type: ignore[arg-type]
    await service.create_processing_job(CreateProcessingJobRequest.model_validate({
        "ProcessingJobName": "cont", "RoleArn": "arn:aws:iam::123456789012:role/r",
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": "headwater/sklearn"},
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "progress", "S3Output": {
            "S3Uri": REFUSED, "LocalPath": "/opt/ml/processing/progress", "S3UploadMode": "Continuous"}}]},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}}))
    executor = ProcessingJobExecutor(Settings(state_dir=tmp_path, stop_grace_seconds=1), service,
                                     RefusingS3(("ckpt-bucket", "refused/")), QuietLogs(),  # type: ignore[arg-type]
                                     StandInRunner("processing/progress/part-0.csv"))

    job = await executor.execute("cont")

    assert job.processing_job_status is ProcessingJobStatus.FAILED
    assert REFUSED in (job.failure_reason or "") and "progress" in (job.failure_reason or "")
