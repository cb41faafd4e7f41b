"""The first half of the chain: drift -> retrain -> evaluate -> register.

Each function is one handler's work, given the event's ``detail``. All of
them are idempotent: resources are named after the run (and the run after
its trigger), creating one that exists is a no-op, and a step already done
is recognised from the run's status.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from services.aws.s3 import parse_s3_uri
from services.core.exceptions import ResourceInUse, ResourceNotFound, ValidationException
from services.core.models import parse_model
from services.hosting.models import Model
from services.inference.models import ContainerDefinition
from services.retraining import data
from services.retraining.deps import RetrainingDeps
from services.retraining.evaluation import EvaluationError, improvement, objective_value, parse_predictions, score
from services.retraining.models import ApprovalMode, RetrainingPolicy, RetrainingRun, RunStatus
from services.retraining.service import run_name_for, run_of
from services.training.models import CreateTrainingJobRequest
from services.transform.models import CreateTransformJobRequest

log = logging.getLogger(__name__)

RUN_TAG = "headwater:retraining-run"
# The run's evaluation transforms: the two models on the holdout, and the candidate on its training data.
EVALUATED = ("candidate", "serving")
TRANSFORMS = (*EVALUATED, "training")


def _run_folder(policy: RetrainingPolicy, bucket: str, run: str) -> str:
    return f"s3://{bucket}/retraining/{policy.endpoint_name}/{run}"


def evaluation_folder(policy: RetrainingPolicy, run: str) -> str:
    """Where a run's evaluation inputs, outputs and reports live: next to the holdout."""
    return _run_folder(policy, parse_s3_uri(policy.holdout_s3_uri)[0], run)


async def serving_model(deps: RetrainingDeps, endpoint: str) -> tuple[str, Any]:
    """The name of the model behind the endpoint's first production variant, and the endpoint config."""
    assert deps.hosting is not None
    described = await deps.hosting.describe_endpoint(endpoint)
    config = await deps.hosting.describe_endpoint_config(described.endpoint_config_name)
    name = config.production_variants[0].model_name
    if not name:
        raise ValidationException(f"endpoint {endpoint} serves no model")
    return name, config


