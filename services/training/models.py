"""Training job shapes, as botocore's SageMaker service model names them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, ClassVar

from pydantic import Field

from services.core.jobs import JobFields, JobRuntime, JobStatus
from services.core.models import ApiModel
from services.inputs.models import Channel

# ``TrainingJobStatus``: the values every job kind shares.
TrainingJobStatus = JobStatus


class SecondaryStatus(str, Enum):
    """``SecondaryStatus`` values Headwater goes through."""

    STARTING = "Starting"
    DOWNLOADING = "Downloading"
    TRAINING = "Training"
    UPLOADING = "Uploading"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
    RESTARTING = "Restarting"
    INTERRUPTED = "Interrupted"
    MAX_WAIT_TIME_EXCEEDED = "MaxWaitTimeExceeded"


class MetricDefinition(ApiModel):
    """``MetricDefinition``: a name and the regex that finds it in the log."""

    name: str
    regex: str


class AlgorithmSpecification(ApiModel):
    """``AlgorithmSpecification``."""

    training_image: str | None = None
    algorithm_name: str | None = None
    training_input_mode: str = "File"
    metric_definitions: list[MetricDefinition] | None = None
    container_entrypoint: list[str] | None = None
    container_arguments: list[str] | None = None


class OutputDataConfig(ApiModel):
    """``OutputDataConfig``."""

    s3_output_path: str
    kms_key_id: str | None = None


class ResourceConfig(ApiModel):
    """``ResourceConfig``."""

    instance_type: str | None = None
    instance_count: int = 1
    volume_size_in_gb: int = Field(default=30, alias="VolumeSizeInGB")


class StoppingCondition(ApiModel):
    """``StoppingCondition``."""

    max_runtime_in_seconds: int | None = 86400
    max_wait_time_in_seconds: int | None = None


class CheckpointConfig(ApiModel):
    """``CheckpointConfig``: checkpoints restored before start and synced to S3 while running."""

    s3_uri: str
    local_path: str | None = None


class CreateTrainingJobRequest(ApiModel):
    """``CreateTrainingJobRequest`` (fields not modelled round-trip as extras)."""

    training_job_name: str
    algorithm_specification: AlgorithmSpecification
    role_arn: str
    output_data_config: OutputDataConfig
    resource_config: ResourceConfig = Field(default_factory=ResourceConfig)
    stopping_condition: StoppingCondition = Field(default_factory=StoppingCondition)
    hyper_parameters: dict[str, str] | None = None
    input_data_config: list[Channel] | None = None
    environment: dict[str, str] | None = None
    tags: list[dict[str, str]] | None = None
    checkpoint_config: CheckpointConfig | None = None
    enable_managed_spot_training: bool | None = None
    enable_network_isolation: bool | None = None


class SecondaryStatusTransition(ApiModel):
    """One ``SecondaryStatusTransitions`` entry."""

    status: SecondaryStatus
    start_time: datetime
    end_time: datetime | None = None
    status_message: str = ""


class ModelArtifacts(ApiModel):
    """``ModelArtifacts``."""

    s3_model_artifacts: str


class MetricData(ApiModel):
    """One ``FinalMetricDataList`` entry."""

    metric_name: str
    value: float
    timestamp: datetime


class TrainingRuntime(JobRuntime):
    """A training job's bookkeeping: the claim's, plus its log stream and spot-style interruptions."""

    log_stream: str | None = None
    # Spot-style interruption: a fault-injection request, the count so far, and
    # the seconds the job's hosts actually ran (BillableTimeInSeconds for spot).
    interrupt_requested: bool = False
    interruptions: int = 0
    attempt_started_at: datetime | None = None
    billable_seconds: float = 0.0


# Describe* returns the request, minus these, plus the status fields.
_NOT_DESCRIBED = {"Tags", "Headwater"}


class TrainingJob(JobFields, CreateTrainingJobRequest):
    """The job document: what ``DescribeTrainingJob`` returns, plus bookkeeping."""

    name_field: ClassVar[str] = "training_job_name"
    arn_field: ClassVar[str] = "training_job_arn"
    status_field: ClassVar[str] = "training_job_status"
    end_time_field: ClassVar[str] = "training_end_time"

    training_job_arn: str
    training_job_status: TrainingJobStatus = TrainingJobStatus.IN_PROGRESS
    secondary_status: SecondaryStatus = SecondaryStatus.STARTING
    failure_reason: str | None = None
    model_artifacts: ModelArtifacts | None = None
    creation_time: datetime
    training_start_time: datetime | None = None
    training_end_time: datetime | None = None
    last_modified_time: datetime
    secondary_status_transitions: list[SecondaryStatusTransition] = Field(default_factory=list)
    final_metric_data_list: list[MetricData] | None = None
    training_time_in_seconds: int | None = None
    billable_time_in_seconds: int | None = None
    headwater: TrainingRuntime = Field(default_factory=TrainingRuntime)

    def enter(self, status: TrainingJobStatus | None, now: datetime, secondary: SecondaryStatus | None = None,
              message: str = "") -> None:
        """Move to ``status`` and ``secondary`` (closing the open transition when the secondary status
        moves); a final status stamps the end time and the training time once."""
        self.last_modified_time = now
        if status is not None:
            self.training_job_status = status
        transitions = self.secondary_status_transitions
        if secondary is not None and (secondary != self.secondary_status or message):
            if transitions and transitions[-1].end_time is None:
                transitions[-1].end_time = now
            self.secondary_status = secondary
            transitions.append(SecondaryStatusTransition(status=secondary, start_time=now, status_message=message))
        if self.training_job_status.is_terminal:
            if transitions and transitions[-1].end_time is None:
                transitions[-1].end_time = now
            self.training_end_time = self.training_end_time or now
            if self.training_start_time:
                self.training_time_in_seconds = max(
                    1, int((self.training_end_time - self.training_start_time).total_seconds()))
                # Spot jobs bill only the time their hosts ran; the executor sets that.
                if self.billable_time_in_seconds is None:
                    self.billable_time_in_seconds = self.training_time_in_seconds

    def describe(self) -> dict[str, Any]:
        """The ``DescribeTrainingJob`` response."""
        doc = self.to_api()
        for key in _NOT_DESCRIBED:
            doc.pop(key, None)
        doc.setdefault("ModelArtifacts", {"S3ModelArtifacts": ""})
        # SageMaker always returns KmsKeyId ("" without a key); the SDK's
        # Estimator.attach reads it unconditionally.
        doc["OutputDataConfig"].setdefault("KmsKeyId", "")
        return doc

    def summary(self) -> dict[str, Any]:
        """A ``TrainingJobSummary`` for ``ListTrainingJobs``."""
        out: dict[str, Any] = {
            "TrainingJobName": self.training_job_name,
            "TrainingJobArn": self.training_job_arn,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "TrainingJobStatus": self.training_job_status.value,
            "SecondaryStatus": self.secondary_status.value,
        }
        if self.training_end_time:
            out["TrainingEndTime"] = self.training_end_time
        return out
