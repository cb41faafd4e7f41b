"""The transform job service: create, describe, list, stop, and statuses.

The job skeleton (:class:`services.core.job_service.JobService`) publishes "SageMaker
Transform Job State Change" with the Describe response as ``detail`` for
every status change and hands a new job to the workers as a ``transform``
task; this adds the request checks (the model must exist) and SageMaker's
stop, which leaves a finished job as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

from services.aws.s3 import parse_s3_uri
from services.core.events import Publisher
from services.core.exceptions import ResourceNotFound, ValidationException
from services.core.job_service import JobService
from services.core.store import DocumentStore
from services.core.task_outbox import TaskOutbox
from services.core.tasks import TaskQueue
from services.core.times import utcnow
from services.transform.dataproc import DataProcessingError, parse_path
from services.transform.models import CreateTransformJobRequest, TransformJob

DETAIL_TYPE = "SageMaker Transform Job State Change"
TASK_KIND = "transform"


class TransformService(JobService[TransformJob]):
    """``CreateTransformJob`` and friends."""

    resource_type = "transform-job"
    label = "transform job"
    detail_type = DETAIL_TYPE
    task_kind = TASK_KIND

    def __init__(self, store: DocumentStore[TransformJob], tasks: TaskQueue, publisher: Publisher,
                 model_exists: Callable[[str], Awaitable[bool]], *, region: str, account_id: str,
                 clock: Callable[[], datetime] = utcnow, outbox: TaskOutbox | None = None) -> None:
        super().__init__(store, tasks, publisher, region=region, account_id=account_id, clock=clock, outbox=outbox)
        self.model_exists = model_exists

    async def create_transform_job(self, request: CreateTransformJobRequest) -> TransformJob:
        """Record a job and enqueue it."""
        await self._check(request)
        now = self.clock()
        job = TransformJob(**request.model_dump(by_alias=True, exclude_none=True),
                           TransformJobArn=self.arn(request.transform_job_name), CreationTime=now,
                           LastModifiedTime=now)
        return await self.submit(job)

    async def _check(self, request: CreateTransformJobRequest) -> None:
        if not await self.model_exists(request.model_name):
            model_arn = f"arn:aws:sagemaker:{self.region}:{self.account_id}:model/{request.model_name.lower()}"
            raise ValidationException(f"Could not find model \"{model_arn}\".")
        parse_s3_uri(request.transform_input.data_source.s3_data_source.s3_uri)
        parse_s3_uri(request.transform_output.s3_output_path)
        if request.data_processing:
            try:
                parse_path(request.data_processing.input_filter)
                parse_path(request.data_processing.output_filter)
            except DataProcessingError as err:
                raise ValidationException(str(err)) from err
        if request.max_payload_in_mb is not None and request.max_payload_in_mb > 100:
            raise ValidationException("MaxPayloadInMB must be at most 100")

    async def describe_transform_job(self, name: str) -> TransformJob:
        """The job, or ``ResourceNotFound``."""
        job = await self.store.get(name)
        if job is None:
            raise ResourceNotFound(f"Could not find job to update with name {name}")
        return job

    async def stop_transform_job(self, name: str) -> None:
        """Ask the job's worker to stop it; stopping a finished job is a no-op, as SageMaker's is."""
        await self.describe_transform_job(name)
        with contextlib.suppress(ValidationException):  # raised for a finished job only
            await self.request_stop(name)