async def _serving_package(deps: RetrainingDeps, policy: RetrainingPolicy) -> Any:
    assert deps.registry is not None
    if policy.serving_package_arn:
        return await deps.registry.describe_model_package(policy.serving_package_arn)
    found, _ = await deps.registry.list_model_packages({
        "ModelPackageGroupName": policy.model_package_group_name, "ModelApprovalStatus": "Approved",
        "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 1})
    if not found:
        raise ValidationException(f"model package group {policy.model_package_group_name} has no approved version "
                                  f"to retrain from")
    return found[0]


async def start_retraining(deps: RetrainingDeps, detail: dict[str, Any]) -> str | None:
    """Drift found on an endpoint under a policy: claim a run and start its training job."""
    assert deps.retraining is not None and deps.hosting is not None
    endpoint = detail.get("EndpointName")
    policy = await deps.retraining.get_policy(endpoint) if endpoint else None
    if policy is None:
        log.info("violations on %s, which has no retraining policy; nothing to do", endpoint)
        return None
    name = run_name_for(policy.endpoint_name, f"{detail.get('MonitoringScheduleName')}/{detail.get('ScheduledTime')}")
    claim = await deps.retraining.claim(policy.endpoint_name, name)
    if not claim.started:
        log.info("retraining of %s suppressed: %s", policy.endpoint_name, claim.reason)
        return None
    now = deps.clock()
    run = await deps.retraining.get_run(name) or await deps.retraining.start_run(RetrainingRun(
        run_name=name, endpoint_name=policy.endpoint_name, model_package_group_name=policy.model_package_group_name,
        creation_time=now, last_modified_time=now, training_job_name=name,
        trigger={k: detail.get(k) for k in ("MonitoringScheduleName", "ScheduledTime", "MonitoringType",
                                            "ViolationCount", "ViolationReportUri") if k in detail}))
    try:
        request = await _training_request(deps, policy, run)
    except Exception as err:  # noqa: BLE001 - any failure to prepare ends the run with its reason
        await deps.retraining.fail(name, f"could not prepare retraining: {err}")
        return name
    try:
        await deps.training.create_training_job(request)
    except ResourceInUse:
        pass  # a redelivered event: the job exists
    log.info("retraining %s: training job %s started", policy.endpoint_name, name)
    return name


async def _training_request(deps: RetrainingDeps, policy: RetrainingPolicy, run: RetrainingRun) -> CreateTrainingJobRequest:
    """The serving version's training job again, its ``train`` channel extended with labelled captures."""
    assert deps.retraining is not None and deps.hosting is not None
    package = await _serving_package(deps, policy)
    if package.lineage is None:
        raise ValidationException(f"{package.model_package_arn} records no training job to retrain from")
    base = await deps.training.describe_training_job(package.lineage.training_job_name)
    channels = list(base.input_data_config or [])
    train = next((c for c in channels if c.channel_name == "train"), None)
    if train is None or train.data_source.s3_data_source is None:
        raise ValidationException(f"training job {base.training_job_name} has no S3 'train' channel")
    source = train.data_source.s3_data_source
    objects = await data.channel_objects(deps.s3, source.s3_uri, source.s3_data_type)
    if not objects:
        raise ValidationException(f"the training data {source.s3_uri} is empty")
    bucket = objects[0][0]
    folder = _run_folder(policy, bucket, run.run_name)
    _, config = await serving_model(deps, policy.endpoint_name)
    captured = data.LabelledCaptures([], 0, 0)
    if config.data_capture_config is not None:
        capture_uri = f"{config.data_capture_config.destination_s3_uri.rstrip('/')}/{policy.endpoint_name}/"
        captured = await data.labelled_captures(deps.s3, capture_uri, policy.serving_since,
                                                policy.ground_truth_s3_uri)
    if len(captured.rows) < max(policy.min_labelled_records, 1 if policy.training_data == "CapturedOnly" else 0):
        raise ValidationException(f"{len(captured.rows)} labelled captured records since the serving version was "
                                  f"deployed; the policy needs at least {policy.min_labelled_records}")
    if policy.training_data == "CapturedOnly":
        objects = []
    if captured.rows:
        key = f"{parse_s3_uri(folder)[1]}/captured/labelled.csv"
        await deps.s3.put_bytes(bucket, key, ("\n".join(captured.rows) + "\n").encode(), "text/csv")
        objects.append((bucket, key))
    manifest = f"{folder}/train.manifest"
    await data.write_manifest(deps.s3, objects, manifest)
    await deps.retraining.advance(run.run_name, lambda r: r.model_copy(update={
        "serving_package_arn": package.model_package_arn, "training_data_uri": manifest,
        "captured_records": captured.captured, "labelled_records": len(captured.rows)}))
    new_train = train.model_copy(update={"data_source": train.data_source.model_copy(update={
        "s3_data_source": source.model_copy(update={"s3_data_type": "ManifestFile", "s3_uri": manifest})})})
    fields = {name: getattr(base, name) for name in CreateTrainingJobRequest.model_fields}
    tags = [t for t in (base.tags or []) if t.get("Key") != RUN_TAG] + [{"Key": RUN_TAG, "Value": run.run_name}]
    return CreateTrainingJobRequest.model_validate({
        **fields, "training_job_name": run.run_name, "tags": tags,
        "input_data_config": [new_train if c is train else c for c in channels]})


async def evaluate_candidate(deps: RetrainingDeps, detail: dict[str, Any]) -> str | None:
    """A run's training job ended: on success, score it and the serving model on the holdout."""
    assert deps.retraining is not None and deps.hosting is not None and deps.transform is not None
    run = await deps.retraining.get_run(detail.get("TrainingJobName", ""))
    if run is None or run.status != RunStatus.TRAINING:
        return None
    status = detail.get("TrainingJobStatus")
    if status != "Completed":
        await deps.retraining.fail(run.run_name, f"training job {run.training_job_name} {status}: "
                                                 f"{detail.get('FailureReason', '')}".strip())
        return run.run_name
    policy = await deps.retraining.get_policy(run.endpoint_name)
    if policy is None:
        await deps.retraining.fail(run.run_name, "the retraining policy was deleted")
        return run.run_name
    try:
        job = await deps.training.describe_training_job(run.training_job_name or run.run_name)
        serving_name, _ = await serving_model(deps, run.endpoint_name)
        serving = await deps.hosting.describe_model(serving_name)
        artifact = job.model_artifacts.s3_model_artifacts if job.model_artifacts else None
        template = serving.pipeline()[0] if serving.pipeline() else None
        if artifact is None or template is None:
            raise ValidationException("the candidate has no model artifact, or the serving model no container")
        candidate = f"{run.run_name}-candidate"
        try:  # the serving model's container (image, environment) with the new artifact
            await deps.hosting.create_model(Model(
                model_name=candidate, execution_role_arn=serving.execution_role_arn or job.role_arn,
                primary_container=ContainerDefinition.model_validate(
                    {**template.to_api(), "ModelDataUrl": artifact})))
        except ResourceInUse:
            pass
        folder = evaluation_folder(policy, run.run_name)
        inputs = {"candidate": f"{folder}/holdout/features.csv", "training": f"{folder}/training/features.csv"}
        _, rows = await data.features_only(deps.s3, await data.channel_objects(deps.s3, policy.holdout_s3_uri,
                                                                               "S3Prefix"), inputs["candidate"])
        if not rows:
            raise ValidationException(f"the holdout {policy.holdout_s3_uri} has no records")
        await data.features_only(deps.s3, await data.channel_objects(deps.s3, run.training_data_uri or "",
                                                                     "ManifestFile"), inputs["training"])
        await deps.retraining.advance(run.run_name, lambda r: r.model_copy(update={
            "status": RunStatus.EVALUATING, "candidate_model_name": candidate, "serving_model_name": serving_name}))
        # The candidate and the serving model score the holdout; the candidate also scores its own
        # training data, whose predictions head the rows of the next monitoring baseline.
        for which, model, features in (("candidate", candidate, inputs["candidate"]),
                                       ("serving", serving_name, inputs["candidate"]),
                                       ("training", candidate, inputs["training"])):
            request = parse_model(CreateTransformJobRequest, {
                "TransformJobName": f"{run.run_name}-{which}", "ModelName": model,
                "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": features}},
                                   "ContentType": "text/csv", "SplitType": "Line"},
                "TransformOutput": {"S3OutputPath": f"{folder}/evaluation/{which}/", "Accept": "text/csv",
                                    "AssembleWith": "Line"},
                "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
                "Tags": [{"Key": RUN_TAG, "Value": run.run_name}]})
            try:
                await deps.transform.create_transform_job(request)
            except ResourceInUse:
                pass
    except Exception as err:  # noqa: BLE001 - the run records why; the endpoint is untouched
        await deps.retraining.fail(run.run_name, f"could not start the evaluation: {err}")
    return run.run_name


