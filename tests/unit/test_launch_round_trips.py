"""The round trips a job's launch costs the state store and the logs: a job created and walked to
``Completed`` by the node that created it reads nothing back that it wrote, and every job's log stream
goes into a group created once (counting wrappers over the in-memory backend and a fake Logs client)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from services.aws.logs import LogsAdapter
from services.core.store import DocumentStore, MemoryBackend
from services.training.models import SecondaryStatus, TrainingJob, TrainingJobStatus
from services.training.service import TrainingService
from tests.unit.test_training_service import Clock, Recorder, request


class CountingBackend(MemoryBackend):
    """Counts every backend call by primitive and by collection (``training-jobs`` or ``_index``)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[tuple[str, str]] = Counter()

    def take(self) -> Counter[tuple[str, str]]:
        calls, self.calls = self.calls, Counter()
        return calls

    async def read(self, key: str) -> tuple[Any, str] | None:
        self.calls["read", key.split("/")[0]] += 1
        return await super().read(key)

    async def create(self, key: str, doc: Any) -> str:
        self.calls["write", key.split("/")[0]] += 1
        return await super().create(key, doc)

    async def replace(self, key: str, doc: Any, version: str) -> str:
        self.calls["write", key.split("/")[0]] += 1
        return await super().replace(key, doc, version)


def service(backend: MemoryBackend) -> TrainingService:
    store = DocumentStore(backend, "training-jobs", TrainingJob, "Training job", TrainingService.summary)
    return TrainingService(store, Recorder(), Recorder(), region="us-east-1",  # type: ignore[arg-type]
                           account_id="123456789012", clock=Clock())


async def test_a_job_walked_to_completed_by_its_own_node_reads_back_nothing_it_wrote() -> None:
    backend = CountingBackend()
    svc = service(backend)
    # One shard for every name, so that the node has written it before (a node's steady state).
    svc.store.index.shard_key = lambda name: "_index/training-jobs/00.json"  # type: ignore[union-attr,method-assign]
    await svc.create_training_job(request("job-0"))
    backend.take()

    await svc.create_training_job(request("job-1"))
    # The index shard is written twice (pending mark, settled entry), the document once; nothing read.
    assert backend.take() == {("write", "_index"): 2, ("write", "training-jobs"): 1}

    steps = [(None, SecondaryStatus.DOWNLOADING), (None, SecondaryStatus.TRAINING),
             (None, SecondaryStatus.UPLOADING), (TrainingJobStatus.COMPLETED, SecondaryStatus.COMPLETED)]
    for status, secondary in steps:
        await svc.transition("job-1", status, secondary, secondary.value)
        # Each status change: the document and the index entry's two writes; no read before a write.
        assert backend.take() == {("write", "_index"): 2, ("write", "training-jobs"): 1}, secondary
    await svc.update_runtime("job-1", lambda rt: None)  # a finished job's bookkeeping never changes
    done = await svc.store.get("job-1")
    assert done is not None and done.training_job_status is TrainingJobStatus.COMPLETED


async def test_a_write_against_a_version_another_node_changed_reads_it_and_keeps_both_changes() -> None:
    backend = CountingBackend()
    mine, theirs = service(backend), service(backend)
    await mine.create_training_job(request("job-1"))
    await theirs.transition("job-1", secondary=SecondaryStatus.DOWNLOADING, message="theirs")
    await mine.transition("job-1", secondary=SecondaryStatus.TRAINING, message="mine")  # its held copy is stale
    job = await theirs.store.get("job-1")
    assert job is not None
    assert [t.status for t in job.secondary_status_transitions] == ["Starting", "Downloading", "Training"]
    assert {s["n"]: s["s"] for s in (await theirs.store.summaries()).values()} == {"job-1": "InProgress"}


class FakeLogs:
    """A Logs client that records the groups and streams created and can lose a group."""

    def __init__(self) -> None:
        self.groups: dict[str, set[str]] = {}
        self.calls: Counter[str] = Counter()

    async def create_log_group(self, logGroupName: str) -> None:  # noqa: N803 - the API's parameter name
        self.calls["CreateLogGroup"] += 1
        if logGroupName in self.groups:
            raise ClientError({"Error": {"Code": "ResourceAlreadyExistsException"}}, "CreateLogGroup")
        self.groups[logGroupName] = set()

    async def create_log_stream(self, logGroupName: str, logStreamName: str) -> None:  # noqa: N803
        self.calls["CreateLogStream"] += 1
        if logGroupName not in self.groups:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "CreateLogStream")
        self.groups[logGroupName].add(logStreamName)


async def test_each_job_creates_its_stream_and_the_group_is_created_once() -> None:
    client = FakeLogs()
    logs = LogsAdapter(client)
    for job in ("a", "b", "c"):
        await logs.ensure_stream("/aws/sagemaker/TrainingJobs", f"{job}/algo-1")
    assert client.calls == {"CreateLogGroup": 1, "CreateLogStream": 3}
    del client.groups["/aws/sagemaker/TrainingJobs"]  # a user deleted the group: it is created again
    await logs.ensure_stream("/aws/sagemaker/TrainingJobs", "d/algo-1")
    assert client.groups == {"/aws/sagemaker/TrainingJobs": {"d/algo-1"}}
