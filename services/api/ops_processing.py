"""Processing job operations."""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.protocol import page_response
from services.api.server import AwsJsonService
from services.core.job_service import ListJobsQuery
from services.core.models import parse_model
from services.processing.models import CreateProcessingJobRequest


def register(api: AwsJsonService, services: SageMakerBackends) -> None:
    """Register CreateProcessingJob, DescribeProcessingJob, ListProcessingJobs, StopProcessingJob."""
    processing = services.processing
    if processing is None:
        return

    @api.operation("CreateProcessingJob")
    async def create_processing_job(params: dict[str, Any]) -> dict[str, Any]:
        job = await processing.create_processing_job(parse_model(CreateProcessingJobRequest, params))
        return {"ProcessingJobArn": job.processing_job_arn}

    @api.operation("DescribeProcessingJob")
    async def describe_processing_job(params: dict[str, Any]) -> dict[str, Any]:
        return (await processing.describe_processing_job(params["ProcessingJobName"])).describe()

    @api.operation("ListProcessingJobs")
    async def list_processing_jobs(params: dict[str, Any]) -> dict[str, Any]:
        jobs, token = await processing.list_jobs(ListJobsQuery.from_params(params))
        return page_response("ProcessingJobSummaries", [j.summary() for j in jobs], token)

    @api.operation("StopProcessingJob")
    async def stop_processing_job(params: dict[str, Any]) -> dict[str, Any]:
        await processing.stop_processing_job(params["ProcessingJobName"])
        return {}
