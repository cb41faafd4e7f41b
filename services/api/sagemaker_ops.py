"""The SageMaker control-plane operations Headwater serves.

Each operation turns validated request parameters into a service call and
the result into botocore's output shape. Input constraints (required
members, enums, patterns, ranges) were already checked against botocore's
model by :mod:`services.api.server`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from services.api.server import AwsJsonService
from services.app import Services
from services.exceptions import ValidationException
from services.models.training import CreateTrainingJobRequest


def _time(value: Any) -> datetime | None:
    """A JSON 1.1 timestamp (epoch seconds, or ISO 8601) as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as err:
        raise ValidationException(f"Invalid timestamp: {value!r}") from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _model(cls: type, params: dict[str, Any]) -> Any:
    try:
        return cls.model_validate(params)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationException(
            f"1 validation error detected: Value at '{where}' failed to satisfy "
            f"constraint: {first['msg']}"
        ) from err


def build_sagemaker_service(services: Services) -> AwsJsonService:
    """The ``SageMaker`` JSON 1.1 service over ``services``."""
    api = AwsJsonService("sagemaker", "SageMaker")
    training = services.training

    @api.operation("CreateTrainingJob")
    async def create_training_job(params: dict[str, Any]) -> dict[str, Any]:
        job = await training.create_training_job(_model(CreateTrainingJobRequest, params))
        return {"TrainingJobArn": job.training_job_arn}

    @api.operation("DescribeTrainingJob")
    async def describe_training_job(params: dict[str, Any]) -> dict[str, Any]:
        job = await training.describe_training_job(params["TrainingJobName"])
        return job.describe()

    @api.operation("ListTrainingJobs")
    async def list_training_jobs(params: dict[str, Any]) -> dict[str, Any]:
        jobs, token = await training.list_training_jobs(
            status_equals=params.get("StatusEquals"),
            name_contains=params.get("NameContains"),
            creation_time_after=_time(params.get("CreationTimeAfter")),
            creation_time_before=_time(params.get("CreationTimeBefore")),
            last_modified_time_after=_time(params.get("LastModifiedTimeAfter")),
            last_modified_time_before=_time(params.get("LastModifiedTimeBefore")),
            sort_by=params.get("SortBy", "CreationTime"),
            sort_order=params.get("SortOrder", "Ascending"),
            max_results=int(params.get("MaxResults", 10)),
            next_token=params.get("NextToken"),
        )
        out: dict[str, Any] = {"TrainingJobSummaries": [j.summary() for j in jobs]}
        if token:
            out["NextToken"] = token
        return out

    @api.operation("StopTrainingJob")
    async def stop_training_job(params: dict[str, Any]) -> dict[str, Any]:
        await training.stop_training_job(params["TrainingJobName"])
        return {}

    return api
