"""The second half of the chain: approved -> deploy blue/green -> rebaseline -> done.

An approved version of a group goes to every endpoint whose policy names
that group, by ``UpdateEndpoint`` (the hosting manager's blue/green: the
new fleet must pass ``/ping`` before traffic moves, the old one drains).
When the version came from a run, the monitoring schedule's baseline is
recomputed from the data the version was trained on, so the next
executions compare live traffic with what the new model knows.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from services.core.exceptions import ResourceInUse, ResourceNotFound
from services.core.models import parse_model
from services.hosting.models import EndpointConfig, Model
from services.inference.models import ContainerDefinition
from services.processing.models import CreateProcessingJobRequest
from services.retraining import data
from services.retraining.deps import RetrainingDeps
from services.retraining.models import RetrainingPolicy, RetrainingRun, RunStatus
from services.retraining.service import run_of
from services.retraining.steps_train import RUN_TAG, evaluation_folder, serving_model

log = logging.getLogger(__name__)

#: Model Monitor's analyzer, as the SageMaker SDK's DefaultModelMonitor names it (any region resolves).
ANALYZER_IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
_PROCESSING = "/opt/ml/processing"


def _slug(text: str, limit: int) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)[:limit].strip("-")


async def deploy_approved(deps: RetrainingDeps, detail: dict[str, Any]) -> list[str]:
    """A version was approved: roll it out to the endpoints whose policy names its group."""
    assert deps.retraining is not None
    if detail.get("ModelApprovalStatus") != "Approved" or not detail.get("ModelPackageGroupName"):
        return []
    deployed = []
    for policy in await deps.retraining.policies_for_group(detail["ModelPackageGroupName"]):
        if policy.serving_package_arn == detail["ModelPackageArn"]:
            continue  # a duplicate event, or the version already serves
        if await _deploy(deps, policy, detail):
            deployed.append(policy.endpoint_name)
    return deployed


async def _deploy(deps: RetrainingDeps, policy: RetrainingPolicy, package: dict[str, Any]) -> bool:
    assert deps.retraining is not None and deps.hosting is not None
    run_name = (package.get("CustomerMetadataProperties") or {}).get("RetrainingRun")
    run = await deps.retraining.get_run(run_name) if run_name else None
    if run is not None:
        if run.status in (RunStatus.COMPLETED, RunStatus.FAILED) or run.endpoint_name != policy.endpoint_name:
            return False
        # Approved by the policy (the run may not have recorded it yet) or by a human later.
        await deps.retraining.advance(run.run_name, lambda r: r.model_copy(update={
            "status": RunStatus.DEPLOYING, "model_package_arn": package["ModelPackageArn"],
            "approval_description": package.get("ApprovalDescription") or r.approval_description})
            if r.status in (RunStatus.EVALUATING, RunStatus.PENDING_APPROVAL) else None)
        if run.status == RunStatus.PENDING_APPROVAL:
            await deps.retraining.hold(policy.endpoint_name, run.run_name)
    try:
        serving_name, config = await serving_model(deps, policy.endpoint_name)
    except ResourceNotFound:
        log.info("%s approved, but endpoint %s does not exist (yet); not deployed",
                 package["ModelPackageArn"], policy.endpoint_name)
        return False
    version = package.get("ModelPackageVersion", 0)
    name = f"{_slug(policy.endpoint_name, 50)}-v{version}"
    if config.endpoint_config_name == name:
        return False  # the update was made by an earlier delivery
    try:
        serving = await deps.hosting.describe_model(serving_name)
        spec = package["InferenceSpecification"]["Containers"][0]
        try:
            await deps.hosting.create_model(Model(
                model_name=name, execution_role_arn=serving.execution_role_arn,
                primary_container=ContainerDefinition.model_validate(
                    {k: v for k, v in spec.items() if k in ("Image", "ModelDataUrl", "Environment")})))
        except ResourceInUse:
            pass
        variants = [v.model_copy(update={"model_name": name}) if v.model_name == serving_name else v
                    for v in config.production_variants]
        try:
            await deps.hosting.create_endpoint_config(EndpointConfig.model_validate({
                **config.to_api(), "EndpointConfigName": name, "EndpointConfigArn": "", "CreationTime": None,
                "ProductionVariants": [v.to_api() for v in variants]}))
        except ResourceInUse:
            pass
        if run is not None:  # recorded first: the endpoint's InService event may follow quickly
            await deps.retraining.advance(run.run_name, lambda r: r.model_copy(update={"endpoint_config_name": name}))
        await deps.hosting.update_endpoint(policy.endpoint_name, name)
    except Exception as err:  # noqa: BLE001 - the endpoint keeps serving the old model
        if run is not None:
            await deps.retraining.fail(run.run_name, f"deploy to {policy.endpoint_name} failed: {err}")
        else:
            log.exception("deploying %s to %s failed", package["ModelPackageArn"], policy.endpoint_name)
        return False
    log.info("updating %s to %s (%s)", policy.endpoint_name, name, package["ModelPackageArn"])
    if run is None:
        await deps.retraining.set_serving(policy.endpoint_name, package["ModelPackageArn"])
        return True
    try:
        await _start_baseline(deps, policy, run)
    except Exception as err:  # noqa: BLE001 - the deploy goes on; the schedule keeps its old baseline
        await deps.retraining.fail(run.run_name, f"deployed, but the new baseline could not be started: {err}")
    return True


async def _start_baseline(deps: RetrainingDeps, policy: RetrainingPolicy, run: RetrainingRun) -> None:
    """Suggest a new baseline from the run's training data (features only, as the endpoint receives them)."""
    assert deps.retraining is not None and deps.processing is not None
    if not policy.monitoring_schedule_name or not run.training_data_uri:
        await deps.retraining.advance(run.run_name, lambda r: r.model_copy(update={"baseline_done": True}))
        return
    run_folder = evaluation_folder(policy, run.run_name)
    folder = f"{run_folder}/baseline"
    # Captured records read "prediction,features" (output, then input): so must the baseline.
    await data.prediction_first(deps.s3, f"{run_folder}/evaluation/training/features.csv.out",
                                f"{run_folder}/training/features.csv", f"{folder}/data/baseline.csv")
    job = f"{run.run_name}-baseline"
    request = parse_model(CreateProcessingJobRequest, {
        "ProcessingJobName": job, "RoleArn": "arn:aws:iam::000000000000:role/headwater-retraining",
        "AppSpecification": {"ImageUri": ANALYZER_IMAGE},
        "Environment": {"dataset_format": json.dumps({"csv": {"header": False}}),
                        "dataset_source": f"{_PROCESSING}/input/baseline_dataset_input",
                        "output_path": f"{_PROCESSING}/output", "publish_cloudwatch_metrics": "Disabled"},
        "ProcessingInputs": [{"InputName": "baseline_dataset_input", "S3Input": {
            "S3Uri": f"{folder}/data/", "LocalPath": f"{_PROCESSING}/input/baseline_dataset_input",
            "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "monitoring_output", "S3Output": {
            "S3Uri": f"{folder}/output", "LocalPath": f"{_PROCESSING}/output", "S3UploadMode": "EndOfJob"}}]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 5}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
        "Tags": [{"Key": RUN_TAG, "Value": run.run_name}]})
    try:
        await deps.processing.create_processing_job(request)
    except ResourceInUse:
        pass
    await deps.retraining.advance(run.run_name, lambda r: r.model_copy(update={"baseline_job_name": job}))


