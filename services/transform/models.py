"""Transform job shapes, as botocore's SageMaker service model names them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from services.core.jobs import JobFields, JobRuntime, JobStatus
from services.core.models import ApiModel

# ``TransformJobStatus``: the values every job kind shares.
TransformJobStatus = JobStatus


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


class TransformJob(JobFields, CreateTransformJobRequest):
    """The job document: ``DescribeTransformJob`` plus bookkeeping."""

    name_field: ClassVar[str] = "transform_job_name"
    arn_field: ClassVar[str] = "transform_job_arn"
    status_field: ClassVar[str] = "transform_job_status"
    end_time_field: ClassVar[str] = "transform_end_time"

    transform_job_arn: str
    transform_job_status: TransformJobStatus = TransformJobStatus.IN_PROGRESS
    failure_reason: str | None = None
    creation_time: datetime
    last_modified_time: datetime
    transform_start_time: datetime | None = None
    transform_end_time: datetime | None = None
    headwater: JobRuntime = Field(default_factory=JobRuntime)

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
