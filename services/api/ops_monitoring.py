"""Model Monitor operations: job definitions, schedules, executions."""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.protocol import page_response
from services.api.server import AwsJsonService


def register(api: AwsJsonService, services: SageMakerBackends) -> None:
    """Register the monitoring operations."""
    monitoring = services.monitoring
    assert monitoring is not None

    for kind in ("DataQuality", "ModelQuality"):
        def bind(kind: str = kind) -> None:
            @api.operation(f"Create{kind}JobDefinition")
            async def create(params: dict[str, Any]) -> dict[str, Any]:
                return {"JobDefinitionArn": (await monitoring.create_job_definition(kind, params)).arn}

            @api.operation(f"Describe{kind}JobDefinition")
            async def describe(params: dict[str, Any]) -> dict[str, Any]:
                return (await monitoring.describe_job_definition(kind, params["JobDefinitionName"])).describe()

            @api.operation(f"List{kind}JobDefinitions")
            async def list_defs(params: dict[str, Any]) -> dict[str, Any]:
                docs, token = await monitoring.list_job_definitions(kind, params)
                return page_response("JobDefinitionSummaries", [d.summary(d.endpoint_name()) for d in docs], token)

            @api.operation(f"Delete{kind}JobDefinition")
            async def delete(params: dict[str, Any]) -> dict[str, Any]:
                await monitoring.delete_job_definition(kind, params["JobDefinitionName"])
                return {}

        bind()

    @api.operation("CreateMonitoringSchedule")
    async def create_schedule(params: dict[str, Any]) -> dict[str, Any]:
        return {"MonitoringScheduleArn": (await monitoring.create_monitoring_schedule(params)).arn}

    @api.operation("DescribeMonitoringSchedule")
    async def describe_schedule(params: dict[str, Any]) -> dict[str, Any]:
        return (await monitoring.describe_monitoring_schedule(params["MonitoringScheduleName"])).describe()

    @api.operation("ListMonitoringSchedules")
    async def list_schedules(params: dict[str, Any]) -> dict[str, Any]:
        docs, token = await monitoring.list_monitoring_schedules(params)
        return page_response("MonitoringScheduleSummaries", [d.summary() for d in docs], token)

    @api.operation("StopMonitoringSchedule")
    async def stop_schedule(params: dict[str, Any]) -> dict[str, Any]:
        await monitoring.set_schedule_status(params["MonitoringScheduleName"], "Stopped")
        return {}

    @api.operation("StartMonitoringSchedule")
    async def start_schedule(params: dict[str, Any]) -> dict[str, Any]:
        await monitoring.set_schedule_status(params["MonitoringScheduleName"], "Scheduled")
        return {}

    @api.operation("DeleteMonitoringSchedule")
    async def delete_schedule(params: dict[str, Any]) -> dict[str, Any]:
        await monitoring.delete_monitoring_schedule(params["MonitoringScheduleName"])
        return {}

    @api.operation("ListMonitoringExecutions")
    async def list_executions(params: dict[str, Any]) -> dict[str, Any]:
        docs, token = await monitoring.list_monitoring_executions(params)
        return page_response("MonitoringExecutionSummaries", [d.summary() for d in docs], token)
