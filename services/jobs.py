"""What a worker needs from each kind of job.

A task names a job kind (``training``, and later ``transform``,
``processing``, ``tuning``...) and a job name; the worker hands it to that
kind's :class:`JobExecutor`. Claims, heartbeats and failure bookkeeping live
with the job's own document, so each kind keeps its own statuses.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol


class HeldElsewhere(Exception):
    """The job is claimed by another live worker."""


class JobExecutor(Protocol):
    """One job kind, as the worker drives it."""

    kind: str

    async def claim(self, name: str, worker_id: str, now: datetime, stale_after: timedelta) -> bool:
        """Take the job for ``worker_id`` in one conditional write.

        Returns False when the job is gone or finished; raises
        :class:`HeldElsewhere` when a live worker holds it. A claim of a job
        an earlier worker had taken marks it as restarting.
        """

    async def execute(self, name: str) -> None:
        """Run the job to a terminal status."""

    async def beat(self, name: str, now: datetime) -> None:
        """Record that the claiming worker is alive."""

    async def record_error(self, name: str, error: str) -> None:
        """Note a platform error on the job (it will be retried)."""

    async def fail_lost(self, name: str, reason: str) -> None:
        """Fail a job whose task cannot run any more; a no-op when it is finished."""
