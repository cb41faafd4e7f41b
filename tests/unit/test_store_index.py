"""The state store's index: List* and lookups that read the page, not the history, and stay right
when writers on two nodes race or one dies between its two writes (in-memory backend)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.core.job_service import ListJobsQuery
from services.core.store import DocumentStore, MemoryBackend
from services.training.models import ModelArtifacts, TrainingJob, TrainingJobStatus
from services.training.service import TrainingService
from tests.unit.test_training_service import Clock, Recorder, request


class SharedBackend(MemoryBackend):
    """One bucket many nodes write: each call yields to the loop first, so writers interleave between a
    read and the conditional write that follows it; counts document reads by collection."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: dict[str, int] = {}

    async def read(self, key: str) -> tuple[Any, str] | None:
        await asyncio.sleep(0)
        self.reads[key.split("/")[0]] = self.reads.get(key.split("/")[0], 0) + 1
        return await super().read(key)

    async def create(self, key: str, doc: Any) -> str:
        await asyncio.sleep(0)
        return await super().create(key, doc)

    async def replace(self, key: str, doc: Any, version: str) -> str:
        await asyncio.sleep(0)
        return await super().replace(key, doc, version)

    def take_reads(self) -> dict[str, int]:
        reads, self.reads = self.reads, {}
        return reads


class Died(BaseException):
    """The node stopped here (not an error anything catches)."""


class DyingBackend(SharedBackend):
    """A node that dies writing document ``victim``: before the write reaches the bucket, or after."""

    def __init__(self, shared: SharedBackend, victim: str, after_write: bool) -> None:
        self.__dict__ = shared.__dict__  # the same bucket
        self.victim = victim
        self.after_write = after_write

    async def create(self, key: str, doc: Any) -> str:
        return await self._maybe_die(key, lambda: super(DyingBackend, self).create(key, doc))

    async def replace(self, key: str, doc: Any, version: str) -> str:
        return await self._maybe_die(key, lambda: super(DyingBackend, self).replace(key, doc, version))

    async def _maybe_die(self, key: str, write: Any) -> str:
        if key != f"training-jobs/{self.victim}.json":
            return await write()
        if self.after_write:
            await write()
        raise Died(key)


class Seconds:
    """The index's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def node(backend: MemoryBackend, indexed: bool = True, clock: Seconds | None = None) -> TrainingService:
    """One node's training service over ``backend`` (its own store: it holds what it has read)."""
    store = DocumentStore(backend, "training-jobs", TrainingJob, "Training job", TrainingService.summary) if indexed \
        else DocumentStore(backend, "training-jobs", TrainingJob, "Training job")
    if clock is not None and store.index is not None:
        store.index.clock = clock
    if not hasattr(backend, "job_clock"):
        backend.job_clock = Clock()  # type: ignore[attr-defined]  # one time line for every node's jobs
    return TrainingService(store, Recorder(), Recorder(), region="us-east-1",  # type: ignore[arg-type]
                           account_id="123456789012", clock=backend.job_clock)  # type: ignore[attr-defined]


def shard_entries(backend: MemoryBackend) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for key, (text, _) in backend.docs.items():
        if key.startswith("_index/training-jobs/") and not key.endswith("built.json"):
            entries.update(__import__("json").loads(text)["entries"])
    return entries


async def test_a_list_reads_the_page_alone_whatever_the_history() -> None:
    backend = SharedBackend()
    writer = node(backend)
    for i in range(40):
        await writer.create_training_job(request(f"job-{i:03d}"))
    await writer.transition("job-007", TrainingJobStatus.FAILED)
    reader = node(backend)  # another node, or this one after a restart: it holds nothing
    await reader.list_jobs(ListJobsQuery(max_results=1))  # reads the index once
    backend.take_reads()

    page, token = await reader.list_jobs(ListJobsQuery(max_results=5, sort_order="Descending"))
    assert [j.training_job_name for j in page] == [f"job-{i:03d}" for i in (39, 38, 37, 36, 35)] and token
    failed, _ = await reader.list_jobs(ListJobsQuery(status_equals="Failed"))
    assert [j.training_job_name for j in failed] == ["job-007"]
    named, _ = await reader.list_jobs(ListJobsQuery(name_contains="JOB-01", max_results=3))
    assert [j.training_job_name for j in named] == ["job-010", "job-011", "job-012"]
    # 5 + 1 + 3 documents read, and no index shard: none changed since the last call.
    assert backend.take_reads() == {"training-jobs": 9}

    assert (await reader.describe_training_job("JOB-039")).training_job_name == "job-039"  # a miss, then the index
    assert backend.take_reads() == {"training-jobs": 2}


async def test_paging_neither_skips_nor_repeats_a_job_created_meanwhile() -> None:
    backend = SharedBackend()
    svc = node(backend)
    for i in range(12):
        await svc.create_training_job(request(f"first-{i:02d}"))
    for sort_by, order in (("CreationTime", "Descending"), ("Name", "Ascending"), ("CreationTime", "Ascending")):
        seen: list[str] = []
        token: str | None = None
        while True:
            page, token = await svc.list_jobs(ListJobsQuery(sort_by=sort_by, sort_order=order, max_results=5,
                                                            next_token=token))
            seen += [j.training_job_name for j in page]
            # Another client creates jobs between our pages: newest first, they sort before our place.
            for _ in range(3):
                await svc.create_training_job(request(f"new-{len(backend.docs):04d}"))
            if token is None:
                break
        firsts = [n for n in seen if n.startswith("first-")]
        assert sorted(firsts) == [f"first-{i:02d}" for i in range(12)], (sort_by, order, seen)
        assert len(seen) == len(set(seen)), (sort_by, order, seen)


