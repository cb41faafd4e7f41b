"""Constructing the monitoring service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from infra.settings import Settings
from services.aws.s3 import S3Adapter
from services.monitoring.models import JobDefinition, MonitoringExecution, MonitoringSchedule
from services.monitoring.service import MonitoringService
from services.store import DocumentStore, S3Backend
from services.tags import TagService
from services.training import Publisher


def build_monitoring(settings: Settings, s3: S3Adapter, publisher: Publisher, tags: TagService, processing: Any,
                     hosting: Any, clock: Callable[[], datetime]) -> MonitoringService:
    """The monitoring service over the system bucket."""

    def store(collection: str, model: type, kind: str) -> DocumentStore[Any]:
        return DocumentStore(S3Backend(s3, settings.system_bucket), collection, model, kind)

    service = MonitoringService(
        store("monitoring-job-definitions", JobDefinition, "Job definition"),
        store("monitoring-schedules", MonitoringSchedule, "Monitoring schedule"),
        store("monitoring-executions", MonitoringExecution, "Monitoring execution"),
        processing, hosting, s3, publisher, region=settings.region, account_id=settings.account_id, clock=clock)
    tags.register("monitoring-schedule", service.tag_access())
    return service
