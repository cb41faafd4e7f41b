"""A worker that lost its claim on a job writes nothing more to it (the fence of the claiming executor).

Two workers, one job: the first claims it and stalls; once its heartbeat is
stale the second claims it. From then on the first one's heartbeat and every
write its attempt makes are refused with ``ClaimLost``, while the second
runs the job as usual.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.core.exceptions import ClaimLost
from services.core.job_service import acting_for
from services.core.store import DocumentStore, MemoryBackend
from services.training.executor import TrainingJobExecutor
from services.training.models import SecondaryStatus, TrainingJob, TrainingJobStatus
from services.training.service import TrainingService
from tests.unit.test_training_service import Clock, Recorder, request

STALE = timedelta(seconds=2)


@pytest.fixture
async def taken_over() -> tuple[TrainingService, TrainingJobExecutor, object, object]:
    """A job claimed by w1, then, after w1's heartbeat went stale, by w2."""
    rec, clock = Recorder(), Clock()
    service = TrainingService(DocumentStore(MemoryBackend(), "training-jobs", TrainingJob, "Training job"), rec,
                              rec, region="us-east-1", account_id="123456789012", clock=clock)  # type: ignore[arg-type]
    await service.create_training_job(request("held"))
    executor = TrainingJobExecutor.__new__(TrainingJobExecutor)
    executor.training = service
    first = await executor.claim("held", "w1", clock.now, STALE)
    second = await executor.claim("held", "w2", clock.now + timedelta(seconds=60), STALE)
    assert first and second
    return service, executor, first, second


async def test_the_worker_that_lost_its_claim_cannot_heartbeat(taken_over: tuple) -> None:
    service, executor, first, second = taken_over
    before = (await service.describe_training_job("held")).headwater
    with pytest.raises(ClaimLost):
        await executor.beat(first, before.heartbeat_at + timedelta(seconds=1))
    after = (await service.describe_training_job("held")).headwater
    assert (after.worker, after.attempts, after.heartbeat_at) == ("w2", 2, before.heartbeat_at)
    await executor.beat(second, before.heartbeat_at + timedelta(seconds=1))  # the holder beats as usual


async def test_the_attempt_that_lost_its_claim_cannot_finish_the_job(taken_over: tuple) -> None:
    service, executor, first, second = taken_over
    with acting_for(first), pytest.raises(ClaimLost):
        await service.transition("held", TrainingJobStatus.COMPLETED, SecondaryStatus.COMPLETED, "done")
    with acting_for(first), pytest.raises(ClaimLost):
        await service.transition("held", secondary=SecondaryStatus.UPLOADING, message="Uploading")
    assert (await service.describe_training_job("held")).training_job_status is TrainingJobStatus.IN_PROGRESS
    with acting_for(second):
        await service.transition("held", TrainingJobStatus.COMPLETED, SecondaryStatus.COMPLETED, "done")
    assert (await service.describe_training_job("held")).training_job_status is TrainingJobStatus.COMPLETED


async def test_a_fence_guards_only_the_job_it_was_claimed_for(taken_over: tuple) -> None:
    service, executor, first, second = taken_over
    await service.create_training_job(request("other"))
    with acting_for(first):  # an attempt may still stop or edit other jobs (a tuning job its children)
        await service.stop_training_job("other")
    assert (await service.describe_training_job("other")).training_job_status is TrainingJobStatus.STOPPING
