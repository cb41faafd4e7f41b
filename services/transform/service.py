"""The transform job service: create, describe, list, stop, and statuses.

Every status change publishes "SageMaker Transform Job State Change" with the
Describe response as ``detail``; a new job is handed to the workers as a
``transform`` task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.aws.s3 import parse_s3_uri
from services.core.events import Publisher, event_detail
from services.core.exceptions import ResourceNotFound, ValidationException
from services.core.paging import page
from services.core.store import DocumentStore
from services.core.tags import TagAccess
from services.core.tasks import Task, TaskQueue
from services.core.times import utcnow
from services.transform.dataproc import DataProcessingError, parse_path
from services.transform.models import CreateTransformJobRequest, TransformJob, TransformJobStatus

log = logging.getLogger(__name__)

DETAIL_TYPE = "SageMaker Transform Job State Change"
TASK_KIND = "transform"


class TransformService:
    """``CreateTransformJob`` and friends."""

    def __init__(self, store: DocumentStore[TransformJob], tasks: TaskQueue, publisher: Publisher,
                 model_exists: Callable[[str], Any], *, region: str, account_id: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.tasks = tasks
        self.publisher = publisher
        self.model_exists = model_exists  # async (name) -> bool
        self.region = region
        self.account_id = account_id
        self.clock = clock

    def arn(self, name: str) -> str:
        """The job's ARN."""
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:transform-job/{name.lower()}"

    async def create_transform_job(self, request: CreateTransformJobRequest) -> TransformJob:
        """Record a job and enqueue it."""
        await self._check(request)
        now = self.clock()
        job = TransformJob(**request.model_dump(by_alias=True, exclude_none=True),
                           TransformJobArn=self.arn(request.transform_job_name), CreationTime=now,
                           LastModifiedTime=now)
        await self.store.create(job.transform_job_name, job)
        await self._publish(job)
        await self.tasks.enqueue(Task(kind=TASK_KIND, name=job.transform_job_name))
        return job

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

    async def list_transform_jobs(self, params: dict[str, Any]) -> tuple[list[TransformJob], str | None]:
        """Filter, sort and page as ``ListTransformJobs``."""
        from services.core.times import parse_time

        jobs = await self.store.list()
        bounds = {k: parse_time(params.get(k)) for k in ("CreationTimeAfter", "CreationTimeBefore",
                                                          "LastModifiedTimeAfter", "LastModifiedTimeBefore")}
        contains = (params.get("NameContains") or "").lower()
        jobs = [j for j in jobs
                if contains in j.transform_job_name.lower()
                and (not params.get("StatusEquals") or j.transform_job_status.value == params["StatusEquals"])
                and (bounds["CreationTimeAfter"] is None or j.creation_time > bounds["CreationTimeAfter"])
                and (bounds["CreationTimeBefore"] is None or j.creation_time < bounds["CreationTimeBefore"])
                and (bounds["LastModifiedTimeAfter"] is None or j.last_modified_time > bounds["LastModifiedTimeAfter"])
                and (bounds["LastModifiedTimeBefore"] is None
                     or j.last_modified_time < bounds["LastModifiedTimeBefore"])]
        keys: dict[str, Callable[[TransformJob], Any]] = {
            "Name": lambda j: j.transform_job_name,
            "CreationTime": lambda j: (j.creation_time, j.transform_job_name),
            "Status": lambda j: (j.transform_job_status.value, j.creation_time),
        }
        jobs.sort(key=keys[params.get("SortBy", "CreationTime")], reverse=params.get("SortOrder") == "Descending")
        return page(jobs, int(params.get("MaxResults", 10)), params.get("NextToken"))

    async def stop_transform_job(self, name: str) -> None:
        """Ask the job's worker to stop it."""
        await self.describe_transform_job(name)

        def mark(job: TransformJob) -> TransformJob | None:
            if job.transform_job_status is not TransformJobStatus.IN_PROGRESS:
                return None  # stopping a finished job is a no-op, as SageMaker's is
            job.headwater.stop_requested = True
            job.transform_job_status = TransformJobStatus.STOPPING
            job.last_modified_time = self.clock()
            return job

        before, after = await self.store.update(name, mark)
        if after is not before:
            await self._publish(after)

    async def transition(self, name: str, status: TransformJobStatus | None = None,
                         edit: Callable[[TransformJob], None] | None = None) -> TransformJob:
        """Apply a change; publish when the status moved; terminal jobs never change."""

        def mutate(job: TransformJob) -> TransformJob | None:
            if job.transform_job_status.is_terminal:
                return None
            if edit:
                edit(job)
            now = self.clock()
            job.last_modified_time = now
            if status is not None:
                job.transform_job_status = status
                if status.is_terminal:
                    job.transform_end_time = now
            return job

        before, after = await self.store.update(name, mutate)
        if before.transform_job_status != after.transform_job_status:
            await self._publish(after)
        return after

    def tag_access(self) -> TagAccess:
        """Tags by (ARN) name."""

        async def find(name: str) -> TransformJob:
            job = await self.store.get(name) or next(
                (j for j in await self.store.list() if j.transform_job_name.lower() == name.lower()), None)
            if job is None:
                raise ResourceNotFound(f"Transform job {name} does not exist")
            return job

        async def get(name: str) -> list[dict[str, str]]:
            return list((await find(name)).tags or [])

        async def update(name: str, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
            real = (await find(name)).transform_job_name

            def mutate(job: TransformJob) -> TransformJob:
                job.tags = change(list(job.tags or []))
                return job

            await self.store.update(real, mutate)

        return TagAccess(get=get, update=update)

    async def _publish(self, job: TransformJob) -> None:
        try:
            await self.publisher.publish(DETAIL_TYPE, event_detail(job.describe()), [job.transform_job_arn])
        except Exception:  # noqa: BLE001 - the store is the truth; a lost event is logged
            log.exception("could not publish state change of %s", job.transform_job_name)
