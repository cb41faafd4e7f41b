"""Training job lifecycle in the service (in-memory store, recorded events)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from services.core.exceptions import ResourceInUse, ValidationException
from services.core.store import DocumentStore, MemoryBackend
from services.core.tasks import Task
from services.training.models import CreateTrainingJobRequest, SecondaryStatus, TrainingJob, TrainingJobStatus
from services.training.service import DETAIL_TYPE, TrainingService


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.tasks: list[Task] = []

    async def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
        self.events.append((detail_type, detail))
        return "id"

    async def enqueue(self, task: Task) -> None:
        self.tasks.append(task)


def request(name: str = "job-1", **extra: Any) -> CreateTrainingJobRequest:
    return CreateTrainingJobRequest.model_validate({
        "TrainingJobName": name, "RoleArn": "arn:aws:iam::123456789012:role/r",
        "AlgorithmSpecification": {"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://b/train/"}}}],
        "HyperParameters": {"num_round": "3"}, **extra})


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def svc(rec: Recorder) -> TrainingService:
    store = DocumentStore(MemoryBackend(), "training-jobs", TrainingJob, "Training job")
    return TrainingService(store, rec, rec, region="us-east-1", account_id="123456789012", clock=Clock())  # type: ignore[arg-type]


async def test_create_records_publishes_and_enqueues(svc: TrainingService, rec: Recorder) -> None:
    job = await svc.create_training_job(request("Job-1"))
    assert job.training_job_arn == "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1"
    assert (job.training_job_status, job.secondary_status) == (TrainingJobStatus.IN_PROGRESS, SecondaryStatus.STARTING)
    assert rec.tasks == [Task(name="Job-1")]
    [(dtype, detail)] = rec.events
    assert dtype == DETAIL_TYPE
    assert detail["TrainingJobName"] == "Job-1" and isinstance(detail["CreationTime"], int)  # epoch millis
    with pytest.raises(ResourceInUse):
        await svc.create_training_job(request("Job-1"))
    assert len(rec.tasks) == 1


@pytest.mark.parametrize("extra, message", [
    ({"AlgorithmSpecification": {"TrainingInputMode": "File"}}, "TrainingImage or AlgorithmName"),
    ({"OutputDataConfig": {"S3OutputPath": "http://not-s3"}}, "Invalid S3 URI"),
    ({"InputDataConfig": [{"ChannelName": "a", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/x"}}},
                          {"ChannelName": "a", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/y"}}}]},
     "unique"),
])
async def test_semantic_validation(svc: TrainingService, extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        await svc.create_training_job(request(**extra))


async def test_transitions_close_the_previous_one_and_terminal_is_final(svc: TrainingService, rec: Recorder) -> None:
    await svc.create_training_job(request())
    await svc.transition("job-1", secondary=SecondaryStatus.DOWNLOADING, message="dl",
                         edit=lambda j: setattr(j, "training_start_time", svc.clock()))
    await svc.transition("job-1", secondary=SecondaryStatus.TRAINING, message="train")
    done = await svc.transition("job-1", TrainingJobStatus.COMPLETED, SecondaryStatus.COMPLETED, "ok")
    ts = done.secondary_status_transitions
    assert [t.status for t in ts] == ["Starting", "Downloading", "Training", "Completed"]
    assert all(a.end_time == b.start_time for a, b in zip(ts, ts[1:]))
    assert ts[-1].end_time is not None and done.training_end_time is not None
    assert done.training_time_in_seconds and done.billable_time_in_seconds == done.training_time_in_seconds
    after = await svc.transition("job-1", TrainingJobStatus.FAILED, SecondaryStatus.FAILED, "late")
    assert after.training_job_status is TrainingJobStatus.COMPLETED
    assert [d["SecondaryStatus"] for _, d in rec.events] == ["Starting", "Downloading", "Training", "Completed"]


async def test_stop(svc: TrainingService) -> None:
    await svc.create_training_job(request())
    await svc.stop_training_job("job-1")
    job = await svc.describe_training_job("job-1")
    assert job.training_job_status is TrainingJobStatus.STOPPING and job.headwater.stop_requested
    await svc.stop_training_job("job-1")  # stopping twice is harmless
    await svc.transition("job-1", TrainingJobStatus.STOPPED, SecondaryStatus.STOPPED)
    with pytest.raises(ValidationException, match="status Stopped"):
        await svc.stop_training_job("job-1")


async def test_list_filters_sorts_and_pages(svc: TrainingService) -> None:
    for n in ("b-job", "a-job", "c-other"):
        await svc.create_training_job(request(n))
    await svc.transition("a-job", TrainingJobStatus.FAILED, SecondaryStatus.FAILED)
    page, token = await svc.list_training_jobs(max_results=2)
    assert [j.training_job_name for j in page] == ["b-job", "a-job"] and token
    rest, token2 = await svc.list_training_jobs(max_results=2, next_token=token)
    assert [j.training_job_name for j in rest] == ["c-other"] and token2 is None
    by_name, _ = await svc.list_training_jobs(sort_by="Name", sort_order="Descending")
    assert [j.training_job_name for j in by_name] == ["c-other", "b-job", "a-job"]
    assert [j.training_job_name for j in (await svc.list_training_jobs(name_contains="JOB"))[0]] == ["b-job", "a-job"]
    assert [j.training_job_name for j in (await svc.list_training_jobs(status_equals="Failed"))[0]] == ["a-job"]
    with pytest.raises(ValidationException, match="NextToken"):
        await svc.list_training_jobs(next_token="garbage")


async def test_a_metric_regex_that_cannot_compile_is_refused_at_create(svc: TrainingService) -> None:
    # It used to be accepted and the metric silently never collected.
    spec = {"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=(\S+"}]}
    with pytest.raises(ValidationException, match=r"MetricDefinitions.*loss.*loss=\(\\S\+"):
        await svc.create_training_job(request("bad-regex", AlgorithmSpecification=spec))
