"""Tasks promised to a queue, kept until the queue has them: no job is left without its task.

Submitting a job writes a promise first, then the job's document, then sends
the task, then clears the promise. A submit cut short anywhere after the
promise (the queue did not answer, the process died) leaves the promise
behind; the workers' sweep sends the task of every promise older than a
grace period whose job still waits for one, and clears it. A task sent twice
is harmless: claims let one run the job and drop the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from services.core.exceptions import ResourceInUse
from services.core.models import ApiModel
from services.core.store import DocumentStore
from services.core.tasks import Task
from services.core.times import utcnow


class PendingTask(ApiModel):
    """A task promised to ``queue`` for job ``name`` of ``kind``, since ``promised_at``."""

    kind: str
    name: str
    queue: str
    promised_at: datetime

    @property
    def task(self) -> Task:
        """The task to send."""
        return Task(kind=self.kind, name=self.name)


class TaskOutbox:
    """Promises of tasks, in a collection of the state store."""

    def __init__(self, store: DocumentStore[PendingTask], clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock
        # Set when a submit in this process gives up sending a task (see left_behind): the sweep wakes.
        self.left = asyncio.Event()
        # Whether the last look at the promises saw one not yet overdue, that a later sweep must send.
        self.recent = False

    def left_behind(self) -> None:
        """A submit here could not send its task: its promise stands for the sweep, which wakes for it."""
        self.left.set()

    @staticmethod
    def key(task: Task) -> str:
        """The promise's name in the store."""
        return f"{task.kind}/{task.name}"

    async def promise(self, task: Task, queue: str) -> bool:
        """Record that ``task`` is owed to ``queue``; False when a promise of it exists already (another submit
        of the same job is under way, or was cut short: its promise stands)."""
        try:
            await self.store.create(self.key(task), PendingTask(kind=task.kind, name=task.name, queue=queue,
                                                                promised_at=self.clock()))
        except ResourceInUse:
            return False
        return True

    async def settle(self, task: Task) -> None:
        """The queue has ``task`` (or its job will never run): forget the promise."""
        await self.store.delete(self.key(task))

    async def overdue(self, grace: timedelta) -> list[PendingTask]:
        """Promises older than ``grace``: their submits were cut short."""
        cutoff = self.clock() - grace
        promised = await self.store.list()
        self.recent = any(p.promised_at >= cutoff for p in promised)
        return [p for p in promised if p.promised_at < cutoff]