async def test_paging_is_stable_without_an_index_too() -> None:
    svc = node(SharedBackend(), indexed=False)
    for i in range(7):
        await svc.create_training_job(request(f"first-{i}"))
    page, token = await svc.list_jobs(ListJobsQuery(sort_order="Descending", max_results=4))
    await svc.create_training_job(request("newer"))
    rest, _ = await svc.list_jobs(ListJobsQuery(sort_order="Descending", max_results=4, next_token=token))
    assert [j.training_job_name for j in page + rest] == [f"first-{i}" for i in range(6, -1, -1)]


async def test_two_nodes_creating_at_once_lose_no_entry() -> None:
    backend = SharedBackend()
    a, b = node(backend), node(backend)
    await asyncio.gather(*(svc.create_training_job(request(f"{who}-{i:02d}"))
                           for i in range(30) for who, svc in (("a", a), ("b", b))))
    await asyncio.gather(*(svc.transition(f"{who}-{i:02d}", TrainingJobStatus.COMPLETED)
                           for i in range(0, 30, 3) for who, svc in (("a", b), ("b", a))))
    entries = shard_entries(backend)
    assert len(entries) == 60 and not any(e.get("p") for e in entries.values())
    assert sorted(n for n, e in entries.items() if e["s"]["s"] == "Completed") == sorted(
        f"{w}-{i:02d}" for i in range(0, 30, 3) for w in "ab")
    jobs, token = await node(backend).list_jobs(ListJobsQuery(sort_by="Name", max_results=100))
    assert len(jobs) == 60 and token is None


@pytest.mark.parametrize("after_write", [False, True], ids=["before the document", "after the document"])
async def test_a_node_that_dies_between_its_writes_leaves_an_index_that_converges(after_write: bool) -> None:
    backend = SharedBackend()
    clock = Seconds()
    healthy = node(backend, clock=clock)
    await healthy.create_training_job(request("kept"))
    dying = node(DyingBackend(backend, "lost", after_write), clock=clock)
    with pytest.raises(Died):
        await dying.create_training_job(request("lost"))
    assert shard_entries(backend)["lost"]["p"]  # the entry is pending: readers check the document

    names = [j.training_job_name for j in (await healthy.list_jobs(ListJobsQuery()))[0]]
    assert names == (["kept", "lost"] if after_write else ["kept"])
    assert shard_entries(backend)["lost"]["p"]  # its writer may still be at work: left alone

    clock.now += 61  # past the grace: the writer is dead, a reader repairs the entry from the document
    names = [j.training_job_name for j in (await healthy.list_jobs(ListJobsQuery()))[0]]
    assert names == (["kept", "lost"] if after_write else ["kept"])
    entries = shard_entries(backend)
    if after_write:
        assert "p" not in entries["lost"] and entries["lost"]["s"]["s"] == "InProgress"
    else:
        assert "lost" not in entries


async def test_a_node_that_dies_mid_update_leaves_the_new_status_findable() -> None:
    backend = SharedBackend()
    clock = Seconds()
    healthy = node(backend, clock=clock)
    await healthy.create_training_job(request("victim"))
    dying = node(DyingBackend(backend, "victim", after_write=True), clock=clock)
    with pytest.raises(Died):
        await dying.transition("victim", TrainingJobStatus.FAILED)
    failed, _ = await healthy.list_jobs(ListJobsQuery(status_equals="Failed"))
    assert [j.training_job_name for j in failed] == ["victim"]
    clock.now += 61
    await healthy.list_jobs(ListJobsQuery())
    assert shard_entries(backend)["victim"] == {"s": TrainingService.summary(failed[0])}


async def test_documents_written_before_the_index_are_indexed_once() -> None:
    backend = SharedBackend()
    old = node(backend, indexed=False)  # a state bucket from a version without an index
    for i in range(5):
        await old.create_training_job(request(f"old-{i}"))
    first = node(backend)
    assert [j.training_job_name for j in (await first.list_jobs(ListJobsQuery()))[0]] == [f"old-{i}" for i in range(5)]
    await first.create_training_job(request("new"))
    backend.take_reads()
    jobs, _ = await node(backend).list_jobs(ListJobsQuery(max_results=2, sort_order="Descending"))
    assert [j.training_job_name for j in jobs] == ["new", "old-4"]
    assert backend.take_reads()["training-jobs"] == 2  # built once: the next node reads the index, not the jobs


async def test_a_deleted_document_leaves_the_index() -> None:
    backend = SharedBackend()
    store = node(backend).store
    await store.create("a", TrainingJob.model_validate(request("a").model_dump(by_alias=True) | {
        "TrainingJobArn": "arn", "CreationTime": "2026-01-01T00:00:00Z", "LastModifiedTime": "2026-01-01T00:00:00Z"}))
    assert list(await store.summaries()) == ["a"]
    await store.delete("a")
    assert await store.summaries() == {} and shard_entries(backend) == {}


async def test_the_job_behind_a_model_artifact_is_found_without_reading_the_others() -> None:
    backend = SharedBackend()
    svc = node(backend)
    for i in range(20):
        await svc.create_training_job(request(f"job-{i:02d}"))

    def done(job: TrainingJob) -> None:
        job.model_artifacts = ModelArtifacts(S3ModelArtifacts="s3://b/out/job-13/output/model.tar.gz")

    await svc.transition("job-13", TrainingJobStatus.COMPLETED, edit=done)
    reader = node(backend)
    await reader.store.summaries()
    backend.take_reads()
    found = await reader.find_generator("", {"s3://b/out/job-13/output/model.tar.gz"})
    assert found is not None and found.training_job_name == "job-13"
    by_arn = await reader.find_generator(svc.arn("job-04"), set())
    assert by_arn is not None and by_arn.training_job_name == "job-04"
    assert backend.take_reads() == {"training-jobs": 2}
