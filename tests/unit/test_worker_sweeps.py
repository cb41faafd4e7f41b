"""The workers' sweep at rest: a slow safety sweep while nothing is owed, at once when a submit here leaves a task
behind, and every few seconds while a promise waits to become overdue."""

from __future__ import annotations

import asyncio

import pytest

from services.core.store import DocumentStore, MemoryBackend
from services.core.task_outbox import PendingTask, TaskOutbox
from services.execution import worker as worker_module
from services.training.models import TrainingJob
from services.training.service import TrainingService
from tests.unit.test_task_outbox import Clock, FlakyQueue, _worker
from tests.unit.test_training_service import Recorder, request


class ListingBackend(MemoryBackend):
    """Counts the listings of the outbox and signals each one."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0
        self.listed = asyncio.Event()

    async def listing(self, prefix: str) -> list[tuple[str, str | None]]:
        self.listings += 1
        self.listed.set()
        return await super().listing(prefix)


class Queue(FlakyQueue):
    """A task queue with an empty dead-letter queue."""

    async def receive_dead(self) -> list:
        return []


async def test_the_sweep_rests_until_a_task_is_left_behind_then_follows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "_SAFETY_SWEEP_SECONDS", 3600.0, raising=False)
    monkeypatch.setattr(worker_module, "_REAP_EVERY_SECONDS", 1800.0)  # neither timer fires within the test
    clock, queue, backend = Clock(), Queue(), ListingBackend()
    outbox = TaskOutbox(DocumentStore(backend, "task-outbox", PendingTask, "Pending task"), clock)
    service = TrainingService(DocumentStore(MemoryBackend(), "training-jobs", TrainingJob, "Training job"),
                              queue, Recorder(), region="us-east-1", account_id="123456789012",  # type: ignore[arg-type]
                              clock=clock, outbox=outbox)
    worker = _worker(service, queue, outbox)
    stop = asyncio.Event()
    sweeping = asyncio.create_task(worker._reap_loop(stop))
    await asyncio.wait_for(backend.listed.wait(), 10)  # the sweep at start: what a crash may have left
    assert worker.next_sweep() == 3600.0  # nothing owed: only the slow safety sweep

    backend.listed.clear()
    queue.down = True
    await service.create_training_job(request("orphan"))  # the send fails: its promise stands
    await asyncio.wait_for(backend.listed.wait(), 10)  # the sweep follows at once, not after 3600 s
    while worker.next_sweep() != 1800.0:  # the promise is not overdue yet: swept at the short period now
        await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(sweeping, 10)
    assert backend.listings == 2  # at start, and after the task was left behind: nothing on a timer
