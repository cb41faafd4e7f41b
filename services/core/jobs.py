"""What every job kind shares: the bookkeeping a claiming worker keeps on the job's document."""

from __future__ import annotations

from datetime import datetime

from services.core.models import ApiModel


class JobRuntime(ApiModel):
    """Headwater's own bookkeeping on a job document (never in Describe).

    The worker that claimed the job, how many attempts it has had, its last
    heartbeat and the last platform error; and a stop the user asked for,
    which the executor running the job acts on.
    """

    attempts: int = 0
    worker: str | None = None
    stop_requested: bool = False
    heartbeat_at: datetime | None = None
    last_error: str | None = None
