"""Training job operations."""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.protocol import page_response
from services.api.server import AwsJsonService
from services.core.job_service import ListJobsQuery
from services.core.models import parse_model
from services.training.models import CreateTrainingJobRequest


def register(api: AwsJsonService, services: SageMakerBackends) -> None:
    """Register CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs, StopTrainingJob."""
    training = services.training

    @api.operation("CreateTrainingJob")
    async def create_training_job(params: dict[str, Any]) -> dict[str, Any]:
        job = await training.create_training_job(parse_model(CreateTrainingJobRequest, params))
        return {"TrainingJobArn": job.training_job_arn}

    @api.operation("DescribeTrainingJob")
    async def describe_training_job(params: dict[str, Any]) -> dict[str, Any]:
        job = await training.describe_training_job(params["TrainingJobName"])
        return job.describe()

    @api.operation("ListTrainingJobs")
    async def list_training_jobs(params: dict[str, Any]) -> dict[str, Any]:
        jobs, token = await training.list_jobs(ListJobsQuery.from_params(params))
        return page_response("TrainingJobSummaries", [j.summary() for j in jobs], token)

    @api.operation("StopTrainingJob")
    async def stop_training_job(params: dict[str, Any]) -> dict[str, Any]:
        await training.stop_training_job(params["TrainingJobName"])
        return {}
