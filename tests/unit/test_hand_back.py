"""A stopping worker hands its running jobs back: claim released, task put back as a new message, old one deleted.

Jobs are not waited for. An executor that stops at a point of its own choosing (a tuning orchestrator, with
``interrupt()``) raises :class:`HandedBack`; any other is cut short.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from services.core.job_service import Claim
from services.core.queues import QueueMessage
from services.core.settings import Settings
from services.core.tasks import Task
from services.execution.executor import HandedBack
from services.execution.worker import Worker


class OneTaskQueue:
    """Delivers one task, then nothing; records what the worker does with messages."""

    queue_name = "headwater-tasks"

    def __init__(self, task: Task) -> None:
        self.pending = [QueueMessage("m1", "r1", task.model_dump_json(), 1)]
        self.enqueued: list[Task] = []
        self.deleted: list[str] = []

    async def receive(self, wait_seconds: int, visibility_timeout: int,
                      stop: asyncio.Event | None = None) -> list[tuple[Task, QueueMessage]]:
        if self.pending:
            msg = self.pending.pop()
            return [(Task.model_validate_json(msg.body), msg)]
        await asyncio.sleep(0.01)  # an empty long poll, shortened
        return []

    async def receive_dead(self) -> list[tuple[Task, QueueMessage]]:
        return []

    async def heartbeat(self, msg: QueueMessage, seconds: int) -> None:
        pass

    async def enqueue(self, task: Task) -> None:
        self.enqueued.append(task)

    async def done(self, msg: QueueMessage, *, dead: bool = False) -> None:
        self.deleted.append(msg.receipt_handle)


class LongJobs:
    """An executor whose jobs run until cut short (or, with ``interrupt``, until told to stop)."""

    def __init__(self, kind: str, orchestrates: bool) -> None:
        self.kind = kind
        self.started = asyncio.Event()
        self.closing = asyncio.Event()
        self.released: list[Claim] = []
        self.cut_short = False
        if orchestrates:
            self.interrupt = self.closing.set

    async def claim(self, name: str, worker_id: str, now: datetime, stale_after: timedelta) -> Claim | None:
        return Claim(self.kind, name, worker_id, 1)

    async def execute(self, name: str) -> None:
        self.started.set()
        try:
            await self.closing.wait()
        except asyncio.CancelledError:
            self.cut_short = True
            raise
        raise HandedBack(f"{name}: the worker stopped")

    async def beat(self, claim: Claim, now: datetime) -> None:
        pass

    async def release(self, claim: Claim) -> None:
        self.released.append(claim)

    async def record_error(self, name: str, error: str, claim: Claim | None = None) -> None:
        raise AssertionError(f"a hand-back is not an error: {error}")

    async def fail_lost(self, name: str, reason: str) -> None:
        raise AssertionError(reason)

    async def needs_task(self, name: str) -> bool:
        return False


@pytest.mark.parametrize("orchestrates", [False, True], ids=["cut-short", "interrupted"])
async def test_a_stopping_worker_hands_its_running_job_back(orchestrates: bool) -> None:
    task = Task(kind="training", name="long")
    queue, executor = OneTaskQueue(task), LongJobs("training", orchestrates)
    worker = Worker(Settings(heartbeat_seconds=60), queue, [executor])  # type: ignore[arg-type,list-item]
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(executor.started.wait(), 10)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert executor.cut_short is not orchestrates
    assert [c.name for c in executor.released] == ["long"]
    assert queue.enqueued == [task] and queue.deleted == ["r1"]
