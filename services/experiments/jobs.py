"""A training job as the trial component SageMaker records for it.

``<job>-aws-training-job``, its source the job's ARN (``SageMakerTrainingJob``),
with the job's hyperparameters and resources as parameters, its channels and
image as input artifacts, its model as output artifact, its final metrics,
its status and times, and the job itself as ``SourceDetail``. SageMaker
records one for every training job; a job run with ``ExperimentConfig``
also joins the config's trial (created in the config's experiment if
missing) and carries its ``RunName``. Written from the job's Describe response at each of its
state changes, so it follows the job; what else was recorded on it (other
trials, tags, metrics sent to it) stays.
"""

from __future__ import annotations

from typing import Any

from services.core.exceptions import ResourceInUse, ResourceNotFound, ValidationException
from services.core.times import parse_time
from services.experiments.models import MetricStats, TrialComponent
from services.experiments.service import ExperimentsService

SOURCE_TYPE = "SageMakerTrainingJob"


def component_name(job_name: str) -> str:
    """SageMaker's name for a training job's trial component."""
    return f"{job_name}-aws-training-job"


def _parameter(value: Any) -> dict[str, Any]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"NumberValue": float(value)}
    try:
        return {"NumberValue": float(value)}
    except (TypeError, ValueError):
        return {"StringValue": str(value)}


def job_fields(job: dict[str, Any]) -> dict[str, Any]:
    """The trial component's fields that come from the job's Describe response."""
    resources = job.get("ResourceConfig") or {}
    parameters = {k: _parameter(v) for k, v in (job.get("HyperParameters") or {}).items()}
    for key in ("InstanceType", "InstanceCount", "VolumeSizeInGB"):
        if key in resources:
            parameters[f"SageMaker.{key}"] = _parameter(resources[key])
    inputs = {c["ChannelName"]: {"Value": c["DataSource"]["S3DataSource"]["S3Uri"]}
              | ({"MediaType": c["ContentType"]} if c.get("ContentType") else {})
              for c in job.get("InputDataConfig") or [] if "S3DataSource" in c.get("DataSource", {})}
    if image := (job.get("AlgorithmSpecification") or {}).get("TrainingImage"):
        inputs["SageMaker.ImageUri"] = {"Value": image}
    outputs = {}
    if model := (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts"):
        outputs["SageMaker.ModelArtifact"] = {"Value": model}
    status = {"PrimaryStatus": job["TrainingJobStatus"]}
    if job.get("FailureReason"):
        status["Message"] = job["FailureReason"]
    config = job.get("ExperimentConfig") or {}
    return {"status": status, "start_time": parse_time(job.get("TrainingStartTime")),
            "end_time": parse_time(job.get("TrainingEndTime")), "parameters": parameters,
            "input_artifacts": inputs, "output_artifacts": outputs, "run_name": config.get("RunName"),
            "display_name": config.get("TrialComponentDisplayName"),
            "source_detail": {"SourceArn": job["TrainingJobArn"], "TrainingJob": job}}


#: The job statuses whose changes change its trial component besides its first (the component carries the
#: job's primary status; the secondary statuses in between change nothing it records but ``SourceDetail``,
#: which the next recorded change brings up to date).
RECORDED_STATUSES = ("Stopping", "Completed", "Failed", "Stopped")


def is_first_change(job: dict[str, Any]) -> bool:
    """Whether ``job`` (a Describe response or an event's detail) is its state at creation."""
    return job.get("TrainingJobStatus") == "InProgress" and job.get("SecondaryStatus", "Starting") == "Starting"


async def record_training_job_change(experiments: ExperimentsService, job: dict[str, Any]) -> TrialComponent | None:
    """Record the trial component of ``job`` (a DescribeTrainingJob response with datetimes, as a state
    change carries it) when this change is one that changes it: the job's first, its stopping and its end.
    ``None`` (no store call at all) for the others."""
    if not is_first_change(job) and job.get("TrainingJobStatus") not in RECORDED_STATUSES:
        return None
    return await record_training_job(experiments, job)


async def record_training_job(experiments: ExperimentsService, job: dict[str, Any]) -> TrialComponent:
    """Create or refresh the trial component of ``job`` (a DescribeTrainingJob response with datetimes); it
    joins a trial only when the job has ``ExperimentConfig``.

    The job's first change creates the component with one conditional write; a later one updates it, which
    costs no read when this node wrote it last (the store writes against the version it holds). A change
    older than the one recorded changes nothing."""
    config = job.get("ExperimentConfig") or {}
    name = component_name(job["TrainingJobName"])
    fields = job_fields(job)
    modified = parse_time(job.get("LastModifiedTime"))

    def refresh(c: TrialComponent) -> TrialComponent | None:
        if modified and c.headwater.source_modified and modified < c.headwater.source_modified:
            return None  # an older state of the job than the one recorded
        for key, value in fields.items():
            setattr(c, key, value if key != "display_name" else (value or c.display_name))
        for metric in job.get("FinalMetricDataList") or []:
            stats = MetricStats()
            stats.add(float(metric["Value"]), parse_time(metric.get("Timestamp")) or c.last_modified_time)
            c.headwater.metrics[metric["MetricName"]] = stats
        c.headwater.source_modified = modified
        c.last_modified_time = modified or c.last_modified_time
        return c

    async def create() -> TrialComponent | None:
        fresh = TrialComponent(
            trial_component_name=name, trial_component_arn=experiments.arn("experiment-trial-component", name),
            source={"SourceArn": job["TrainingJobArn"], "SourceType": SOURCE_TYPE},
            creation_time=parse_time(job["CreationTime"]) or experiments.clock(),
            last_modified_time=modified or experiments.clock(), **fields)
        try:
            return await experiments.components.create(name.lower(), refresh(fresh) or fresh)
        except ResourceInUse:
            return None  # recorded at an earlier state change: refreshed instead

    async def update() -> TrialComponent | None:
        try:
            return (await experiments.components.update(name.lower(), refresh))[1]
        except ResourceNotFound:
            return None  # its first change is not recorded yet: created instead

    if is_first_change(job):
        component = await create() or await update()
    else:
        component = await update() or await create() or await update()
    if component is None:  # created and deleted between the tries: as the next try would find it
        component = await experiments.describe_trial_component(name)
    trial = config.get("TrialName")
    if trial and not any(p["TrialName"].lower() == trial.lower() for p in component.parents):
        component = await _join(experiments, name, trial, config.get("ExperimentName"))
    return component


async def _join(experiments: ExperimentsService, component: str, trial: str,
                experiment: str | None) -> TrialComponent:
    """Associate the component with ``trial``, creating the trial (and its experiment) when missing."""
    try:
        return (await experiments.associate(component, trial))[0]
    except ResourceNotFound:
        if not experiment:
            raise
    for create in (lambda: experiments.create_experiment({"ExperimentName": experiment}),
                   lambda: experiments.create_trial({"TrialName": trial, "ExperimentName": experiment})):
        try:
            await create()
        except ValidationException as err:
            if "already exists" not in str(err):
                raise
    return (await experiments.associate(component, trial))[0]
