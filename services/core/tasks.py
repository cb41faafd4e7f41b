"""The task queue between the control plane and the workers.

Starting a job enqueues a small task message; a worker long-polls, claims
the job, heartbeats the message while running, and deletes it at the end.
A worker that dies stops heartbeating, the message reappears, and another
worker resumes (or, past the attempt limit, fails) the job.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from services.core.queues import MessageQueue, QueueMessage

TASKS_QUEUE = "tasks"
# Long-running orchestrations (tuning jobs) that start tasks of their own: their own queue
# and worker slots, so an orchestrator never holds a slot its children wait for.
ORCHESTRATION_QUEUE = "orchestration"


class Task(BaseModel):
    """A unit of work for a worker."""

    kind: str = "training"  # a JobExecutor.kind
    name: str


class TaskQueue:
    """Typed enqueue/receive over the tasks queue."""

    def __init__(self, sqs: MessageQueue, queue_name: str, dlq_name: str) -> None:
        self.sqs = sqs
        self.queue_name = queue_name
        self.dlq_name = dlq_name

    async def enqueue(self, task: Task) -> None:
        """Hand ``task`` to whichever worker polls first."""
        await self.sqs.send(self.queue_name, task.model_dump())

    async def receive(self, wait_seconds: int, visibility_timeout: int,
                      stop: asyncio.Event | None = None) -> list[tuple[Task, QueueMessage]]:
        """At most one task (workers take work one slot at a time); nothing once ``stop`` is set."""
        msgs = await self.sqs.receive(
            self.queue_name, max_messages=1, wait_seconds=wait_seconds, visibility_timeout=visibility_timeout,
            stop=stop)
        return [(Task.model_validate_json(m.body), m) for m in msgs]

    async def receive_dead(self) -> list[tuple[Task, QueueMessage]]:
        """Tasks SQS dead-lettered (their workers kept dying)."""
        msgs = await self.sqs.receive(self.dlq_name, max_messages=10, wait_seconds=0)
        return [(Task.model_validate_json(m.body), m) for m in msgs]

    async def heartbeat(self, msg: QueueMessage, seconds: int) -> None:
        """Keep ``msg`` invisible for another ``seconds``."""
        await self.sqs.change_visibility(self.queue_name, msg.receipt_handle, seconds)

    async def done(self, msg: QueueMessage, *, dead: bool = False) -> None:
        """Acknowledge ``msg`` (from the DLQ when ``dead``)."""
        await self.sqs.delete(self.dlq_name if dead else self.queue_name, msg.receipt_handle)
