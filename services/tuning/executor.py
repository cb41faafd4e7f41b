"""Running tuning jobs on the workers: the ``tuning`` job kind.

A worker's orchestration slot runs a tuning job's loop (:mod:`services.tuning.run`);
orchestration slots are separate from the training slots, so a tuning job
never waits for a slot its own children need. Claims, heartbeats and the
bookkeeping of lost workers live on the tuning job's document, as a
training job's do on its own.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from services.core.exceptions import ResourceNotFound, ValidationException
from services.execution.executor import HeldElsewhere
from services.tuning.intermediate import IntermediateSource
from services.tuning.models import TuningJob, TuningJobStatus
from services.tuning.run import Finish, TuningRun, finish_job
from services.tuning.service import TuningService


class TuningJobExecutor:
    """Runs tuning jobs for a worker (:class:`services.execution.executor.JobExecutor`, kind ``tuning``)."""

    kind = "tuning"

    def __init__(self, tuning: TuningService, intermediate: IntermediateSource, *, poll_seconds: float = 1.0,
                 save_curves_every: float = 5.0) -> None:
        self.tuning = tuning
        self.intermediate = intermediate
        self.poll_seconds = poll_seconds
        self.save_curves_every = save_curves_every
        self.closing = asyncio.Event()

    def interrupt(self) -> None:
        """Make running orchestrations hand their tasks back (the worker is stopping)."""
        self.closing.set()

    async def execute(self, name: str) -> None:
        """Run tuning job ``name`` to a terminal status."""
        job = await self.tuning.describe_tuning_job(name)
        if job.status.is_terminal:
            return
        await TuningRun(self, job).run()

    async def claim(self, name: str, worker_id: str, now: datetime, stale_after: timedelta) -> bool:
        """Take the job in one conditional write (see :class:`services.execution.executor.JobExecutor`)."""
        job = await self.tuning.store.get(name)
        if job is None or job.status.is_terminal:
            return False

        def take(j: TuningJob) -> TuningJob:
            hb = j.headwater.heartbeat_at
            if j.headwater.worker not in (None, worker_id) and hb is not None and now - hb < stale_after:
                raise HeldElsewhere(j.headwater.worker)
            j.headwater.worker = worker_id
            j.headwater.attempts += 1
            j.headwater.heartbeat_at = now
            return j

        await self.tuning.store.update(name, take)
        return True

    async def beat(self, name: str, now: datetime) -> None:
        """Record the claiming worker's heartbeat on the job."""

        def mark(j: TuningJob) -> TuningJob:
            j.headwater.heartbeat_at = now
            return j

        await self.tuning.store.update(name, mark)

    async def record_error(self, name: str, error: str) -> None:
        """Keep the last platform error, for the reason if the job is given up."""

        def mark(j: TuningJob) -> TuningJob:
            j.headwater.last_error = error
            return j

        await self.tuning.store.update(name, mark)

    async def fail_lost(self, name: str, reason: str) -> None:
        """Fail a tuning job whose orchestration cannot run any more (its workers kept dying)."""
        job = await self.tuning.store.get(name)
        if job is None or job.status.is_terminal:
            return
        if job.headwater.last_error:
            reason += f" (last error: {job.headwater.last_error})"
        for t in job.headwater.trials:
            if t.created and not t.status.is_terminal:
                try:
                    await self.tuning.training.stop_training_job(t.name)
                except (ValidationException, ResourceNotFound):
                    pass
        await finish_job(self.tuning, name, Finish(TuningJobStatus.FAILED, reason), job.headwater.trials)
