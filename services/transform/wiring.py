"""Constructing the transform service and its executor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from infra.settings import Settings
from services.aws.s3 import S3Adapter
from services.store import DocumentStore, S3Backend
from services.tags import TagService
from services.tasks import TaskQueue
from services.training import Publisher
from services.transform.executor import TransformJobExecutor
from services.transform.models import TransformJob
from services.transform.service import TransformService
from services.runners.base import Runner


def build_transform(settings: Settings, s3: S3Adapter, tasks: TaskQueue, publisher: Publisher, tags: TagService,
                    hosting: Any, clock: Callable[[], datetime]) -> TransformService:
    """The transform service; models are looked up in ``hosting``."""

    async def model_exists(name: str) -> bool:
        try:
            await hosting.describe_model(name)
        except Exception:  # noqa: BLE001 - any lookup failure means "no such model"
            return False
        return True

    service = TransformService(
        DocumentStore(S3Backend(s3, settings.system_bucket), "transform-jobs", TransformJob, "Transform job"),
        tasks, publisher, model_exists, region=settings.region, account_id=settings.account_id, clock=clock)
    tags.register("transform-job", service.tag_access())
    return service


def transform_executor(settings: Settings, services: Any, runner: Runner) -> TransformJobExecutor:
    """The worker's executor of ``transform`` tasks."""
    return TransformJobExecutor(settings, services.transform, services.hosting.describe_model, services.s3,
                                services.logs, runner)
