"""The training job service: the domain logic behind the SageMaker API.

The job skeleton (:class:`services.core.job_service.JobService`) creates documents
(conditionally: a name is used once), publishes a "SageMaker Training Job
State Change" event for every change and hands new jobs to the workers;
this adds the request checks and ``SecondaryStatusTransitions``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.aws.s3 import parse_s3_uri
from services.core.exceptions import ResourceNotFound, ValidationException
from services.core.job_service import JobService, ListJobsQuery, job_summary
from services.core.store_index import Summary
from services.inputs.models import Channel
from services.training.metrics import check_metric_definitions
from services.training.models import (
    CreateTrainingJobRequest,
    SecondaryStatus,
    SecondaryStatusTransition,
    TrainingJob,
    TrainingJobStatus,
)

DETAIL_TYPE = "SageMaker Training Job State Change"


class TrainingService(JobService[TrainingJob]):
    """``CreateTrainingJob`` and friends, over a store, a task queue and a bus."""

    resource_type = "training-job"
    label = "training job"
    detail_type = DETAIL_TYPE
    task_kind = "training"

    async def create_training_job(self, request: CreateTrainingJobRequest, *,
                                  starting_note: str | None = None) -> TrainingJob:
        """Record a new job and enqueue it; :class:`ResourceInUse` if the name exists.

        ``starting_note``: what its creator wants the job to say from the start (a tuning trial whose
        hyperparameters were drawn at random), appended to the ``Starting`` transition's ``StatusMessage``.
        """
        self._check(request)
        now = self.clock()
        message = "Preparing the instances for training"
        if starting_note:
            message = f"{message}. {starting_note}"
        job = TrainingJob(
            **request.model_dump(by_alias=True, exclude_none=True),
            TrainingJobArn=self.arn(request.training_job_name),
            CreationTime=now,
            LastModifiedTime=now,
            SecondaryStatusTransitions=[SecondaryStatusTransition(
                status=SecondaryStatus.STARTING, start_time=now, status_message=message)],
        )
        return await self.submit(job)

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
        check_metric_definitions(spec.metric_definitions)
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

    @staticmethod
    def summary(job: TrainingJob) -> Summary:
        """What the training jobs' index keeps: the list fields, and the model artifact (lineage looks a
        job up by it)."""
        found = job_summary(job)
        if job.model_artifacts is not None:
            found["a"] = job.model_artifacts.s3_model_artifacts
        return found

    async def find_generator(self, arn: str, artifacts: set[str]) -> TrainingJob | None:
        """The job whose ARN is ``arn`` or whose model artifact is one of ``artifacts`` (the job behind a
        model package), or ``None``: by name from the ARN, else from the index, reading no other job."""
        prefix = self.arn("")
        if arn.lower().startswith(prefix):
            with contextlib.suppress(ResourceNotFound):
                job = await self.find(arn[len(prefix):])
                if job.training_job_arn == arn:
                    return job
        if not artifacts:
            return None
        if self.store.index is None:
            return next((j for j in await self.store.list()
                         if j.model_artifacts and j.model_artifacts.s3_model_artifacts in artifacts), None)
        names = sorted(n for n, s in (await self.store.summaries()).items() if s.get("a") in artifacts)
        return next(iter(await self.store.get_many(names[:1])), None)

    async def describe_training_job(self, name: str) -> TrainingJob:
        """The job, or :class:`ResourceNotFound` (names match case-insensitively, as in ARNs)."""
        return await self.find(name)

    async def list_training_jobs(self, **query: Any) -> tuple[list[TrainingJob], str | None]:
        """``ListTrainingJobs``, the :class:`ListJobsQuery` fields given as keywords."""
        return await self.list_jobs(ListJobsQuery(**query))

    async def stop_training_job(self, name: str) -> None:
        """Ask the job's worker to stop it (SIGTERM, then SIGKILL after a grace)."""
        await self.request_stop(name)

    def mark_stopping(self, job: TrainingJob, now: datetime) -> None:
        """``Stopping``, with the secondary status SageMaker shows."""
        job.enter(TrainingJobStatus.STOPPING, now, SecondaryStatus.STOPPING, "Stopping the training job")

    async def transition(self, name: str, status: TrainingJobStatus | None = None,  # type: ignore[override]
                         secondary: SecondaryStatus | None = None, message: str = "",
                         edit: Callable[[TrainingJob], None] | None = None) -> TrainingJob:
        """Move the job to a (secondary) status, apply ``edit``, publish if either status changed."""

        def mutate(job: TrainingJob) -> TrainingJob | None:
            if job.training_job_status.is_terminal:
                return None  # a finished job never changes again
            if edit:
                edit(job)
            job.enter(status, self.clock(), secondary, message)
            return job

        return await self.modify(name, mutate)

    def changed(self, before: TrainingJob, after: TrainingJob) -> bool:
        """Every secondary status is an event too, as SageMaker's are."""
        return (before.training_job_status, before.secondary_status) != (after.training_job_status,
                                                                          after.secondary_status)


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
