"""Spot-style interruption of training jobs, and how their time is billed.

Managed spot training can lose its instances at any moment; the job then
shows ``Interrupted``, waits for capacity (``Restarting``) and runs again,
resuming from the checkpoints it synced to S3. Headwater interrupts a job
on request (:func:`interrupt_training_job`, the fault-injection control
behind ``headwater interrupt``) or when the worker running it dies.

Time is reported as SageMaker defines it: ``TrainingTimeInSeconds`` is the
wall-clock time from the start of training to its end, interruptions and
waits included; for a spot job ``BillableTimeInSeconds`` is only the time its
instances actually ran (every attempt's run, summed), so
``1 - Billable / Training`` is what spot saved.
"""

from __future__ import annotations

from collections.abc import Callable

from services.core.exceptions import ValidationException
from services.training.models import TrainingJob, TrainingJobStatus
from services.training.service import TrainingService


async def interrupt_training_job(training: TrainingService, name: str) -> TrainingJob:
    """Ask the worker running job ``name`` to interrupt it (it will restart and resume).

    Raises :class:`ValidationException` when the job is not running.
    """

    def mark(job: TrainingJob) -> TrainingJob:
        if job.training_job_status is not TrainingJobStatus.IN_PROGRESS:
            raise ValidationException(f"Training job {name} cannot be interrupted: it is "
                                      f"{job.training_job_status.value}")
        job.headwater.interrupt_requested = True
        return job

    _, after = await training.store.update(name, mark)
    return after


def lost_attempt_seconds(job: TrainingJob) -> float:
    """Seconds an attempt whose worker died ran: from its start to the last heartbeat."""
    started, last = job.headwater.attempt_started_at, job.headwater.heartbeat_at
    if started is None or last is None or last < started:
        return 0.0
    return (last - started).total_seconds()


def billable_edit(job: TrainingJob, current_attempt_seconds: float) -> Callable[[TrainingJob], None]:
    """An edit that sets ``BillableTimeInSeconds`` on a spot job's final transition (a no-op otherwise)."""

    def edit(j: TrainingJob) -> None:
        if j.enable_managed_spot_training:
            j.billable_time_in_seconds = max(1, round(j.headwater.billable_seconds + current_attempt_seconds))

    return edit if job.enable_managed_spot_training else (lambda j: None)
