"""The training job service: the domain logic behind the SageMaker API.

Creates job documents (conditionally: a name is used once), moves jobs
through their statuses with ``SecondaryStatusTransitions``, publishes a
"SageMaker Training Job State Change" event for every change, and hands
new jobs to the workers through the task queue.
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
from services.inputs.models import Channel
from services.training.models import (
    CreateTrainingJobRequest,
    SecondaryStatus,
    SecondaryStatusTransition,
    TrainingJob,
    TrainingJobStatus,
)

log = logging.getLogger(__name__)

DETAIL_TYPE = "SageMaker Training Job State Change"


class TrainingService:
    """``CreateTrainingJob`` and friends, over a store, a task queue and a bus."""

    def __init__(self, store: DocumentStore[TrainingJob], tasks: TaskQueue, publisher: Publisher,
                 *, region: str, account_id: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.tasks = tasks
        self.publisher = publisher
        self.region = region
        self.account_id = account_id
        self.clock = clock

    def arn(self, name: str) -> str:
        """The job's ARN (SageMaker lower-cases the name in ARNs)."""
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:training-job/{name.lower()}"

    async def create_training_job(self, request: CreateTrainingJobRequest) -> TrainingJob:
        """Record a new job and enqueue it; :class:`ResourceInUse` if the name exists."""
        self._check(request)
        now = self.clock()
        job = TrainingJob(
            **request.model_dump(by_alias=True, exclude_none=True),
            TrainingJobArn=self.arn(request.training_job_name),
            CreationTime=now,
            LastModifiedTime=now,
            SecondaryStatusTransitions=[SecondaryStatusTransition(
                status=SecondaryStatus.STARTING, start_time=now,
                status_message="Preparing the instances for training")],
        )
        await self.store.create(job.training_job_name, job)
        await self._publish(job)
        await self.tasks.enqueue(Task(name=job.training_job_name))
        return job

    def _check(self, request: CreateTrainingJobRequest) -> None:
        """Semantic checks the service model's constraints cannot express."""
        spec = request.algorithm_specification
        if not spec.training_image and not spec.algorithm_name:
            raise ValidationException("Either TrainingImage or AlgorithmName must be specified in AlgorithmSpecification")
        parse_s3_uri(request.output_data_config.s3_output_path)
        names = [c.channel_name for c in request.input_data_config or []]
        if len(names) != len(set(names)):
            raise ValidationException(f"Channel names must be unique: {names}")
        for ch in request.input_data_config or []:
            if ch.data_source.s3_data_source is None:
                raise ValidationException(f"Channel {ch.channel_name}: only S3DataSource is supported")
            parse_s3_uri(ch.data_source.s3_data_source.s3_uri)
            check_augmented_manifest(ch, ch.input_mode or spec.training_input_mode)
        for key, value in (request.hyper_parameters or {}).items():
            if not isinstance(value, str):
                raise ValidationException(f"Hyperparameter {key!r} must be a string")
        if request.checkpoint_config is not None:
            parse_s3_uri(request.checkpoint_config.s3_uri)
        if request.enable_managed_spot_training:
            wait = request.stopping_condition.max_wait_time_in_seconds
            if wait is None or wait < (request.stopping_condition.max_runtime_in_seconds or 0):
                raise ValidationException("Invalid MaxWaitTimeInSeconds. It must be present and be greater than or "
                                          "equal to MaxRuntimeInSeconds")

    async def describe_training_job(self, name: str) -> TrainingJob:
        """The job, or :class:`ResourceNotFound` (names match case-insensitively, as in ARNs)."""
        return await self.find(name)

    async def list_training_jobs(self, *, status_equals: str | None = None, name_contains: str | None = None,
                                 creation_time_after: datetime | None = None,
                                 creation_time_before: datetime | None = None,
                                 last_modified_time_after: datetime | None = None,
                                 last_modified_time_before: datetime | None = None,
                                 sort_by: str = "CreationTime", sort_order: str = "Ascending",
                                 max_results: int = 10, next_token: str | None = None
                                 ) -> tuple[list[TrainingJob], str | None]:
        """Filter, sort and page the jobs as ``ListTrainingJobs`` does."""
        jobs = await self.store.list()
        if status_equals:
            jobs = [j for j in jobs if j.training_job_status.value == status_equals]
        if name_contains:
            jobs = [j for j in jobs if name_contains.lower() in j.training_job_name.lower()]
        if creation_time_after:
            jobs = [j for j in jobs if j.creation_time > creation_time_after]
        if creation_time_before:
            jobs = [j for j in jobs if j.creation_time < creation_time_before]
        if last_modified_time_after:
            jobs = [j for j in jobs if j.last_modified_time > last_modified_time_after]
        if last_modified_time_before:
            jobs = [j for j in jobs if j.last_modified_time < last_modified_time_before]
        keys: dict[str, Callable[[TrainingJob], Any]] = {
            "Name": lambda j: j.training_job_name,
            "CreationTime": lambda j: (j.creation_time, j.training_job_name),
            "Status": lambda j: (j.training_job_status.value, j.creation_time),
        }
        jobs.sort(key=keys[sort_by], reverse=sort_order == "Descending")
        return page(jobs, max_results, next_token)

    async def stop_training_job(self, name: str) -> None:
        """Ask the job's worker to stop it (SIGTERM, then SIGKILL after a grace)."""

        def mark(job: TrainingJob) -> TrainingJob | None:
            if job.training_job_status is TrainingJobStatus.STOPPING:
                return None
            if job.training_job_status.is_terminal:
                raise ValidationException(
                    f"The request was rejected because the training job is in status {job.training_job_status.value}.")
            job.headwater.stop_requested = True
            _apply(job, self.clock(), TrainingJobStatus.STOPPING, SecondaryStatus.STOPPING, "Stopping the training job")
            return job

        before, after = await self.store.update(name, mark)
        if after is not before:
            await self._publish(after)

    async def transition(self, name: str, status: TrainingJobStatus | None = None,
                         secondary: SecondaryStatus | None = None, message: str = "",
                         edit: Callable[[TrainingJob], None] | None = None) -> TrainingJob:
        """Move the job to a (secondary) status, apply ``edit``, publish if anything changed."""

        def mutate(job: TrainingJob) -> TrainingJob | None:
            if job.training_job_status.is_terminal:
                return None  # a finished job never changes again
            if edit:
                edit(job)
            _apply(job, self.clock(), status, secondary, message)
            return job

        before, after = await self.store.update(name, mutate)
        if (before.training_job_status, before.secondary_status) != (after.training_job_status, after.secondary_status):
            await self._publish(after)
        return after

    async def find(self, name: str) -> TrainingJob:
        """The job by name, or by the lower-cased name an ARN carries."""
        job = await self.store.get(name)
        if job is None:
            job = next((j for j in await self.store.list() if j.training_job_name.lower() == name.lower()), None)
        if job is None:
            raise ResourceNotFound(f"Requested resource not found: Training job {name} does not exist")
        return job

    def tag_access(self) -> TagAccess:
        """How ``AddTags`` / ``ListTags`` / ``DeleteTags`` reach a job's tags."""

        async def get(name: str) -> list[dict[str, str]]:
            return list((await self.find(name)).tags or [])

        async def update(name: str, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
            real = (await self.find(name)).training_job_name

            def mutate(job: TrainingJob) -> TrainingJob:
                job.tags = change(list(job.tags or []))
                return job

            await self.store.update(real, mutate)

        return TagAccess(get=get, update=update)

    async def _publish(self, job: TrainingJob) -> None:
        # The store is the source of truth; a lost event is logged, not fatal.
        try:
            await self.publisher.publish(DETAIL_TYPE, event_detail(job.describe()), [job.training_job_arn])
        except Exception:  # noqa: BLE001 - any publish failure must not fail the job
            log.exception("could not publish state change of %s", job.training_job_name)


def check_augmented_manifest(channel: Channel, mode: str | None) -> None:
    """SageMaker streams augmented manifests only through Pipe mode, and only the attributes named."""
    source = channel.data_source.s3_data_source
    if source is None or source.s3_data_type != "AugmentedManifestFile":
        return
    if (mode or "File") != "Pipe":
        raise ValidationException(f"Channel {channel.channel_name}: S3DataType AugmentedManifestFile is supported "
                                  f"only for channels using Pipe input mode, not {mode or 'File'}.")
    if not source.attribute_names:
        raise ValidationException(f"Channel {channel.channel_name}: S3DataType AugmentedManifestFile requires "
                                  f"AttributeNames.")


def _apply(job: TrainingJob, now: datetime, status: TrainingJobStatus | None,
           secondary: SecondaryStatus | None, message: str) -> None:
    """Set statuses in place, closing the open transition when the secondary status moves."""
    job.last_modified_time = now
    if status is not None:
        job.training_job_status = status
    if secondary is not None and (secondary != job.secondary_status or message):
        if job.secondary_status_transitions and job.secondary_status_transitions[-1].end_time is None:
            job.secondary_status_transitions[-1].end_time = now
        job.secondary_status = secondary
        job.secondary_status_transitions.append(
            SecondaryStatusTransition(status=secondary, start_time=now, status_message=message))
    if job.training_job_status.is_terminal:
        if job.secondary_status_transitions and job.secondary_status_transitions[-1].end_time is None:
            job.secondary_status_transitions[-1].end_time = now
        job.training_end_time = job.training_end_time or now
        if job.training_start_time:
            job.training_time_in_seconds = max(1, int((job.training_end_time - job.training_start_time).total_seconds()))
            # Spot jobs bill only the time their hosts ran; the executor sets that.
            if job.billable_time_in_seconds is None:
                job.billable_time_in_seconds = job.training_time_in_seconds