async def finish_deploy(deps: RetrainingDeps, detail: dict[str, Any]) -> str | None:
    """The endpoint settled after a run's update: record the version it serves, or the failure."""
    assert deps.retraining is not None
    endpoint = detail.get("EndpointName", "")
    status, config = detail.get("EndpointStatus"), detail.get("EndpointConfigName")
    deploying = [r for r in await deps.retraining.list_runs(endpoint)
                 if r.status == RunStatus.DEPLOYING and r.endpoint_config_name]
    if not deploying:
        return None
    run = deploying[-1]
    if status == "InService" and config == run.endpoint_config_name:
        await deps.retraining.set_serving(endpoint, run.model_package_arn or "")
        await _complete(deps, run.run_name, deploy_done=True)
    elif status in ("InService", "Failed") and detail.get("FailureReason"):
        await deps.retraining.fail(run.run_name, f"endpoint update failed, {endpoint} keeps serving the "
                                                 f"previous model: {detail['FailureReason']}")
    return run.run_name


async def apply_baseline(deps: RetrainingDeps, detail: dict[str, Any]) -> str | None:
    """A run's baselining job ended: point the monitoring schedule at the new baseline."""
    assert deps.retraining is not None and deps.monitoring is not None
    name = run_of(detail.get("ProcessingJobName", ""))
    run = await deps.retraining.get_run(name) if name else None
    if run is None or run.baseline_job_name != detail.get("ProcessingJobName") or run.baseline_done:
        return None
    policy = await deps.retraining.get_policy(run.endpoint_name)
    if detail.get("ProcessingJobStatus") != "Completed" or policy is None or not policy.monitoring_schedule_name:
        await deps.retraining.fail(run.run_name, f"baselining job {run.baseline_job_name} "
                                                 f"{detail.get('ProcessingJobStatus')}: {detail.get('FailureReason', '')}"
                                                 "; the schedule keeps its previous baseline")
        return run.run_name
    output = detail["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"].rstrip("/")
    await deps.monitoring.rebaseline(policy.monitoring_schedule_name, {
        "BaseliningJobName": run.baseline_job_name,
        "ConstraintsResource": {"S3Uri": f"{output}/constraints.json"},
        "StatisticsResource": {"S3Uri": f"{output}/statistics.json"}})
    await _complete(deps, run.run_name, baseline_done=True)
    return run.run_name


async def _complete(deps: RetrainingDeps, name: str, **done: bool) -> None:
    """Record a finished half; the run is Completed once deploy and baseline are both done."""
    assert deps.retraining is not None

    def edit(r: RetrainingRun) -> RetrainingRun | None:
        if r.status != RunStatus.DEPLOYING:
            return None
        r = r.model_copy(update=done)
        return r.model_copy(update={"status": RunStatus.COMPLETED}) if r.deploy_done and r.baseline_done else r

    await deps.retraining.advance(name, edit)
