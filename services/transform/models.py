"""Transform job shapes, as botocore's SageMaker service model names them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import Field

from services.core.jobs import JobRuntime
from services.core.models import ApiModel


class TransformJobStatus(str, Enum):
    """``TransformJobStatus``."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"

    @property
    def is_terminal(self) -> bool:
        """True once the job can no longer change."""
        return self in (TransformJobStatus.COMPLETED, TransformJobStatus.FAILED, TransformJobStatus.STOPPED)


class TransformS3DataSource(ApiModel):
    """``TransformS3DataSource``."""

    s3_data_type: str = "S3Prefix"
    s3_uri: str


class TransformDataSource(ApiModel):
    """``TransformDataSource``."""

    s3_data_source: TransformS3DataSource


class TransformInput(ApiModel):
    """``TransformInput``."""

    data_source: TransformDataSource
    content_type: str | None = None
    compression_type: str = "None"
    split_type: str = "None"


class TransformOutput(ApiModel):
    """``TransformOutput``."""

    s3_output_path: str
    accept: str | None = None
    assemble_with: str = "None"
    kms_key_id: str | None = None


class TransformResources(ApiModel):
    """``TransformResources``."""

    instance_type: str
    instance_count: int = 1


class ModelClientConfig(ApiModel):
    """``ModelClientConfig`` (SageMaker's defaults: 600 s, 3 retries)."""

    invocations_timeout_in_seconds: int = 600
    invocations_max_retries: int = 3


class DataProcessing(ApiModel):
    """``DataProcessing``."""

    input_filter: str = "$"
    output_filter: str = "$"
    join_source: str = "None"


class CreateTransformJobRequest(ApiModel):
    """``CreateTransformJobRequest``."""

    transform_job_name: str
    model_name: str
    transform_input: TransformInput
    transform_output: TransformOutput
    transform_resources: TransformResources
    max_concurrent_transforms: int | None = None
    max_payload_in_mb: int | None = Field(default=None, alias="MaxPayloadInMB")
    batch_strategy: str | None = None
    model_client_config: ModelClientConfig | None = None
    environment: dict[str, str] | None = None
    data_processing: DataProcessing | None = None
    tags: list[dict[str, str]] | None = None


class TransformJob(CreateTransformJobRequest):
    """The job document: ``DescribeTransformJob`` plus bookkeeping."""

    transform_job_arn: str
    transform_job_status: TransformJobStatus = TransformJobStatus.IN_PROGRESS
    failure_reason: str | None = None
    creation_time: datetime
    last_modified_time: datetime
    transform_start_time: datetime | None = None
    transform_end_time: datetime | None = None
    headwater: JobRuntime = Field(default_factory=JobRuntime)

    @property
    def name(self) -> str:
        """The job's name."""
        return self.transform_job_name

    @property
    def arn(self) -> str:
        """The job's ARN."""
        return self.transform_job_arn

    @property
    def status(self) -> TransformJobStatus:
        """The job's status."""
        return self.transform_job_status

    def enter(self, status: TransformJobStatus, now: datetime) -> None:
        """Move to ``status``; a final status stamps the end time once."""
        self.transform_job_status = status
        self.last_modified_time = now
        if status.is_terminal:
            self.transform_end_time = self.transform_end_time or now

    def describe(self) -> dict[str, Any]:
        """The ``DescribeTransformJob`` response."""
        doc = self.to_api()
        for key in ("Tags", "Headwater", "LastModifiedTime"):
            doc.pop(key, None)
        return doc

    def summary(self) -> dict[str, Any]:
        """A ``TransformJobSummary``."""
        out: dict[str, Any] = {"TransformJobName": self.transform_job_name, "TransformJobArn": self.transform_job_arn,
                               "CreationTime": self.creation_time, "LastModifiedTime": self.last_modified_time,
                               "TransformJobStatus": self.transform_job_status.value}
        if self.transform_end_time:
            out["TransformEndTime"] = self.transform_end_time
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        return out
