"""Pipeline shapes: a pipeline and its versions, an execution and the steps it ran.

A pipeline document keeps every version of its definition (``UpdatePipeline``
adds one); an execution document is the whole state of one run, advanced by
read-modify-writes with optimistic concurrency, so every step's status,
the job it started and that job's Describe* response (the ``Steps.<name>``
properties later steps read) live in one place.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import Field

from services.core.models import ApiModel


class ExecutionStatus(str, Enum):
    """``PipelineExecutionStatus``."""

    EXECUTING = "Executing"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"

    @property
    def is_terminal(self) -> bool:
        """True once the execution no longer changes (unless retried)."""
        return self in (ExecutionStatus.STOPPED, ExecutionStatus.FAILED, ExecutionStatus.SUCCEEDED)


class StepStatus(str, Enum):
    """``StepStatus``."""

    STARTING = "Starting"
    EXECUTING = "Executing"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"

    @property
    def is_terminal(self) -> bool:
        """True once the step no longer changes."""
        return self in (StepStatus.STOPPED, StepStatus.FAILED, StepStatus.SUCCEEDED)


class PipelineVersion(ApiModel):
    """One version of a pipeline's definition (``ListPipelineVersions``)."""

    pipeline_version_id: int
    pipeline_definition: str
    creation_time: datetime
    pipeline_version_display_name: str | None = None
    pipeline_version_description: str | None = None
    last_execution_pipeline_execution_arn: str | None = None


class Pipeline(ApiModel):
    """A pipeline document (``DescribePipeline``), with every version of its definition."""

    pipeline_name: str
    pipeline_arn: str
    pipeline_display_name: str | None = None
    pipeline_description: str | None = None
    role_arn: str
    pipeline_status: str = "Active"
    creation_time: datetime
    last_modified_time: datetime
    last_run_time: datetime | None = None
    parallelism_configuration: dict[str, Any] | None = None
    tags: list[dict[str, str]] | None = None
    versions: list[PipelineVersion] = Field(default_factory=list, alias="HeadwaterVersions")
    client_request_token: str | None = Field(default=None, alias="HeadwaterClientRequestToken")

    @property
    def latest(self) -> PipelineVersion:
        """The newest version (what an execution runs unless told otherwise)."""
        return self.versions[-1]

    def version(self, version_id: int | None) -> PipelineVersion | None:
        """Version ``version_id`` (the latest when ``None``), or ``None`` when there is no such version."""
        if version_id is None:
            return self.latest
        return next((v for v in self.versions if v.pipeline_version_id == version_id), None)

    def describe(self, version: PipelineVersion) -> dict[str, Any]:
        """The ``DescribePipeline`` response for ``version``."""
        doc = {k: v for k, v in self.to_api().items()
               if k not in ("Tags", "HeadwaterVersions", "HeadwaterClientRequestToken")}
        doc["PipelineDefinition"] = version.pipeline_definition
        doc["PipelineDisplayName"] = self.pipeline_display_name or self.pipeline_name
        if version.pipeline_version_display_name:
            doc["PipelineVersionDisplayName"] = version.pipeline_version_display_name
        if version.pipeline_version_description:
            doc["PipelineVersionDescription"] = version.pipeline_version_description
        return doc

    def summary(self) -> dict[str, Any]:
        """A ``PipelineSummary``."""
        out = {"PipelineArn": self.pipeline_arn, "PipelineName": self.pipeline_name,
               "PipelineDisplayName": self.pipeline_display_name or self.pipeline_name,
               "RoleArn": self.role_arn, "CreationTime": self.creation_time,
               "LastModifiedTime": self.last_modified_time}
        if self.pipeline_description:
            out["PipelineDescription"] = self.pipeline_description
        if self.last_run_time:
            out["LastExecutionTime"] = self.last_run_time
        return out


class StepRun(ApiModel):
    """One step of an execution: what ``ListPipelineExecutionSteps`` shows, and Headwater's bookkeeping.

    ``claim`` names the advance that marked the step ``Starting`` and ``claimed_at`` when: that advance
    performs the start; another takes it over only once the claim is older than a grace period (its
    advance died), so a start that is not idempotent (a model package version) is made once.
    """

    step_name: str
    step_type: str
    step_display_name: str | None = None
    step_description: str | None = None
    step_status: StepStatus
    start_time: datetime
    end_time: datetime | None = None
    attempt_count: int = 1
    failure_reason: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    cache_hit_result: dict[str, Any] | None = None
    selective_execution_result: dict[str, Any] | None = None  # a step a selective execution reused
    # Headwater's own, never listed:
    resource_name: str | None = Field(default=None, alias="HeadwaterResourceName")
    properties: dict[str, Any] | None = Field(default=None, alias="HeadwaterProperties")
    outcome: bool | None = Field(default=None, alias="HeadwaterOutcome")
    cache_key: str | None = Field(default=None, alias="HeadwaterCacheKey")
    claim: str | None = Field(default=None, alias="HeadwaterClaim")
    claimed_at: datetime | None = Field(default=None, alias="HeadwaterClaimedAt")
    # RetryPolicies: the retries made so far, and when the next attempt may start.
    retries: int = Field(default=0, alias="HeadwaterRetries")
    retry_at: datetime | None = Field(default=None, alias="HeadwaterRetryAt")
    # A Callback step's "Stopping" message went out.
    stop_sent: bool = Field(default=False, alias="HeadwaterStopSent")

    def listed(self) -> dict[str, Any]:
        """The ``PipelineExecutionStep`` entry."""
        return {k: v for k, v in self.to_api().items() if not k.startswith("Headwater")}


