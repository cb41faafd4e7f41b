"""The processing job service: ``CreateProcessingJob`` and friends.

Job documents are created conditionally (a name is used once), moved through
their statuses with a "SageMaker Processing Job State Change" event for every
change, and handed to the workers as ``processing`` tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from services.aws.s3 import parse_s3_uri
from services.core.events import Publisher, event_detail
from services.core.exceptions import ResourceNotFound, ValidationException
from services.core.paging import page
from services.core.store import DocumentStore
from services.core.tags import TagAccess
from services.core.tasks import Task, TaskQueue
from services.core.times import utcnow
from services.processing.models import CreateProcessingJobRequest, ProcessingJob, ProcessingJobStatus

log = logging.getLogger(__name__)

DETAIL_TYPE = "SageMaker Processing Job State Change"
KIND = "processing"
PROCESSING_ROOT = PurePosixPath("/opt/ml/processing")


def check_local_path(path: str | None, what: str) -> None:
    """A ``LocalPath`` must lie under ``/opt/ml/processing/``, as SageMaker requires."""
    if path is None:
        raise ValidationException(f"{what}: LocalPath is required")
    p = PurePosixPath(path)
    if not p.is_absolute() or ".." in p.parts or not p.is_relative_to(PROCESSING_ROOT) or p == PROCESSING_ROOT:
        raise ValidationException(f"{what}: LocalPath {path!r} must be a directory under {PROCESSING_ROOT}/")


class ProcessingService:
    """Processing jobs over a store, the task queue and the event bus."""

    def __init__(self, store: DocumentStore[ProcessingJob], tasks: TaskQueue, publisher: Publisher,
                 *, region: str, account_id: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.tasks = tasks
        self.publisher = publisher
        self.region = region
        self.account_id = account_id
        self.clock = clock

    def arn(self, name: str) -> str:
        """The job's ARN (lower-cased name, as SageMaker writes it)."""
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:processing-job/{name.lower()}"

    async def create_processing_job(self, request: CreateProcessingJobRequest) -> ProcessingJob:
        """Record a new job and enqueue it; :class:`ResourceInUse` if the name exists."""
        self._check(request)
        now = self.clock()
        job = ProcessingJob(**request.model_dump(by_alias=True, exclude_none=True),
                            ProcessingJobArn=self.arn(request.processing_job_name),
                            CreationTime=now, LastModifiedTime=now)
        await self.store.create(job.processing_job_name, job)
        await self._publish(job)
        await self.tasks.enqueue(Task(kind=KIND, name=job.processing_job_name))
        return job

    @staticmethod
    def _check(request: CreateProcessingJobRequest) -> None:
        names: list[str] = []
        for i, inp in enumerate(request.processing_inputs or []):
            names.append(inp.input_name)
            if inp.s3_input is None:
                raise ValidationException(f"ProcessingInputs[{i}]: only S3Input is supported")
            parse_s3_uri(inp.s3_input.s3_uri)
            check_local_path(inp.s3_input.local_path, f"ProcessingInputs[{i}] ({inp.input_name})")
            if inp.s3_input.s3_compression_type == "Gzip" and inp.s3_input.s3_input_mode != "Pipe":
                # SageMaker decompresses only what it streams.
                raise ValidationException(f"ProcessingInputs[{i}] ({inp.input_name}): S3CompressionType Gzip can "
                                          f"only be used when S3InputMode is Pipe")
        for i, out in enumerate((request.processing_output_config.outputs if request.processing_output_config
                                 else None) or []):
            names.append(out.output_name)
            if out.s3_output is None:
                raise ValidationException(f"ProcessingOutputConfig.Outputs[{i}]: only S3Output is supported")
            parse_s3_uri(out.s3_output.s3_uri)
            check_local_path(out.s3_output.local_path, f"ProcessingOutputConfig.Outputs[{i}] ({out.output_name})")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValidationException(f"Input and output names must be unique: {dupes}")

    async def describe_processing_job(self, name: str) -> ProcessingJob:
        """The job, or :class:`ResourceNotFound`."""
        return await self.store.require(name)

    async def list_processing_jobs(self, *, status_equals: str | None = None, name_contains: str | None = None,
                                   creation_time_after: datetime | None = None,
                                   creation_time_before: datetime | None = None,
                                   last_modified_time_after: datetime | None = None,
                                   last_modified_time_before: datetime | None = None,
                                   sort_by: str = "CreationTime", sort_order: str = "Ascending",
                                   max_results: int = 10, next_token: str | None = None
                                   ) -> tuple[list[ProcessingJob], str | None]:
        """Filter, sort and page the jobs as ``ListProcessingJobs`` does."""
        jobs = await self.store.list()
        tests: list[Callable[[ProcessingJob], bool]] = []
        if status_equals:
            tests.append(lambda j: j.processing_job_status.value == status_equals)
        if name_contains:
            tests.append(lambda j: name_contains.lower() in j.processing_job_name.lower())
        if creation_time_after:
            tests.append(lambda j: j.creation_time > creation_time_after)
        if creation_time_before:
            tests.append(lambda j: j.creation_time < creation_time_before)
        if last_modified_time_after:
            tests.append(lambda j: j.last_modified_time > last_modified_time_after)
        if last_modified_time_before:
            tests.append(lambda j: j.last_modified_time < last_modified_time_before)
        jobs = [j for j in jobs if all(t(j) for t in tests)]
        keys: dict[str, Callable[[ProcessingJob], Any]] = {
            "Name": lambda j: j.processing_job_name,
            "CreationTime": lambda j: (j.creation_time, j.processing_job_name),
            "Status": lambda j: (j.processing_job_status.value, j.creation_time),
        }
        jobs.sort(key=keys[sort_by], reverse=sort_order == "Descending")
        return page(jobs, max_results, next_token)

    async def stop_processing_job(self, name: str) -> None:
        """Ask the job's worker to stop it (SIGTERM, then SIGKILL after a grace)."""

        def mark(job: ProcessingJob) -> ProcessingJob | None:
            if job.processing_job_status is ProcessingJobStatus.STOPPING:
                return None
            if job.processing_job_status.is_terminal:
                raise ValidationException(f"The request was rejected because the processing job is in status "
                                          f"{job.processing_job_status.value}.")
            job.headwater.stop_requested = True
            job.processing_job_status = ProcessingJobStatus.STOPPING
            job.last_modified_time = self.clock()
            return job

        before, after = await self.store.update(name, mark)
        if after is not before:
            await self._publish(after)

    async def transition(self, name: str, status: ProcessingJobStatus | None = None,
                         edit: Callable[[ProcessingJob], None] | None = None) -> ProcessingJob:
        """Apply ``edit`` and a status; publish when the status changed. Finished jobs never change."""
        now = self.clock()

        def mutate(job: ProcessingJob) -> ProcessingJob | None:
            if job.processing_job_status.is_terminal:
                return None
            if edit:
                edit(job)
            job.last_modified_time = now
            if status is not None:
                job.processing_job_status = status
                if status.is_terminal:
                    job.processing_end_time = job.processing_end_time or now
            return job

        before, after = await self.store.update(name, mutate)
        if before.processing_job_status != after.processing_job_status:
            await self._publish(after)
        return after

    def tag_access(self) -> TagAccess:
        """How ``AddTags`` / ``ListTags`` / ``DeleteTags`` reach a job's tags."""

        async def find(name: str) -> ProcessingJob:
            job = await self.store.get(name) or next(
                (j for j in await self.store.list() if j.processing_job_name.lower() == name.lower()), None)
            if job is None:
                raise ResourceNotFound(f"Requested resource not found: Processing job {name} does not exist")
            return job

        async def get(name: str) -> list[dict[str, str]]:
            return list((await find(name)).tags or [])

        async def update(name: str, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
            real = (await find(name)).processing_job_name

            def mutate(job: ProcessingJob) -> ProcessingJob:
                job.tags = change(list(job.tags or []))
                return job

            await self.store.update(real, mutate)

        return TagAccess(get=get, update=update)

    async def _publish(self, job: ProcessingJob) -> None:
        try:
            await self.publisher.publish(DETAIL_TYPE, event_detail(job.describe()), [job.processing_job_arn])
        except Exception:  # noqa: BLE001 - the store is the source of truth; a lost event is logged
            log.exception("could not publish state change of %s", job.processing_job_name)

