"""The processing job service: ``CreateProcessingJob`` and friends.

The job skeleton (:class:`services.core.job_service.JobService`) creates documents
conditionally (a name is used once), publishes "SageMaker Processing Job
State Change" for every status change and hands new jobs to the workers as
``processing`` tasks; this adds the request checks.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from services.aws.s3 import parse_s3_uri
from services.core.exceptions import ValidationException
from services.core.job_service import JobService
from services.processing.models import CreateProcessingJobRequest, ProcessingJob, ProcessingStoppingCondition

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


class ProcessingService(JobService[ProcessingJob]):
    """Processing jobs over a store, the task queue and the event bus."""

    resource_type = "processing-job"
    label = "processing job"
    detail_type = DETAIL_TYPE
    task_kind = KIND

    async def create_processing_job(self, request: CreateProcessingJobRequest) -> ProcessingJob:
        """Record a new job and enqueue it; :class:`ResourceInUse` if the name exists."""
        self._check(request)
        now = self.clock()
        job = ProcessingJob(**request.model_dump(by_alias=True, exclude_none=True),
                            ProcessingJobArn=self.arn(request.processing_job_name),
                            CreationTime=now, LastModifiedTime=now)
        # SageMaker applies its default limit (a day) to a request without one, and Describe shows it.
        job.stopping_condition = job.stopping_condition or ProcessingStoppingCondition()
        return await self.submit(job)

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

    async def stop_processing_job(self, name: str) -> None:
        """Ask the job's worker to stop it (SIGTERM, then SIGKILL after a grace)."""
        await self.request_stop(name)
