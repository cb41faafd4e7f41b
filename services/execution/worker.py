"""Workers: take tasks from the queue and run them.

A worker runs ``worker_concurrency`` slots. Each slot long-polls one task,
hands it to the executor of its kind, which claims the job (a conditional
write, so a duplicate task never runs a job twice); the worker heartbeats
the message and the job while it runs, and deletes the message at the end.
When a worker dies its message reappears after the visibility timeout: the
next worker restarts the job, or, once ``task_max_attempts`` are spent,
fails it with a clear ``FailureReason``. Tasks SQS dead-lettered are reaped
the same way, so no job stays ``InProgress`` forever.

Orchestrations (tuning jobs, which start training jobs of their own) come
from a queue of their own and run on ``orchestration_concurrency`` slots of
their own: an orchestrator never holds a slot its children wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from services.aws.sqs import ConsumerPolls
from services.core.event_outbox import EventOutbox
from services.core.exceptions import ClaimLost
from services.core.job_service import Claim, acting_for
from services.core.queues import QueueMessage
from services.core.settings import Settings
from services.core.task_outbox import TaskOutbox
from services.core.tasks import Task, TaskQueue
from services.core.ticks import rest
from services.core.times import utcnow
from services.execution.executor import HandedBack, HeldElsewhere, JobExecutor

log = logging.getLogger(__name__)

# The sweep (dead-lettered tasks, promised tasks and events whose send was cut short) runs at start, at once
# when a submit or publish in this process leaves a record behind, every _REAP_EVERY_SECONDS while a record
# it saw is not yet overdue or a sweep failed, and otherwise every _SAFETY_SWEEP_SECONDS. That slow sweep is
# what correctness needs after a crash elsewhere: a node that died mid-submit and never restarts leaves its
# promises to the others, and SQS dead-letters a task without telling anyone. It costs two listings of
# (usually empty) collections and a short receive per dead-letter queue, every five minutes.
_REAP_EVERY_SECONDS = 15.0
_SAFETY_SWEEP_SECONDS = 300.0


def new_worker_id() -> str:
    """A worker id that says where it runs."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs tasks until ``stop`` is set."""

    def __init__(self, settings: Settings, tasks: TaskQueue, executors: list[JobExecutor],
                 worker_id: str | None = None, clock: Callable[[], datetime] = utcnow,
                 orchestration: TaskQueue | None = None, emulator_embedded: bool = False,
                 outbox: TaskOutbox | None = None, events: EventOutbox | None = None) -> None:
        self.settings = settings
        self.polls = ConsumerPolls.choose(settings.poll_wait_seconds, emulator_embedded)
        self.tasks = tasks
        self.orchestration = orchestration
        self.executors = {e.kind: e for e in executors}
        self.worker_id = worker_id or new_worker_id()
        self.clock = clock
        self.running: set[tuple[str, str]] = set()
        self.outbox = outbox  # tasks promised by submits that may have been cut short
        self.events = events  # events recorded by state changes whose publish may have failed
        self.stopping = False
        self._attempts: set[_Attempt] = set()
        self._owed = True  # until the first sweep says otherwise

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then hand the running jobs back and return.

        A job is not waited for (it may run for hours): its attempt stops (containers included), its claim is
        released and its task goes back to the queue, so the next worker resumes it at once (from its last
        checkpoint, for a training job that saves them). Stopping takes about ``stop_grace_seconds``.
        """
        slots = [asyncio.create_task(self._slot(stop)) for _ in range(self.settings.worker_concurrency)]
        if self.orchestration is not None:
            slots += [asyncio.create_task(self._slot(stop, self.orchestration))
                      for _ in range(self.settings.orchestration_concurrency)]
        reaper = asyncio.create_task(self._reap_loop(stop))
        await stop.wait()
        self.stopping = True
        interrupting = set()
        for kind, executor in self.executors.items():
            # Orchestrators stop at a point of their own choosing (between saves), within a poll.
            interrupt = getattr(executor, "interrupt", None)
            if interrupt is not None:
                interrupt()
                interrupting.add(kind)
        for attempt in list(self._attempts):
            if attempt.kind not in interrupting:
                attempt.hand_back()
        reaper.cancel()
        await asyncio.gather(*slots, return_exceptions=True)
        with contextlib.suppress(asyncio.CancelledError):
            await reaper

    async def _slot(self, stop: asyncio.Event, queue: TaskQueue | None = None) -> None:
        queue = queue or self.tasks
        while not stop.is_set():
            try:
                received = await queue.receive(self.polls.wait_seconds, self.settings.visibility_timeout,
                                               stop if self.polls.abandon_on_stop else None)
            except Exception:  # noqa: BLE001 - the emulator may be restarting; keep serving
                log.exception("worker %s: could not poll tasks", self.worker_id)
                await asyncio.sleep(1.0)
                continue
            for task, msg in received:
                if self.stopping:  # received as the worker began to stop: not started, it goes back
                    await self._return(task, msg, queue)
                else:
                    await self.handle(task, msg, queue)

    async def handle(self, task: Task, msg: QueueMessage, queue: TaskQueue | None = None) -> None:
        """Run one task (from ``queue``, the tasks queue by default); delete its message unless it must be retried."""
        queue = queue or self.tasks
        executor = self.executors.get(task.kind)
        if executor is None:
            log.error("worker %s: no executor for task kind %r (%s); leaving it to be dead-lettered",
                      self.worker_id, task.kind, task.name)
            return
        if (task.kind, task.name) in self.running:
            # A second task for a job this worker runs (a repeated event): running it too would restart it.
            log.info("task %s: already running in this worker; dropping a duplicate", task.name)
            await queue.done(msg)
            return
        attempt = _Attempt(task.kind)
        self._attempts.add(attempt)
        heart = asyncio.create_task(self._heartbeat(executor, task, msg, queue, attempt))
        try:
            attempt.claim = await self._claim(executor, task, msg)
            if attempt.claim is not None:
                self.running.add((task.kind, task.name))
                if self.stopping:  # the worker began to stop while it claimed
                    attempt.handed_back = True
                else:
                    attempt.run = asyncio.create_task(self._execute(executor, attempt.claim))
                    await attempt.finished()
            if attempt.claim is not None and attempt.handed_back:
                await self._hand_back(executor, task, msg, queue, attempt.claim)
            elif attempt.lost is None:
                await queue.done(msg)
            else:  # its message belongs to the job's new holder now
                log.warning("worker %s: stopped %s task %s: %s", self.worker_id, task.kind, task.name, attempt.lost)
        except ClaimLost as lost:  # a write of the attempt found the job taken over
            log.warning("worker %s: stopped %s task %s: %s", self.worker_id, task.kind, task.name, lost)
        except HandedBack:  # an orchestrator that stopped at its own pace
            await self._hand_back(executor, task, msg, queue, attempt.claim)
        except Exception as err:  # noqa: BLE001 - a platform error: leave the message to be retried
            log.exception("worker %s: %s task %s failed (attempt %d)", self.worker_id, task.kind, task.name,
                          msg.receive_count)
            with contextlib.suppress(Exception):
                await executor.record_error(task.name, f"{type(err).__name__}: {err}"[:500], attempt.claim)
        finally:
            self._attempts.discard(attempt)
            self.running.discard((task.kind, task.name))
            heart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heart

    async def _hand_back(self, executor: JobExecutor, task: Task, msg: QueueMessage, queue: TaskQueue,
                         claim: Claim | None) -> None:
        """Release the job and put its task back, for the next worker to resume it at once."""
        try:
            if claim is not None:
                await executor.release(claim)
            await self._return(task, msg, queue)
        except Exception:  # noqa: BLE001 - the message reappears after its visibility timeout instead
            log.warning("worker %s: could not hand %s task %s back; it is resumed once its message reappears",
                        self.worker_id, task.kind, task.name, exc_info=True)
            return
        log.info("worker %s: stopping; %s task %s handed back", self.worker_id, task.kind, task.name)

    @staticmethod
    async def _return(task: Task, msg: QueueMessage, queue: TaskQueue) -> None:
        """Put ``task`` back as a new message and drop ``msg``: a hand-back is not one of the job's lost attempts
        (a redelivery of ``msg`` would count as one). A crash between the two leaves a duplicate, which the
        claim turns away."""
        await queue.enqueue(task)
        await queue.done(msg)

    @staticmethod
    async def _execute(executor: JobExecutor, claim: Claim) -> None:
        # Every write the attempt makes, in this task and the ones it starts, is fenced by its claim.
        with acting_for(claim):
            await executor.execute(claim.name)

    async def _claim(self, executor: JobExecutor, task: Task, msg: QueueMessage) -> Claim | None:
        """Take the job for this worker; ``None`` when it is not ours to run."""
        if msg.receive_count > self.settings.task_max_attempts:
            await executor.fail_lost(task.name, (
                f"InternalServerError: the job's worker was lost {msg.receive_count - 1} times; "
                f"giving up after {self.settings.task_max_attempts} attempts"))
            return None
        # A live worker beats every heartbeat_seconds; two missed beats mean it is gone.
        stale_after = timedelta(seconds=2 * self.settings.heartbeat_seconds)
        try:
            return await executor.claim(task.name, self.worker_id, self.clock(), stale_after)
        except HeldElsewhere as held:
            log.info("task %s: already run by %s; dropping a duplicate", task.name, held)
            return None

    async def _heartbeat(self, executor: JobExecutor, task: Task, msg: QueueMessage, queue: TaskQueue,
                         attempt: _Attempt) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await queue.heartbeat(msg, self.settings.visibility_timeout)
                if attempt.claim is not None:
                    await executor.beat(attempt.claim, self.clock())
            except ClaimLost as lost:
                attempt.give_up(lost)  # another worker runs the job now: this attempt stops
                return
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                log.warning("worker %s: heartbeat of %s failed", self.worker_id, task.name, exc_info=True)

    def next_sweep(self) -> float:
        """Seconds until the next sweep unless a record is left behind first (see ``_SAFETY_SWEEP_SECONDS``)."""
        return _REAP_EVERY_SECONDS if self._owed else _SAFETY_SWEEP_SECONDS

    async def _reap_loop(self, stop: asyncio.Event) -> None:
        left = [box.left for box in (self.outbox, self.events) if box is not None]
        while not stop.is_set():
            for event in left:
                event.clear()  # a record left during the sweep makes another one
            owed = False
            for sweep in (self.reap_dead_tasks, self.redeliver_promised, self.republish_events):
                try:
                    owed = bool(await sweep()) or owed  # dead tasks reaped: there may be more
                except Exception:  # noqa: BLE001 - the next round tries again
                    owed = True
                    log.warning("worker %s: %s failed", self.worker_id, sweep.__name__, exc_info=True)
            self._owed = owed or any(box.recent for box in (self.outbox, self.events) if box is not None)
            await rest(stop, *left, timeout=self.next_sweep())

    async def redeliver_promised(self) -> int:
        """Send the tasks of submits that were cut short (their promises are overdue); return how many."""
        if self.outbox is None:
            return 0
        queues = {q.queue_name: q for q in (self.tasks, self.orchestration) if q is not None}
        sent = 0
        # Well past the time a submit takes: a promise this old will not be settled by its submit.
        grace = timedelta(seconds=2 * self.settings.visibility_timeout)
        for pending in await self.outbox.overdue(grace):
            executor, queue = self.executors.get(pending.kind), queues.get(pending.queue)
            if executor is None or queue is None:
                continue  # a kind or queue this worker does not serve: its own workers' sweep sends it
            if await executor.needs_task(pending.name):
                await queue.enqueue(pending.task)
                sent += 1
                log.info("worker %s: sent the task of %s %s, whose submit was cut short", self.worker_id,
                         pending.kind, pending.name)
            await self.outbox.settle(pending.task)
        return sent

    async def republish_events(self) -> int:
        """Put the state-change events whose publish failed (the bus did not answer); return how many."""
        if self.events is None:
            return 0
        # Well past the time a publish takes: a record this old will not be dropped by its publish.
        return await self.events.republish_overdue(timedelta(seconds=2 * self.settings.visibility_timeout))

    async def reap_dead_tasks(self) -> int:
        """Fail the jobs whose tasks SQS dead-lettered; return how many messages were reaped."""
        reaped = 0
        for queue in [self.tasks, *([self.orchestration] if self.orchestration else [])]:
            for task, msg in await queue.receive_dead():
                executor = self.executors.get(task.kind)
                if executor is not None:
                    await executor.fail_lost(task.name, (
                        f"InternalServerError: the job's task was dead-lettered after {msg.receive_count} "
                        f"deliveries; its workers stopped responding"))
                    reaped += 1
                    await queue.done(msg, dead=True)
        return reaped


class _Attempt:
    """One claimed run of a task's job in this worker, and how it ended if it was cut short: taken over by
    another worker (:attr:`lost`), or handed back as this worker stops (:attr:`handed_back`)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.claim: Claim | None = None
        self.run: asyncio.Task[None] | None = None
        self.lost: ClaimLost | None = None
        self.handed_back = False
        self._cut: bool = False

    def give_up(self, lost: ClaimLost) -> None:
        """Another worker holds the job: stop the run (its executor stops its containers)."""
        self.lost = lost
        self._cut_short()

    def hand_back(self) -> None:
        """The worker is stopping: stop the run (its executor stops its containers) to hand the job back."""
        self._cut_short()
        self.handed_back = self.lost is None

    def _cut_short(self) -> None:
        if self.run is not None and not self.run.done():
            self._cut = True
            self.run.cancel()

    async def finished(self) -> None:
        """Wait for the run; a run stopped by :meth:`give_up` or :meth:`hand_back` ends quietly."""
        assert self.run is not None
        try:
            await self.run
        except asyncio.CancelledError:
            if not self._cut:
                raise  # the worker itself is being cancelled
            return
        self.handed_back = False  # it finished before it could be cut short: nothing to hand back
