"""Model Monitor documents: job definitions, schedules and executions.

Requests are kept as sent (Describe* returns them); Headwater adds the
status fields SageMaker reports, and its own bookkeeping (the next firing
time) under keys Describe never shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# The request key holding each definition kind's parts, by MonitoringType.
DEFINITION_KEYS = {
    "DataQuality": ("DataQualityAppSpecification", "DataQualityJobInput", "DataQualityJobOutputConfig",
                    "DataQualityBaselineConfig"),
    "ModelQuality": ("ModelQualityAppSpecification", "ModelQualityJobInput", "ModelQualityJobOutputConfig",
                     "ModelQualityBaselineConfig"),
}


class JobDefinition(BaseModel):
    """A ``Create{DataQuality,ModelQuality}JobDefinition`` request, as stored."""

    model_config = ConfigDict(extra="allow")

    monitoring_type: str
    request: dict[str, Any]
    arn: str
    creation_time: datetime

    @property
    def name(self) -> str:
        """``JobDefinitionName``."""
        return str(self.request["JobDefinitionName"])

    def describe(self) -> dict[str, Any]:
        """The Describe response."""
        doc = {k: v for k, v in self.request.items() if k != "Tags"}
        return {**doc, "JobDefinitionArn": self.arn, "CreationTime": self.creation_time}

    def summary(self, endpoint: str | None) -> dict[str, Any]:
        """A ``MonitoringJobDefinitionSummary``."""
        return {"MonitoringJobDefinitionName": self.name, "MonitoringJobDefinitionArn": self.arn,
                "CreationTime": self.creation_time, "EndpointName": endpoint or ""}

    def endpoint_name(self) -> str | None:
        """The endpoint its input reads."""
        parts = DEFINITION_KEYS[self.monitoring_type]
        return ((self.request.get(parts[1]) or {}).get("EndpointInput") or {}).get("EndpointName")


class MonitoringSchedule(BaseModel):
    """A monitoring schedule document."""

    model_config = ConfigDict(extra="allow")

    name: str
    arn: str
    status: str = "Scheduled"  # Pending | Failed | Scheduled | Stopped
    monitoring_type: str = "DataQuality"
    config: dict[str, Any]  # MonitoringScheduleConfig as sent
    endpoint_name: str | None = None
    creation_time: datetime
    last_modified_time: datetime
    next_run: datetime | None = None
    last_execution: dict[str, Any] | None = None
    failure_reason: str | None = None
    tags: list[dict[str, str]] | None = None

    def describe(self) -> dict[str, Any]:
        """The ``DescribeMonitoringSchedule`` response."""
        out: dict[str, Any] = {
            "MonitoringScheduleArn": self.arn, "MonitoringScheduleName": self.name,
            "MonitoringScheduleStatus": self.status, "MonitoringType": self.monitoring_type,
            "CreationTime": self.creation_time, "LastModifiedTime": self.last_modified_time,
            "MonitoringScheduleConfig": self.config}
        if self.endpoint_name:
            out["EndpointName"] = self.endpoint_name
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        if self.last_execution:
            out["LastMonitoringExecutionSummary"] = self.last_execution
        return out

    def summary(self) -> dict[str, Any]:
        """A ``MonitoringScheduleSummary``."""
        out: dict[str, Any] = {k: v for k, v in self.describe().items() if k in (
            "MonitoringScheduleName", "MonitoringScheduleArn", "CreationTime", "LastModifiedTime",
            "MonitoringScheduleStatus", "EndpointName", "MonitoringType")}
        if self.config.get("MonitoringJobDefinitionName"):
            out["MonitoringJobDefinitionName"] = self.config["MonitoringJobDefinitionName"]
        return out


class MonitoringExecution(BaseModel):
    """One run of a schedule: a processing job over one window of captured data."""

    schedule_name: str
    scheduled_time: datetime
    creation_time: datetime
    last_modified_time: datetime
    status: str = "Pending"  # ExecutionStatus
    processing_job_name: str
    processing_job_arn: str | None = None
    endpoint_name: str | None = None
    definition_name: str | None = None
    monitoring_type: str = "DataQuality"
    failure_reason: str | None = None
    output_uri: str | None = None
    violations: int | None = Field(default=None, description="constraint violations found")

    @property
    def key(self) -> str:
        """Store name: schedule and scheduled time sort together.

        Firings fall on whole seconds; an on-demand run is scheduled at the
        millisecond it was asked for, which the key keeps, so that a firing
        in the same second does not take the run's key (or lose its own).
        """
        when = self.scheduled_time.strftime("%Y%m%dT%H%M%S")
        millis = self.scheduled_time.microsecond // 1000
        return f"{self.schedule_name}/{when}" + (f".{millis:03d}" if millis else "")

    @property
    def terminal(self) -> bool:
        """No further change expected."""
        return self.status in ("Completed", "CompletedWithViolations", "Failed", "Stopped")

    def summary(self) -> dict[str, Any]:
        """A ``MonitoringExecutionSummary``."""
        out: dict[str, Any] = {"MonitoringScheduleName": self.schedule_name, "ScheduledTime": self.scheduled_time,
                               "CreationTime": self.creation_time, "LastModifiedTime": self.last_modified_time,
                               "MonitoringExecutionStatus": self.status, "MonitoringType": self.monitoring_type}
        for key, value in (("ProcessingJobArn", self.processing_job_arn), ("EndpointName", self.endpoint_name),
                           ("FailureReason", self.failure_reason),
                           ("MonitoringJobDefinitionName", self.definition_name)):
            if value:
                out[key] = value
        return out
