"""What a worker needs from each kind of job.

A task names a job kind (``training``, ``processing``, ``transform``,
``tuning``) and a job name; the worker hands it to that kind's
:class:`JobExecutor`. Claims, heartbeats and failure bookkeeping live with
the job's own document, so each kind keeps its own statuses; they are
written once, in :class:`ClaimingExecutor`. A claim is fenced: the worker
runs the attempt as its :class:`~services.core.job_service.Claim`, and a
worker that stalled and was taken over finds out at its next heartbeat or
write (:class:`~services.core.exceptions.ClaimLost`) and stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from services.aws.session import UNREACHABLE_ERRORS
from services.core.job_service import Claim, JobService
from services.core.jobs import JobDocument, JobRuntime

log = logging.getLogger(__name__)

FAILURE_REASON_MAX = 1024  # SageMaker's FailureReason limit


class HeldElsewhere(Exception):
    """The job is claimed by another live worker."""


class HandedBack(Exception):
    """The attempt stopped because its worker is stopping: the job goes back to the queue for the next one."""


class JobExecutor(Protocol):
    """One job kind, as the worker drives it."""

    kind: str

    async def claim(self, name: str, worker_id: str, now: datetime, stale_after: timedelta) -> Claim | None:
        """Take the job for ``worker_id`` in one conditional write; the attempt it may now run.

        Returns ``None`` when the job is gone or finished; raises
        :class:`HeldElsewhere` when a live worker holds it. A claim of a job
        an earlier worker had taken marks it as restarting.
        """

    async def execute(self, name: str) -> None:
        """Run the job to a terminal status (as its claim's attempt: see ``acting_for``)."""

    async def beat(self, claim: Claim, now: datetime) -> None:
        """Record that the claiming worker is alive; :class:`ClaimLost` once another worker holds the job."""

    async def release(self, claim: Claim) -> None:
        """Give the job up (its worker is stopping) so that the next worker claims it at once."""

    async def record_error(self, name: str, error: str, claim: Claim | None = None) -> None:
        """Note a platform error on the job (it will be retried), unless ``claim`` no longer holds it."""

    async def fail_lost(self, name: str, reason: str) -> None:
        """Fail a job whose task cannot run any more; a no-op when it is finished."""

    async def needs_task(self, name: str) -> bool:
        """Whether the job still waits for its first task (it exists, is not finished, was never claimed)."""


J = TypeVar("J", bound=JobDocument)
T = TypeVar("T")


class ClaimingExecutor(Generic[J]):
    """The :class:`JobExecutor` bookkeeping every kind shares, on the job's own document.

    A kind sets :attr:`kind`, names its :class:`JobService` as :attr:`jobs`
    and writes :meth:`execute` and :meth:`fail`; a kind whose jobs resume in a
    particular way when their worker died overrides :meth:`restart`.
    """

    kind: ClassVar[str]
    # How long an attempt waits out an AWS endpoint that does not answer before it gives up (its task is then
    # retried, which runs the job again): long enough for an emulator restart or a network blip.
    unreachable_grace_seconds: float = 120.0
    unreachable_retry_seconds: float = 1.0

    @property
    def jobs(self) -> JobService[J]:
        """The kind's job service, whose documents hold the claims."""
        raise NotImplementedError

    async def claim(self, name: str, worker_id: str, now: datetime, stale_after: timedelta) -> Claim | None:
        """Take the job in one conditional write (see :meth:`JobExecutor.claim`)."""
        job = await self.jobs.store.get(name)
        if job is None or job.status.is_terminal:
            return None

        def take(runtime: JobRuntime) -> None:
            hb = runtime.heartbeat_at
            if runtime.worker not in (None, worker_id) and hb is not None and now - hb < stale_after:
                raise HeldElsewhere(runtime.worker)
            runtime.worker = worker_id
            runtime.attempts += 1
            runtime.heartbeat_at = now
            runtime.handed_back = False

        if job.headwater.attempts > 0:
            claimed = await self.restart(job, take)
        else:
            claimed = await self.jobs.update_runtime(name, take)
        if claimed.status.is_terminal or claimed.headwater.worker != worker_id:
            return None  # it finished meanwhile
        return Claim(self.kind, name, worker_id, claimed.headwater.attempts)

    async def restart(self, job: J, take: Callable[[JobRuntime], None]) -> J:
        """Claim a job an earlier worker had taken and lost (``take`` records the claim); it runs again."""
        return await self.jobs.update_runtime(job.name, take)

    async def beat(self, claim: Claim, now: datetime) -> None:
        """Record the claiming worker's heartbeat; :class:`ClaimLost` when another worker took the job over."""

        def mark(runtime: JobRuntime) -> None:
            if not claim.holds(runtime):
                raise claim.lost(runtime)
            runtime.heartbeat_at = now

        await self.jobs.update_runtime(claim.name, mark)

    async def release(self, claim: Claim) -> None:
        """Give the job up for the next worker (see :meth:`JobExecutor.release`); a no-op once another holds it."""

        def free(runtime: JobRuntime) -> None:
            if claim.holds(runtime):
                runtime.worker, runtime.heartbeat_at, runtime.handed_back = None, None, True

        await self.jobs.update_runtime(claim.name, free)

    async def record_error(self, name: str, error: str, claim: Claim | None = None) -> None:
        """Keep the last platform error, for the reason if the job is given up; not on a job the attempt
        no longer holds."""

        def mark(runtime: JobRuntime) -> None:
            if claim is None or claim.holds(runtime):
                runtime.last_error = error

        await self.jobs.update_runtime(name, mark)

    async def fail_lost(self, name: str, reason: str) -> None:
        """Fail a job whose task cannot run any more (its workers kept dying), with its last error."""
        job = await self.jobs.store.get(name)
        if job is None or job.status.is_terminal:
            return
        if job.headwater.last_error:
            reason += f" (last error: {job.headwater.last_error})"
        await self.fail(name, reason)

    async def needs_task(self, name: str) -> bool:
        """Whether the job still waits for its first task (see :meth:`JobExecutor.needs_task`)."""
        job = await self.jobs.store.get(name)
        return job is not None and not job.status.is_terminal and job.headwater.attempts == 0

    async def wait_out_unreachable(self, name: str, step: Callable[[], Awaitable[T]]) -> T:
        """Run ``step``, one of job ``name``'s writes that is safe to repeat, again while the AWS endpoint does
        not answer, for up to :attr:`unreachable_grace_seconds`; then its error is raised.

        For the writes that record what an attempt's containers did: giving up on them would leave the task to
        be retried, which runs the job again from the start. A write on behalf of an attempt that was taken
        over meanwhile is still refused (``ClaimLost``), so waiting never lets a stale attempt write."""
        deadline = time.monotonic() + self.unreachable_grace_seconds
        while True:
            try:
                return await step()
            except UNREACHABLE_ERRORS as err:
                if time.monotonic() >= deadline:
                    raise
                log.warning("%s job %s: the AWS endpoint does not answer (%s); trying again in %.0f s",
                            self.kind, name, err, self.unreachable_retry_seconds)
            await asyncio.sleep(self.unreachable_retry_seconds)

    async def fail(self, name: str, reason: str) -> Any:
        """Fail the job with ``reason`` as its ``FailureReason``."""
        raise NotImplementedError

    async def execute(self, name: str) -> Any:
        """Run the job to a terminal status."""
        raise NotImplementedError
