"""Processing job shapes, as botocore's SageMaker service model names them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from services.core.jobs import JobFields, JobRuntime, JobStatus
from services.core.models import ApiModel

# ``ProcessingJobStatus``: the values every job kind shares.
ProcessingJobStatus = JobStatus


class ProcessingS3Input(ApiModel):
    """``ProcessingS3Input``."""

    s3_uri: str
    local_path: str | None = None
    s3_data_type: str = "S3Prefix"
    s3_input_mode: str | None = None
    s3_data_distribution_type: str | None = None
    s3_compression_type: str | None = None


class ProcessingInput(ApiModel):
    """One ``ProcessingInputs`` entry."""

    input_name: str
    app_managed: bool | None = None
    s3_input: ProcessingS3Input | None = None


class ProcessingS3Output(ApiModel):
    """``ProcessingS3Output``."""

    s3_uri: str
    local_path: str | None = None
    s3_upload_mode: str = "EndOfJob"


class ProcessingOutput(ApiModel):
    """One ``ProcessingOutputConfig.Outputs`` entry."""

    output_name: str
    s3_output: ProcessingS3Output | None = None
    app_managed: bool | None = None


class ProcessingOutputConfig(ApiModel):
    """``ProcessingOutputConfig``."""

    outputs: list[ProcessingOutput]
    kms_key_id: str | None = None


class AppSpecification(ApiModel):
    """``AppSpecification``: the image and, optionally, its entrypoint and arguments."""

    image_uri: str
    container_entrypoint: list[str] | None = None
    container_arguments: list[str] | None = None


class ProcessingClusterConfig(ApiModel):
    """``ProcessingClusterConfig``."""

    instance_count: int = 1
    instance_type: str | None = None
    volume_size_in_gb: int = Field(default=30, alias="VolumeSizeInGB")


class ProcessingResources(ApiModel):
    """``ProcessingResources``."""

    cluster_config: ProcessingClusterConfig


class ProcessingStoppingCondition(ApiModel):
    """``ProcessingStoppingCondition`` (SageMaker's default: a day)."""

    max_runtime_in_seconds: int = 86400


class CreateProcessingJobRequest(ApiModel):
    """``CreateProcessingJobRequest`` (fields not modelled round-trip as extras)."""

    processing_job_name: str
    processing_resources: ProcessingResources
    app_specification: AppSpecification
    role_arn: str
    processing_inputs: list[ProcessingInput] | None = None
    processing_output_config: ProcessingOutputConfig | None = None
    stopping_condition: ProcessingStoppingCondition | None = None
    environment: dict[str, str] | None = None
    tags: list[dict[str, str]] | None = None


_NOT_DESCRIBED = {"Tags", "Headwater"}


class ProcessingJob(JobFields, CreateProcessingJobRequest):
    """The job document: what ``DescribeProcessingJob`` returns, plus bookkeeping."""

    name_field: ClassVar[str] = "processing_job_name"
    arn_field: ClassVar[str] = "processing_job_arn"
    status_field: ClassVar[str] = "processing_job_status"
    end_time_field: ClassVar[str] = "processing_end_time"

    processing_job_arn: str
    processing_job_status: ProcessingJobStatus = ProcessingJobStatus.IN_PROGRESS
    exit_message: str | None = None
    failure_reason: str | None = None
    creation_time: datetime
    processing_start_time: datetime | None = None
    processing_end_time: datetime | None = None
    last_modified_time: datetime
    headwater: JobRuntime = Field(default_factory=JobRuntime)

    def describe(self) -> dict[str, Any]:
        """The ``DescribeProcessingJob`` response."""
        doc = self.to_api()
        for key in _NOT_DESCRIBED:
            doc.pop(key, None)
        return doc

    def summary(self) -> dict[str, Any]:
        """A ``ProcessingJobSummary`` for ``ListProcessingJobs``."""
        out: dict[str, Any] = {
            "ProcessingJobName": self.processing_job_name,
            "ProcessingJobArn": self.processing_job_arn,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "ProcessingJobStatus": self.processing_job_status.value,
        }
        for key, value in (("ProcessingEndTime", self.processing_end_time), ("FailureReason", self.failure_reason),
                           ("ExitMessage", self.exit_message)):
            if value:
                out[key] = value
        return out
