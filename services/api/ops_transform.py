"""Batch transform operations."""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.protocol import page_response
from services.api.server import AwsJsonService
from services.core.job_service import ListJobsQuery
from services.core.models import parse_model
from services.transform.models import CreateTransformJobRequest


def register(api: AwsJsonService, services: SageMakerBackends) -> None:
    """Register CreateTransformJob, DescribeTransformJob, ListTransformJobs, StopTransformJob."""
    transform = services.transform

    @api.operation("CreateTransformJob")
    async def create(params: dict[str, Any]) -> dict[str, Any]:
        job = await transform.create_transform_job(parse_model(CreateTransformJobRequest, params))
        return {"TransformJobArn": job.transform_job_arn}

    @api.operation("DescribeTransformJob")
    async def describe(params: dict[str, Any]) -> dict[str, Any]:
        return (await transform.describe_transform_job(params["TransformJobName"])).describe()

    @api.operation("ListTransformJobs")
    async def list_jobs(params: dict[str, Any]) -> dict[str, Any]:
        jobs, token = await transform.list_jobs(ListJobsQuery.from_params(params))
        return page_response("TransformJobSummaries", [j.summary() for j in jobs], token)

    @api.operation("StopTransformJob")
    async def stop(params: dict[str, Any]) -> dict[str, Any]:
        await transform.stop_transform_job(params["TransformJobName"])
        return {}