async def register_candidate(deps: RetrainingDeps, detail: dict[str, Any]) -> str | None:
    """An evaluation transform ended: once both have, score, register and apply the approval policy."""
    assert deps.retraining is not None and deps.transform is not None and deps.registry is not None
    name = run_of(detail.get("TransformJobName", ""))
    run = await deps.retraining.get_run(name) if name else None
    if run is None or run.status != RunStatus.EVALUATING:
        return None
    policy = await deps.retraining.get_policy(run.endpoint_name)
    try:
        jobs = {w: await deps.transform.describe_transform_job(f"{run.run_name}-{w}") for w in TRANSFORMS}
    except ResourceNotFound:
        return None  # the evaluation step is still creating them
    states = {which: job.transform_job_status.value if hasattr(job.transform_job_status, "value")
              else str(job.transform_job_status) for which, job in jobs.items()}
    if any(s in ("Failed", "Stopped") for s in states.values()):
        failed = [f"{run.run_name}-{w}: {s} {jobs[w].failure_reason or ''}".strip() for w, s in states.items()
                  if s in ("Failed", "Stopped")]
        await deps.retraining.fail(run.run_name, "evaluation failed: " + "; ".join(failed))
        return run.run_name
    if any(s != "Completed" for s in states.values()) or policy is None:
        return None  # another transform is still running: its own event finishes the step
    try:
        reports = await _score(deps, policy, run)
    except (EvaluationError, ValidationException) as err:
        await deps.retraining.fail(run.run_name, f"evaluation failed: {err}")
        return run.run_name
    return await _register(deps, policy, run, reports)


