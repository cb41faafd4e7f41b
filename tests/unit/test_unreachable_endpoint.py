"""A training attempt whose containers have ended waits out an AWS endpoint that does not answer.

Giving up on recording the outcome would leave the task to be retried, and the
retry runs the job again from the start. Here S3 does not answer the model
upload for a while: the job still completes, uploading once; and an endpoint
that stays away past the grace still ends the attempt with its error. The
container is a stand-in that writes its model and exits 0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from services.core.settings import Settings
from services.core.store import DocumentStore, MemoryBackend
from services.training.executor import TrainingJobExecutor
from services.training.models import CreateTrainingJobRequest, SecondaryStatus, TrainingJob, TrainingJobStatus
from services.training.service import TrainingService
from tests.unit.test_final_sync import QuietLogs, StandInRunner
from tests.unit.test_training_service import Clock, Recorder


class AwayS3:
    """An S3 endpoint that does not answer the first ``away`` uploads (as botocore reports a refused
    connection), then takes them."""

    def __init__(self, away: int) -> None:
        self.away = away
        self.unanswered = 0
        self.uploaded: list[tuple[str, str]] = []

    async def upload_file(self, path: Path, bucket: str, key: str, content_type: str | None = None) -> None:
        if self.unanswered < self.away:
            self.unanswered += 1
            raise EndpointConnectionError(endpoint_url=f"http://127.0.0.1:1/{bucket}/{key}")
        self.uploaded.append((bucket, key))

    async def list_objects(self, bucket: str, prefix: str) -> AsyncIterator[Any]:
        return
        yield  # nothing to restore


async def _job(tmp_path: Path, s3: AwayS3) -> tuple[TrainingService, TrainingJobExecutor]:
    rec = Recorder()
    service = TrainingService(DocumentStore(MemoryBackend(), "training-jobs", TrainingJob, "Training job"), rec,
                              rec, region="us-east-1", account_id="123456789012", clock=Clock())  # type: ignore[arg-type]
    await service.create_training_job(CreateTrainingJobRequest.model_validate({
        "TrainingJobName": "away", "RoleArn": "arn:aws:iam::123456789012:role/r",
        "AlgorithmSpecification": {"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://out-bucket/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}}))
    executor = TrainingJobExecutor(Settings(state_dir=tmp_path, stop_grace_seconds=1), service, s3,  # type: ignore[arg-type]
                                   QuietLogs(), StandInRunner("model/model.txt"))  # type: ignore[arg-type]
    executor.unreachable_retry_seconds = 0.01
    return service, executor


async def test_a_model_upload_the_endpoint_does_not_answer_for_a_while_completes_the_job_once(
        tmp_path: Path) -> None:
    s3 = AwayS3(away=3)
    service, executor = await _job(tmp_path, s3)

    job = await executor.execute("away")

    assert job.training_job_status is TrainingJobStatus.COMPLETED
    assert s3.unanswered == 3 and s3.uploaded == [("out-bucket", "out/away/output/model.tar.gz")]
    statuses = [t.status for t in job.secondary_status_transitions]
    assert statuses.count(SecondaryStatus.TRAINING) == 1 and statuses.count(SecondaryStatus.UPLOADING) == 1


async def test_an_endpoint_away_past_the_grace_ends_the_attempt_with_its_error(tmp_path: Path) -> None:
    s3 = AwayS3(away=10**6)
    service, executor = await _job(tmp_path, s3)
    executor.unreachable_grace_seconds = 0.05

    with pytest.raises(EndpointConnectionError):
        await executor.execute("away")

    job = await service.describe_training_job("away")
    assert job.training_job_status is TrainingJobStatus.IN_PROGRESS  # the task's retry takes it from here
    assert s3.unanswered > 1 and not s3.uploaded
