"""A job whose task the queue did not take is still run: the task's promise outlives the failed send, and a
worker's sweep sends it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.core.exceptions import ResourceInUse
from services.core.settings import Settings
from services.core.store import DocumentStore, MemoryBackend
from services.core.task_outbox import PendingTask, TaskOutbox
from services.core.tasks import Task
from services.execution.worker import Worker
from services.training.executor import TrainingJobExecutor
from services.training.models import TrainingJob
from services.training.service import TrainingService
from tests.unit.test_training_service import Recorder, request


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


class FlakyQueue:
    """A task queue that refuses to send while ``down``."""

    queue_name = "headwater-tasks"

    def __init__(self) -> None:
        self.down = False
        self.sent: list[Task] = []

    async def enqueue(self, task: Task) -> None:
        if self.down:
            raise ConnectionError("SQS did not answer")
        self.sent.append(task)


@pytest.fixture
def parts() -> tuple[TrainingService, FlakyQueue, TaskOutbox, Clock]:
    clock, queue = Clock(), FlakyQueue()
    outbox = TaskOutbox(DocumentStore(MemoryBackend(), "task-outbox", PendingTask, "Pending task"), clock)
    service = TrainingService(DocumentStore(MemoryBackend(), "training-jobs", TrainingJob, "Training job"),
                              queue, Recorder(), region="us-east-1", account_id="123456789012",  # type: ignore[arg-type]
                              clock=clock, outbox=outbox)
    return service, queue, outbox, clock


def _worker(service: TrainingService, queue: FlakyQueue, outbox: TaskOutbox) -> Worker:
    executor = TrainingJobExecutor.__new__(TrainingJobExecutor)
    executor.training = service
    return Worker(Settings(visibility_timeout=30), queue, [executor], outbox=outbox)  # type: ignore[arg-type]


async def test_a_task_the_queue_did_not_take_is_sent_by_a_workers_sweep(parts: tuple) -> None:
    service, queue, outbox, clock = parts
    queue.down = True
    job = await service.create_training_job(request("orphan"))  # the job exists: the API call succeeds
    assert job.training_job_status.value == "InProgress" and queue.sent == []
    queue.down = False
    worker = _worker(service, queue, outbox)
    assert await worker.redeliver_promised() == 0  # within the grace period the submit may still be under way
    clock.now += timedelta(minutes=5)
    assert await worker.redeliver_promised() == 1 and queue.sent == [Task(name="orphan")]
    assert await worker.redeliver_promised() == 0 and await outbox.overdue(timedelta(0)) == []


async def test_a_sent_task_and_a_refused_create_leave_no_promise(parts: tuple) -> None:
    service, queue, outbox, clock = parts
    await service.create_training_job(request("sent"))
    with pytest.raises(ResourceInUse):
        await service.create_training_job(request("sent"))
    assert queue.sent == [Task(name="sent")] and await outbox.overdue(timedelta(0)) == []
