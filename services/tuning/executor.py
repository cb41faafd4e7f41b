"""Running tuning jobs on the workers: the ``tuning`` job kind.

A worker's orchestration slot runs a tuning job's loop (:mod:`services.tuning.run`);
orchestration slots are separate from the training slots, so a tuning job
never waits for a slot its own children need. Claims, heartbeats and the
bookkeeping of lost workers live on the tuning job's document
(:class:`services.execution.executor.ClaimingExecutor`), as every kind's do.
"""

from __future__ import annotations

import asyncio

from services.core.exceptions import ResourceNotFound, ValidationException
from services.execution.executor import ClaimingExecutor
from services.tuning.intermediate import IntermediateSource
from services.tuning.models import TuningJob, TuningJobStatus
from services.tuning.run import Finish, TuningRun, finish_job
from services.tuning.service import TuningService


class TuningJobExecutor(ClaimingExecutor[TuningJob]):
    """Runs tuning jobs for a worker (:class:`services.execution.executor.JobExecutor`, kind ``tuning``)."""

    kind = "tuning"

    def __init__(self, tuning: TuningService, intermediate: IntermediateSource, *, poll_seconds: float = 1.0,
                 sweep_seconds: float = 15.0, save_curves_every: float = 5.0) -> None:
        self.tuning = tuning
        self.intermediate = intermediate
        self.poll_seconds = poll_seconds
        self.sweep_seconds = sweep_seconds
        self.save_curves_every = save_curves_every
        self.closing = asyncio.Event()

    @property
    def jobs(self) -> TuningService:
        """The tuning job service, whose documents this executor claims."""
        return self.tuning

    def interrupt(self) -> None:
        """Make running orchestrations hand their tasks back (the worker is stopping)."""
        self.closing.set()

    async def execute(self, name: str) -> None:
        """Run tuning job ``name`` to a terminal status."""
        job = await self.tuning.describe_tuning_job(name)
        if job.status.is_terminal:
            return
        await TuningRun(self, job).run()

    async def fail(self, name: str, reason: str) -> None:
        """Fail a tuning job whose orchestration cannot run any more; its running children are stopped."""
        job = await self.tuning.describe_tuning_job(name)
        for t in job.headwater.trials:
            if t.created and not t.status.is_terminal:
                try:
                    await self.tuning.training.stop_training_job(t.name)
                except (ValidationException, ResourceNotFound):
                    pass  # it finished meanwhile
        await finish_job(self.tuning, name, Finish(TuningJobStatus.FAILED, reason), job.headwater.trials)