class PipelineExecution(ApiModel):
    """An execution document (``DescribePipelineExecution``) with the state of each of its steps."""

    pipeline_execution_id: str = Field(alias="HeadwaterExecutionId")
    pipeline_name: str = Field(alias="HeadwaterPipelineName")
    pipeline_arn: str
    pipeline_execution_arn: str
    pipeline_execution_display_name: str | None = None
    pipeline_execution_description: str | None = None
    pipeline_execution_status: ExecutionStatus
    pipeline_experiment_config: dict[str, str] | None = None
    failure_reason: str | None = None
    creation_time: datetime
    last_modified_time: datetime
    end_time: datetime | None = Field(default=None, alias="HeadwaterEndTime")
    parallelism_configuration: dict[str, Any] | None = None
    selective_execution_config: dict[str, Any] | None = None
    pipeline_version_id: int
    pipeline_definition: str = Field(alias="HeadwaterDefinition")
    parameters: list[dict[str, str]] = Field(default_factory=list, alias="HeadwaterParameters")
    steps: list[StepRun] = Field(default_factory=list, alias="HeadwaterSteps")
    # Attempts of the steps a RetryPipelineExecution took back, so their next attempt counts on.
    attempts_before: dict[str, int] = Field(default_factory=dict, alias="HeadwaterAttemptsBefore")
    client_request_tokens: list[str] = Field(default_factory=list, alias="HeadwaterClientRequestTokens")

    def step(self, name: str) -> StepRun | None:
        """The step run named ``name``, or ``None`` while it has not started."""
        return next((s for s in self.steps if s.step_name == name), None)

    @property
    def selected_steps(self) -> set[str] | None:
        """The steps a selective execution runs, or ``None`` when it runs them all."""
        config = self.selective_execution_config
        return None if not config else {s["StepName"] for s in config.get("SelectedSteps") or []}

    @property
    def max_parallel_steps(self) -> int | None:
        """``MaxParallelExecutionSteps``, or ``None`` for no limit."""
        return (self.parallelism_configuration or {}).get("MaxParallelExecutionSteps")

    def describe(self) -> dict[str, Any]:
        """The ``DescribePipelineExecution`` response."""
        return {k: v for k, v in self.to_api().items() if not k.startswith("Headwater")}

    def index_summary(self) -> dict[str, Any]:
        """What the store's index keeps of the execution: enough to find the unfinished ones, list a
        pipeline's executions and pick the cache candidates without reading any other execution. Only
        execution-level fields, so a step's progress never rewrites the index."""
        return {"Status": self.pipeline_execution_status.value, "PipelineName": self.pipeline_name,
                "Arn": self.pipeline_execution_arn, "CreationTime": self.creation_time.isoformat()}

    def summary(self) -> dict[str, Any]:
        """A ``PipelineExecutionSummary``."""
        out: dict[str, Any] = {"PipelineExecutionArn": self.pipeline_execution_arn, "StartTime": self.creation_time,
                               "PipelineExecutionStatus": self.pipeline_execution_status.value}
        if self.pipeline_execution_display_name:
            out["PipelineExecutionDisplayName"] = self.pipeline_execution_display_name
        if self.pipeline_execution_description:
            out["PipelineExecutionDescription"] = self.pipeline_execution_description
        if self.failure_reason:
            out["PipelineExecutionFailureReason"] = self.failure_reason
        return out


class CallbackWait(ApiModel):
    """Which step a ``CallbackToken`` belongs to, written before the token is sent, so the step's
    ``SendPipelineExecutionStep*`` call finds its execution with one read."""

    pipeline_execution_id: str
    step_name: str
    attempt_count: int


class EndpointWait(ApiModel):
    """Which execution's Endpoint step waits for an endpoint (named by the user, so its name carries no
    execution): written before the endpoint is created or updated, so its state-change event finds the
    execution with one read. The latest step to deploy the endpoint holds it."""

    pipeline_execution_id: str
    step_name: str
