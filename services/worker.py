"""Workers: take tasks from the queue and run them.

A worker runs ``worker_concurrency`` slots. Each slot long-polls one task,
claims the job (a conditional write, so a duplicate task never runs a job
twice), heartbeats the message and the job while it runs, and deletes the
message at the end. When a worker dies its message reappears after the
visibility timeout: the next worker restarts the job, or, once
``task_max_attempts`` are spent, fails it with a clear ``FailureReason``.
Tasks SQS dead-lettered are reaped the same way, so no job stays
``InProgress`` forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import timedelta

from infra.settings import Settings
from services.aws.sqs import QueueMessage
from services.models.training import SecondaryStatus, TrainingJob
from services.tasks import Task, TaskQueue
from services.training import TrainingService
from services.training_execution import TrainingJobExecutor

log = logging.getLogger(__name__)

_REAP_EVERY_SECONDS = 15.0


def new_worker_id() -> str:
    """A worker id that says where it runs."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs tasks until ``stop`` is set."""

    def __init__(self, settings: Settings, tasks: TaskQueue, training: TrainingService,
                 executor: TrainingJobExecutor, worker_id: str | None = None) -> None:
        self.settings = settings
        self.tasks = tasks
        self.training = training
        self.executor = executor
        self.worker_id = worker_id or new_worker_id()
        self.running: set[str] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; running jobs finish first."""
        slots = [asyncio.create_task(self._slot(stop)) for _ in range(self.settings.worker_concurrency)]
        reaper = asyncio.create_task(self._reap_loop(stop))
        await stop.wait()
        reaper.cancel()
        await asyncio.gather(*slots, return_exceptions=True)
        with contextlib.suppress(asyncio.CancelledError):
            await reaper

    async def _slot(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                received = await self.tasks.receive(self.settings.poll_wait_seconds, self.settings.visibility_timeout)
            except Exception:  # noqa: BLE001 - the emulator may be restarting; keep serving
                log.exception("worker %s: could not poll tasks", self.worker_id)
                await asyncio.sleep(1.0)
                continue
            for task, msg in received:
                await self.handle(task, msg)

    async def handle(self, task: Task, msg: QueueMessage) -> None:
        """Run one task; delete its message unless it must be retried."""
        heart = asyncio.create_task(self._heartbeat(task, msg))
        try:
            if await self._claim(task, msg):
                self.running.add(task.name)
                await self.executor.execute(task.name)
            await self.tasks.done(msg)
        except Exception as err:  # noqa: BLE001 - a platform error: leave the message to be retried
            log.exception("worker %s: task %s failed (attempt %d)", self.worker_id, task.name, msg.receive_count)
            with contextlib.suppress(Exception):
                await self.training.transition(task.name, edit=lambda j: _set_error(j, err))
        finally:
            self.running.discard(task.name)
            heart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heart

    async def _claim(self, task: Task, msg: QueueMessage) -> bool:
        """Take the job for this worker; False when it is not ours to run.

        The check and the claim happen in one conditional write, so two
        workers holding copies of the same task cannot both win.
        """
        job = await self.training.store.get(task.name)
        if job is None or job.training_job_status.is_terminal:
            return False
        if msg.receive_count > self.settings.task_max_attempts:
            reason = (f"InternalServerError: the job's worker was lost {msg.receive_count - 1} times "
                      f"({job.headwater.last_error or 'no heartbeat'}); giving up after "
                      f"{self.settings.task_max_attempts} attempts")
            await self.executor.fail_lost(task.name, reason)
            return False
        now = self.training.clock()
        # A live worker beats every heartbeat_seconds; two missed beats mean it is gone.
        stale_after = timedelta(seconds=2 * self.settings.heartbeat_seconds)

        def claim(j: TrainingJob) -> None:
            hb = j.headwater.heartbeat_at
            if j.headwater.worker not in (None, self.worker_id) and hb is not None and now - hb < stale_after:
                raise _HeldElsewhere(j.headwater.worker)
            j.headwater.worker = self.worker_id
            j.headwater.attempts += 1
            j.headwater.heartbeat_at = now

        restarting = job.headwater.attempts > 0
        try:
            if restarting:
                await self.training.transition(
                    task.name, secondary=SecondaryStatus.RESTARTING, edit=claim,
                    message=f"Restarting the job after its worker was lost (attempt {job.headwater.attempts + 1})")
            else:
                await self.training.transition(task.name, edit=claim)
        except _HeldElsewhere as held:
            log.info("task %s: already run by %s; dropping a duplicate", task.name, held)
            return False
        return True

    async def _heartbeat(self, task: Task, msg: QueueMessage) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await self.tasks.heartbeat(msg, self.settings.visibility_timeout)
                if task.name in self.running:
                    await self.training.transition(
                        task.name, edit=lambda j: setattr(j.headwater, "heartbeat_at", self.training.clock()))
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                log.warning("worker %s: heartbeat of %s failed", self.worker_id, task.name, exc_info=True)

    async def _reap_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                await self.reap_dead_tasks()
            await asyncio.sleep(_REAP_EVERY_SECONDS)

    async def reap_dead_tasks(self) -> int:
        """Fail the jobs whose tasks SQS dead-lettered; return how many."""
        reaped = 0
        for task, msg in await self.tasks.receive_dead():
            job = await self.training.store.get(task.name)
            if job is not None and not job.training_job_status.is_terminal:
                await self.executor.fail_lost(
                    task.name, f"InternalServerError: the job's task was dead-lettered after {msg.receive_count} "
                               f"deliveries ({job.headwater.last_error or 'its workers stopped responding'})")
                reaped += 1
            await self.tasks.done(msg, dead=True)
        return reaped


class _HeldElsewhere(Exception):
    """The job is claimed by another live worker."""


def _set_error(job: TrainingJob, err: BaseException) -> None:
    job.headwater.last_error = f"{type(err).__name__}: {err}"[:500]
