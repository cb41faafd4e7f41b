"""SageMaker Pipelines operations: pipelines, their versions, executions and their steps."""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.protocol import page_response
from services.api.search_resources import RecordSource, with_tags
from services.api.server import AwsJsonService


def register(api: AwsJsonService, services: SageMakerBackends) -> None:
    """Register the pipeline and pipeline execution operations."""
    pipelines = services.pipelines
    if pipelines is None:
        return

    @api.operation("CreatePipeline")
    async def create_pipeline(params: dict[str, Any]) -> dict[str, Any]:
        return {"PipelineArn": (await pipelines.create_pipeline(params)).pipeline_arn}

    @api.operation("UpdatePipeline")
    async def update_pipeline(params: dict[str, Any]) -> dict[str, Any]:
        pipeline = await pipelines.update_pipeline(params)
        return {"PipelineArn": pipeline.pipeline_arn, "PipelineVersionId": pipeline.latest.pipeline_version_id}

    @api.operation("DeletePipeline")
    async def delete_pipeline(params: dict[str, Any]) -> dict[str, Any]:
        return {"PipelineArn": await pipelines.delete_pipeline(params["PipelineName"])}

    @api.operation("DescribePipeline")
    async def describe_pipeline(params: dict[str, Any]) -> dict[str, Any]:
        return await pipelines.describe_pipeline(params["PipelineName"], params.get("PipelineVersionId"))

    @api.operation("ListPipelines")
    async def list_pipelines(params: dict[str, Any]) -> dict[str, Any]:
        found, token = await pipelines.list_pipelines(params)
        return page_response("PipelineSummaries", [p.summary() for p in found], token)

    @api.operation("ListPipelineVersions")
    async def list_pipeline_versions(params: dict[str, Any]) -> dict[str, Any]:
        versions, token = await pipelines.list_pipeline_versions(params)
        return page_response("PipelineVersionSummaries", versions, token)

    @api.operation("StartPipelineExecution")
    async def start_pipeline_execution(params: dict[str, Any]) -> dict[str, Any]:
        return {"PipelineExecutionArn": (await pipelines.start_execution(params)).pipeline_execution_arn}

    @api.operation("StopPipelineExecution")
    async def stop_pipeline_execution(params: dict[str, Any]) -> dict[str, Any]:
        execution = await pipelines.stop_execution(params["PipelineExecutionArn"])
        return {"PipelineExecutionArn": execution.pipeline_execution_arn}

    @api.operation("RetryPipelineExecution")
    async def retry_pipeline_execution(params: dict[str, Any]) -> dict[str, Any]:
        return {"PipelineExecutionArn": (await pipelines.retry_execution(params)).pipeline_execution_arn}

    @api.operation("SendPipelineExecutionStepSuccess")
    async def send_step_success(params: dict[str, Any]) -> dict[str, Any]:
        execution = await pipelines.complete_callback(params, succeeded=True)
        return {"PipelineExecutionArn": execution.pipeline_execution_arn}

    @api.operation("SendPipelineExecutionStepFailure")
    async def send_step_failure(params: dict[str, Any]) -> dict[str, Any]:
        execution = await pipelines.complete_callback(params, succeeded=False)
        return {"PipelineExecutionArn": execution.pipeline_execution_arn}

    @api.operation("UpdatePipelineExecution")
    async def update_pipeline_execution(params: dict[str, Any]) -> dict[str, Any]:
        return {"PipelineExecutionArn": (await pipelines.update_execution(params)).pipeline_execution_arn}

    @api.operation("DescribePipelineExecution")
    async def describe_pipeline_execution(params: dict[str, Any]) -> dict[str, Any]:
        return (await pipelines.find_execution(params["PipelineExecutionArn"])).describe()

    @api.operation("DescribePipelineDefinitionForExecution")
    async def describe_definition_for_execution(params: dict[str, Any]) -> dict[str, Any]:
        execution = await pipelines.find_execution(params["PipelineExecutionArn"])
        return {"PipelineDefinition": execution.pipeline_definition, "CreationTime": execution.creation_time}

    @api.operation("ListPipelineExecutions")
    async def list_pipeline_executions(params: dict[str, Any]) -> dict[str, Any]:
        found, token = await pipelines.list_executions(params)
        return page_response("PipelineExecutionSummaries", [e.summary() for e in found], token)

    @api.operation("ListPipelineExecutionSteps")
    async def list_pipeline_execution_steps(params: dict[str, Any]) -> dict[str, Any]:
        steps, token = await pipelines.list_steps(params)
        return page_response("PipelineExecutionSteps", steps, token)

    @api.operation("ListPipelineParametersForExecution")
    async def list_pipeline_parameters_for_execution(params: dict[str, Any]) -> dict[str, Any]:
        values, token = await pipelines.list_parameters(params)
        return page_response("PipelineParameters", values, token)


def search_sources(services: SageMakerBackends) -> dict[str, RecordSource]:
    """``Pipeline`` (its latest version, with its tags) and ``PipelineExecution`` records for ``Search``."""
    pipelines = services.pipelines

    async def pipeline_records() -> list[dict[str, Any]]:
        if pipelines is None:
            return []
        return [with_tags(p.describe(p.latest), p.tags) for p in await pipelines.pipelines.list()]

    async def execution_records() -> list[dict[str, Any]]:
        if pipelines is None:
            return []
        return [e.describe() for e in await pipelines.executions.list()]

    return {"Pipeline": pipeline_records, "PipelineExecution": execution_records}
