"""Hyperparameter tuning job operations."""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.protocol import page_response
from services.api.server import AwsJsonService
from services.core.job_service import ListJobsQuery
from services.core.models import parse_model
from services.tuning import views
from services.tuning.models import CreateTuningJobRequest


def register(api: AwsJsonService, services: SageMakerBackends) -> None:
    """Register CreateHyperParameterTuningJob, DescribeHyperParameterTuningJob,
    ListHyperParameterTuningJobs, StopHyperParameterTuningJob and
    ListTrainingJobsForHyperParameterTuningJob."""
    tuning = services.tuning

    @api.operation("CreateHyperParameterTuningJob")
    async def create_tuning_job(params: dict[str, Any]) -> dict[str, Any]:
        job = await tuning.create_tuning_job(parse_model(CreateTuningJobRequest, params))
        return {"HyperParameterTuningJobArn": job.hyper_parameter_tuning_job_arn}

    @api.operation("DescribeHyperParameterTuningJob")
    async def describe_tuning_job(params: dict[str, Any]) -> dict[str, Any]:
        return views.describe(await tuning.find(params["HyperParameterTuningJobName"]))

    @api.operation("ListHyperParameterTuningJobs")
    async def list_tuning_jobs(params: dict[str, Any]) -> dict[str, Any]:
        jobs, token = await tuning.list_jobs(ListJobsQuery.from_params(params))
        return page_response("HyperParameterTuningJobSummaries", [views.summary(j) for j in jobs], token)

    @api.operation("StopHyperParameterTuningJob")
    async def stop_tuning_job(params: dict[str, Any]) -> dict[str, Any]:
        await tuning.stop_tuning_job((await tuning.find(params["HyperParameterTuningJobName"])).name)
        return {}

    @api.operation("ListTrainingJobsForHyperParameterTuningJob")
    async def list_training_jobs_for_tuning_job(params: dict[str, Any]) -> dict[str, Any]:
        name = (await tuning.find(params["HyperParameterTuningJobName"])).name
        summaries, token = await tuning.list_training_jobs_for_tuning_job(
            name,
            status_equals=params.get("StatusEquals"),
            sort_by=params.get("SortBy", "Name"),
            sort_order=params.get("SortOrder", "Ascending"),
            max_results=int(params.get("MaxResults", 10)),
            next_token=params.get("NextToken"),
        )
        return page_response("TrainingJobSummaries", summaries, token)