async def _score(deps: RetrainingDeps, policy: RetrainingPolicy, run: RetrainingRun) -> dict[str, dict[str, Any]]:
    labels: list[str] = []
    folder = evaluation_folder(policy, run.run_name)
    for bucket, key in await data.channel_objects(deps.s3, policy.holdout_s3_uri, "S3Prefix"):
        body = (await deps.s3.get_bytes(bucket, key) or b"").decode("utf-8", errors="replace")
        labels.extend(row.split(",", 1)[0].strip() for row in body.splitlines() if row.strip())
    reports: dict[str, dict[str, Any]] = {}
    for which in EVALUATED:
        out = f"{folder}/evaluation/{which}/features.csv.out"
        ob, ok = parse_s3_uri(out)
        body = await deps.s3.get_bytes(ob, ok)
        if body is None:
            raise EvaluationError(f"no transform output at {out}")
        predictions = parse_predictions(body.decode("utf-8", errors="replace"), len(labels), out)
        reports[which] = score(policy.problem_type, labels, predictions, policy.probability_threshold)
        await deps.s3.put_bytes(ob, f"{parse_s3_uri(folder)[1]}/evaluation/{which}.json",
                                json.dumps(reports[which], indent=2).encode(), "application/json")
    return reports


async def _register(deps: RetrainingDeps, policy: RetrainingPolicy, run: RetrainingRun,
                    reports: dict[str, dict[str, Any]]) -> str:
    assert deps.retraining is not None and deps.registry is not None and deps.hosting is not None
    candidate, serving = (objective_value(reports[w], policy.objective) for w in EVALUATED)
    gain = improvement(policy.objective, candidate, serving)
    approve = policy.approval == ApprovalMode.AUTO and gain >= policy.min_improvement
    verdict = (f"{policy.objective} {candidate:.4f} vs {serving:.4f} serving ({gain:+.4f}; policy: "
               f"{policy.approval.value}, at least {policy.min_improvement:+.4f})")
    # Only the delivery that records the verdict registers: duplicates stop here.
    before, _ = await deps.retraining.advance(run.run_name, lambda r: r.model_copy(update={
        "approval_description": verdict, "evaluation": {w: reports[w] for w in EVALUATED}})
        if r.status == RunStatus.EVALUATING and r.approval_description is None else None)
    if before.status != RunStatus.EVALUATING or before.approval_description is not None:
        return run.run_name
    model = await deps.hosting.describe_model(run.candidate_model_name or f"{run.run_name}-candidate")
    container = model.pipeline()[0].to_api()
    folder = evaluation_folder(policy, run.run_name)
    job = await deps.training.describe_training_job(run.training_job_name or run.run_name)
    package = await deps.registry.create_model_package({
        "ModelPackageGroupName": policy.model_package_group_name,
        "ModelPackageDescription": f"retrained by {run.run_name} after drift on {run.endpoint_name}",
        "InferenceSpecification": {"Containers": [{k: v for k, v in container.items()
                                                   if k in ("Image", "ModelDataUrl", "Environment")}],
                                   "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        "ModelApprovalStatus": "Approved" if approve else "PendingManualApproval",
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                         "S3Uri": f"{folder}/evaluation/candidate.json"}}},
        "CustomerMetadataProperties": {"RetrainingRun": run.run_name, "Objective": policy.objective,
                                       "CandidateObjectiveValue": f"{candidate:.6g}",
                                       "ServingObjectiveValue": f"{serving:.6g}",
                                       "ServingModelPackageArn": run.serving_package_arn or "",
                                       "ServingEvaluationS3Uri": f"{folder}/evaluation/serving.json",
                                       "ApprovalPolicy": verdict[:256]},
        "MetadataProperties": {"GeneratedBy": job.training_job_arn},
        **({"ApprovalDescription": f"auto-approved: {verdict}"} if approve else {})})
    # The deploy handler may have moved the run on already (an approved package's event is fast).
    await deps.retraining.advance(run.run_name, lambda r: r.model_copy(update={
        "model_package_arn": package.model_package_arn,
        "status": (RunStatus.DEPLOYING if approve else RunStatus.PENDING_APPROVAL)
        if r.status == RunStatus.EVALUATING else r.status}))
    log.info("retraining %s: registered %s (%s)", run.endpoint_name, package.model_package_arn, verdict)
    return run.run_name
