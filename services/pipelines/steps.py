"""What each step type does on the control plane: the request it sends, the job it watches.

A step runs through the SageMaker control plane itself (:data:`ControlPlane`,
the same operations and checks a boto3 user's request meets), so its
``Arguments`` get the API's own validation and error codes, and its
properties are exactly the Describe* response a user reads. A job step
(Training, Processing, Transform, Tuning) starts a job and ends with it; a
Model, RegisterModel or EndpointConfig step creates its resource and ends at
once; an Endpoint step creates or updates its endpoint and ends when the
endpoint is ``InService`` (or ``Failed``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.core.exceptions import ResourceInUse, ResourceNotFound, ServiceError, ValidationException
from services.pipelines.models import StepStatus

#: ``await invoke("CreateTrainingJob", params)``: a SageMaker operation, validated as a request is.
ControlPlane = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]

_JOB_STATUS = {"Completed": StepStatus.SUCCEEDED, "Failed": StepStatus.FAILED, "Stopped": StepStatus.STOPPED,
               "Stopping": StepStatus.STOPPING}


@dataclass(frozen=True)
class JobKind:
    """A step type that runs a job: its operations and its names."""

    step_type: str
    metadata_key: str  # in PipelineExecutionStepMetadata
    create: str
    describe: str
    stop: str
    name_member: str  # the job name's member in each request
    status_member: str
    arn_member: str

    async def start(self, invoke: ControlPlane, name: str, arguments: dict[str, Any]) -> None:
        """Create the job ``name``; a job of that name already there is this step's (a start repeated)."""
        try:
            await invoke(self.create, {**arguments, self.name_member: name})
        except ResourceInUse:
            pass

    async def observe(self, invoke: ControlPlane, name: str) -> tuple[StepStatus, dict[str, Any]]:
        """The job's step status (``Executing`` while it runs) and its Describe* response."""
        described = await invoke(self.describe, {self.name_member: name})
        if self.step_type == "Tuning" and described.get(self.status_member) == "Completed":
            # TrainingJobSummaries[0] is the best job (the SDK's get_top_model_s3_uri reads it so).
            objective = (described.get("HyperParameterTuningJobConfig") or {}).get(
                "HyperParameterTuningJobObjective") or {}
            listed = await invoke("ListTrainingJobsForHyperParameterTuningJob", {
                self.name_member: name, "SortBy": "FinalObjectiveMetricValue", "MaxResults": 50,
                "SortOrder": "Descending" if objective.get("Type") == "Maximize" else "Ascending"})
            described = {**described, "TrainingJobSummaries": listed.get("TrainingJobSummaries", [])}
        return _JOB_STATUS.get(described.get(self.status_member, ""), StepStatus.EXECUTING), described

    async def request_stop(self, invoke: ControlPlane, name: str) -> None:
        """Stop the job (one already ended, or stopping, is left as it is)."""
        try:
            await invoke(self.stop, {self.name_member: name})
        except (ValidationException, ResourceNotFound):
            pass

    def metadata(self, described: dict[str, Any]) -> dict[str, Any]:
        """The step's ``Metadata``."""
        return {self.metadata_key: {"Arn": described[self.arn_member]}}


JOB_KINDS: dict[str, JobKind] = {k.step_type: k for k in (
    JobKind("Training", "TrainingJob", "CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob",
            "TrainingJobName", "TrainingJobStatus", "TrainingJobArn"),
    JobKind("Processing", "ProcessingJob", "CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob",
            "ProcessingJobName", "ProcessingJobStatus", "ProcessingJobArn"),
    JobKind("Transform", "TransformJob", "CreateTransformJob", "DescribeTransformJob", "StopTransformJob",
            "TransformJobName", "TransformJobStatus", "TransformJobArn"),
    JobKind("Tuning", "TuningJob", "CreateHyperParameterTuningJob", "DescribeHyperParameterTuningJob",
            "StopHyperParameterTuningJob", "HyperParameterTuningJobName", "HyperParameterTuningJobStatus",
            "HyperParameterTuningJobArn"),
)}


async def create_model(invoke: ControlPlane, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A Model step: ``CreateModel`` named ``name`` (one already there is this step's); its Describe."""
    try:
        await invoke("CreateModel", {**arguments, "ModelName": name})
    except ResourceInUse:
        pass
    return await invoke("DescribeModel", {"ModelName": name})


async def register_model(invoke: ControlPlane, arguments: dict[str, Any]) -> dict[str, Any]:
    """A RegisterModel step: a new version in its group (the group is created when missing, as SageMaker's
    step does); its Describe."""
    group = arguments.get("ModelPackageGroupName")
    if isinstance(group, str) and not group.startswith("arn:"):
        try:
            await invoke("DescribeModelPackageGroup", {"ModelPackageGroupName": group})
        except (ResourceNotFound, ValidationException):
            try:
                await invoke("CreateModelPackageGroup", {"ModelPackageGroupName": group})
            except (ResourceInUse, ValidationException):
                pass  # created meanwhile by a concurrent step
    created = await invoke("CreateModelPackage", arguments)
    return await invoke("DescribeModelPackage", {"ModelPackageName": created["ModelPackageArn"]})


async def create_endpoint_config(invoke: ControlPlane, arguments: dict[str, Any]) -> dict[str, Any]:
    """An EndpointConfig step: ``CreateEndpointConfig`` as the step's arguments name it; its Describe. A
    configuration of that name with the same variants is this step's (a start repeated); one that differs is
    SageMaker's error."""
    name = arguments.get("EndpointConfigName")
    try:
        await invoke("CreateEndpointConfig", arguments)
    except ResourceInUse:
        described = await invoke("DescribeEndpointConfig", {"EndpointConfigName": name})
        if described.get("ProductionVariants") != arguments.get("ProductionVariants"):
            raise
        return described
    return await invoke("DescribeEndpointConfig", {"EndpointConfigName": name})


_ENDPOINT_STATUS = {"InService": StepStatus.SUCCEEDED, "Failed": StepStatus.FAILED}


async def start_endpoint(invoke: ControlPlane, arguments: dict[str, Any]) -> None:
    """An Endpoint step: ``CreateEndpoint``, or ``UpdateEndpoint`` when the endpoint exists (as SageMaker's
    step chooses). An endpoint already on the step's configuration was started by this step (a start
    repeated), so it is left to settle."""
    name = arguments.get("EndpointName")
    try:
        current = await invoke("DescribeEndpoint", {"EndpointName": name})
    except (ResourceNotFound, ValidationException):
        current = None
    if current is None:
        try:
            await invoke("CreateEndpoint", arguments)
            return
        except ResourceInUse:
            current = await invoke("DescribeEndpoint", {"EndpointName": name})
    if current.get("EndpointConfigName") == arguments.get("EndpointConfigName"):
        return
    await invoke("UpdateEndpoint", {"EndpointName": name, "EndpointConfigName": arguments.get("EndpointConfigName")})


async def observe_endpoint(invoke: ControlPlane, name: str) -> tuple[StepStatus, dict[str, Any]]:
    """An Endpoint step's status (``Executing`` until the endpoint is ``InService`` or ``Failed``) and its
    ``DescribeEndpoint`` response."""
    described = await invoke("DescribeEndpoint", {"EndpointName": name})
    return _ENDPOINT_STATUS.get(described.get("EndpointStatus", ""), StepStatus.EXECUTING), described


def failure_of(err: Exception) -> str:
    """A failed request as a step's ``FailureReason``: ``Code: message``, as SageMaker writes it."""
    if isinstance(err, ServiceError):
        return f"{err.code}: {err.message}"
    return f"{type(err).__name__}: {err}"
