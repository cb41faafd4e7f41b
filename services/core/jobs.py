"""What every job document shares: its statuses, the bookkeeping a claiming worker keeps on it, and
the surface :mod:`services.core.job_service` and the executors read, whatever a kind names its fields.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, Protocol

from services.core.models import ApiModel


class JobRuntime(ApiModel):
    """Headwater's own bookkeeping on a job document (never in Describe).

    The worker that claimed the job, how many attempts it has had, its last
    heartbeat and the last platform error; whether its last worker handed it
    back; and a stop the user asked for, which the executor running the job
    acts on.
    """

    attempts: int = 0
    worker: str | None = None
    stop_requested: bool = False
    heartbeat_at: datetime | None = None
    last_error: str | None = None
    handed_back: bool = False  # its last worker stopped (Ctrl-C) and released it: the next claim resumes it


class JobStatus(str, Enum):
    """A job's status: ``TrainingJobStatus``, ``ProcessingJobStatus``, ``TransformJobStatus`` and
    ``HyperParameterTuningJobStatus`` take the same values."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"

    @property
    def is_terminal(self) -> bool:
        """True once the job can no longer change."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)


class JobDocument(Protocol):
    """What every job document offers, whatever its kind's field names (:class:`JobFields`)."""

    creation_time: datetime
    last_modified_time: datetime
    tags: list[dict[str, str]] | None
    headwater: JobRuntime

    @property
    def name(self) -> str: ...

    @property
    def arn(self) -> str: ...

    @property
    def status(self) -> JobStatus: ...

    def enter(self, status: JobStatus, now: datetime) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class JobFields:
    """The shared surface of a job document, over the names its kind gives its fields.

    A document class names them (``name_field = "training_job_name"`` and so
    on); :class:`JobService` and the executors then read every kind alike.
    """

    name_field: ClassVar[str]
    arn_field: ClassVar[str]
    status_field: ClassVar[str]
    end_time_field: ClassVar[str]
    last_modified_time: datetime

    @property
    def name(self) -> str:
        """The job's name (``TrainingJobName``...)."""
        return str(getattr(self, self.name_field))

    @property
    def arn(self) -> str:
        """The job's ARN."""
        return str(getattr(self, self.arn_field))

    @property
    def status(self) -> JobStatus:
        """The job's status."""
        return JobStatus(getattr(self, self.status_field))

    def enter(self, status: JobStatus, now: datetime) -> None:
        """Move to ``status``; a final status stamps the end time, once."""
        setattr(self, self.status_field, status)
        self.last_modified_time = now
        if status.is_terminal and getattr(self, self.end_time_field) is None:
            setattr(self, self.end_time_field, now)
