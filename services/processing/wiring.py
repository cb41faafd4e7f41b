"""Building the processing service over shared adapters (called by ``services.app``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from infra.settings import Settings
from services.aws.s3 import S3Adapter
from services.processing.models import ProcessingJob
from services.processing.service import ProcessingService
from services.store import DocumentStore, S3Backend
from services.tags import TagService
from services.tasks import TaskQueue
from services.training import Publisher


def build_processing(settings: Settings, s3: S3Adapter, tasks: TaskQueue, publisher: Publisher, tags: TagService,
                     clock: Callable[[], datetime]) -> ProcessingService:
    """The processing service, its tags registered."""
    store = DocumentStore(S3Backend(s3, settings.system_bucket), "processing-jobs", ProcessingJob, "Processing job")
    service = ProcessingService(store, tasks, publisher, region=settings.region, account_id=settings.account_id,
                                clock=clock)
    tags.register("processing-job", service.tag_access())
    return service


def processing_executors(settings: Settings, services: object, runner: object) -> list:  # noqa: ANN401
    """The worker's ``processing`` executor over wired ``services`` (empty when not wired)."""
    from services.processing.execution import ProcessingJobExecutor

    processing = getattr(services, "processing", None)
    if processing is None:
        return []
    return [ProcessingJobExecutor(settings, processing, services.s3, services.logs, runner,
                                  cloudwatch=services.cloudwatch)]  # type: ignore[attr-defined]
