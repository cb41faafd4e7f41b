"""What a worker needs from each kind of job.

A task names a job kind (``training``, and later ``transform``,
``processing``, ``tuning``...) and a job name; the worker hands it to that
kind's :class:`JobExecutor`. Claims, heartbeats and failure bookkeeping live
with the job's own document, so each kind keeps its own statuses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol


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


async def claim_document(store: Any, name: str, worker_id: str, now: datetime, stale_after: timedelta,
                         is_terminal: Callable[[Any], bool]) -> Any | None:
    """The usual claim for a job document with a ``headwater: JobRuntime`` field.

    In one conditional update: refuse (``HeldElsewhere``) when a live worker
    holds it, else record this worker, the attempt and a heartbeat. Returns
    the claimed document, or ``None`` when it is gone or finished.
    """
    job = await store.get(name)
    if job is None or is_terminal(job):
        return None

    def take(j: Any) -> Any:
        if is_terminal(j):
            return None
        hb = j.headwater.heartbeat_at
        if j.headwater.worker not in (None, worker_id) and hb is not None and now - hb < stale_after:
            raise HeldElsewhere(j.headwater.worker)
        j.headwater.worker = worker_id
        j.headwater.attempts += 1
        j.headwater.heartbeat_at = now
        return j

    _, after = await store.update(name, take)
    return None if is_terminal(after) else after
