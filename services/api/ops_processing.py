"""Processing job operations."""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.server import AwsJsonService
from services.core.models import parse_model
from services.core.times import parse_time
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
        jobs, token = await processing.list_processing_jobs(
            status_equals=params.get("StatusEquals"),
            name_contains=params.get("NameContains"),
            creation_time_after=parse_time(params.get("CreationTimeAfter")),
            creation_time_before=parse_time(params.get("CreationTimeBefore")),
            last_modified_time_after=parse_time(params.get("LastModifiedTimeAfter")),
            last_modified_time_before=parse_time(params.get("LastModifiedTimeBefore")),
            sort_by=params.get("SortBy", "CreationTime"),
            sort_order=params.get("SortOrder", "Ascending"),
            max_results=int(params.get("MaxResults", 10)),
            next_token=params.get("NextToken"),
        )
        out: dict[str, Any] = {"ProcessingJobSummaries": [j.summary() for j in jobs]}
        if token:
            out["NextToken"] = token
        return out

    @api.operation("StopProcessingJob")
    async def stop_processing_job(params: dict[str, Any]) -> dict[str, Any]:
        await processing.stop_processing_job(params["ProcessingJobName"])
        return {}
