"""The second act of ``headwater demo``: the world drifts, and the chain retrains, by itself.

With v1 serving and capturing its traffic, this act suggests a baseline,
schedules data-quality monitoring, declares a retraining policy, then sends
traffic from a changed world with ground-truth labels arriving afterwards.
The monitor finds the drift, and the chain of rules does the rest: retrain
on the labelled captures, evaluate both versions on a holdout, register v2
with its metrics, approve it by policy, update the endpoint blue/green
(traffic keeps flowing; a failed request fails the demo), rebaseline. A
last execution over the traffic since the update finds no drift.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import numpy as np

from infra.demo.datasets import make_churn_drifted, to_csv
from infra.node import HeadwaterNode
from services.retraining.models import RetrainingPolicy, RetrainingRun, RunStatus

ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
SCHEDULE = "churn-data-quality"
DRIFTED_REQUESTS = 1500
Say = Callable[[str, str], None]


class StepFailed(RuntimeError):
    """A step of the story did not do what it should; the demo exits non-zero."""


def _row(x: np.ndarray) -> bytes:
    return ",".join(f"{v:.10g}" for v in x).encode()


async def _wait(what: str, probe: Callable[[], Any], timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := await probe()) is not None:
            return found
        await asyncio.sleep(0.5)
    raise StepFailed(f"{what} did not happen within {timeout:.0f} s")


async def _job(sm: Any, kind: str, name: str) -> dict[str, Any]:
    describe = {"transform": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
                "processing": ("describe_processing_job", "ProcessingJobName", "ProcessingJobStatus")}[kind]

    async def done() -> dict[str, Any] | None:
        d = await getattr(sm, describe[0])(**{describe[1]: name})
        return d if d[describe[2]] in ("Completed", "Failed", "Stopped") else None

    d = await _wait(f"{kind} job {name}", done)
    if d[describe[2]] != "Completed":
        raise StepFailed(f"{kind} job {name} {d[describe[2]]}: {d.get('FailureReason', '')}")
    return dict(d)


async def suggest_baseline(sm: Any, s3: Any, bucket: str, X: np.ndarray, model: str, role: str) -> str:
    """v1's predictions on its training features, then the analyzer: the baseline's S3 prefix."""
    features = b"\n".join(_row(x) for x in X) + b"\n"
    await s3.put_object(Bucket=bucket, Key="demo/baseline/features/train.csv", Body=features)
    await sm.create_transform_job(
        TransformJobName="churn-baseline-predictions", ModelName=model,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": f"s3://{bucket}/demo/baseline/features/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{bucket}/demo/baseline/predictions/", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    await _job(sm, "transform", "churn-baseline-predictions")
    body = await (await s3.get_object(Bucket=bucket, Key="demo/baseline/predictions/train.csv.out"))["Body"].read()
    # Captured CSV records read "prediction,features": so do the baseline's rows.
    rows = [p + b"," + f for p, f in zip(body.split(), features.split())]
    await s3.put_object(Bucket=bucket, Key="demo/baseline/data/train.csv", Body=b"\n".join(rows) + b"\n")
    local = "/opt/ml/processing"
    await sm.create_processing_job(
        ProcessingJobName="churn-baseline", RoleArn=role, AppSpecification={"ImageUri": ANALYZER},
        Environment={"dataset_format": json.dumps({"csv": {"header": False}}),
                     "dataset_source": f"{local}/input/baseline_dataset_input", "output_path": f"{local}/output",
                     "publish_cloudwatch_metrics": "Disabled"},
        ProcessingInputs=[{"InputName": "baseline_dataset_input", "S3Input": {
            "S3Uri": f"s3://{bucket}/demo/baseline/data/", "LocalPath": f"{local}/input/baseline_dataset_input",
            "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        ProcessingOutputConfig={"Outputs": [{"OutputName": "monitoring_output", "S3Output": {
            "S3Uri": f"s3://{bucket}/demo/baseline/output", "LocalPath": f"{local}/output",
            "S3UploadMode": "EndOfJob"}}]},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 5}})
    await _job(sm, "processing", "churn-baseline")
    return f"s3://{bucket}/demo/baseline/output"


async def schedule_monitoring(sm: Any, endpoint: str, baseline: str, bucket: str, role: str) -> None:
    """An hourly data-quality schedule on the endpoint's captured traffic."""
    local = "/opt/ml/processing"
    await sm.create_monitoring_schedule(MonitoringScheduleName=SCHEDULE, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
        "MonitoringJobDefinition": {
            "BaselineConfig": {"ConstraintsResource": {"S3Uri": f"{baseline}/constraints.json"},
                               "StatisticsResource": {"S3Uri": f"{baseline}/statistics.json"}},
            "MonitoringInputs": [{"EndpointInput": {"EndpointName": endpoint, "LocalPath": f"{local}/input/ep"}}],
            "MonitoringOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": f"s3://{bucket}/demo/monitoring", "LocalPath": f"{local}/output"}}]},
            "MonitoringResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                      "VolumeSizeInGB": 5}},
            "MonitoringAppSpecification": {"ImageUri": ANALYZER}, "RoleArn": role}})


async def monitor_now(node: HeadwaterNode, sm: Any, s3: Any, since: datetime | None = None) -> list[dict[str, Any]]:
    """One on-demand execution (as ``headwater monitor`` runs it); its violations."""
    assert node.services is not None and node.services.monitoring is not None
    await asyncio.sleep(2.5)  # captured records are flushed about every second
    execution = await node.services.monitoring.run_execution(SCHEDULE, since=since)

    async def finished() -> dict[str, Any] | None:
        for e in (await sm.list_monitoring_executions(MonitoringScheduleName=SCHEDULE))["MonitoringExecutionSummaries"]:
            if e.get("ProcessingJobArn", "").endswith(execution.processing_job_name) and \
                    e["MonitoringExecutionStatus"] not in ("Pending", "InProgress"):
                return dict(e)
        return None

    summary = await _wait("the monitoring execution", finished)
    if summary["MonitoringExecutionStatus"] not in ("Completed", "CompletedWithViolations"):
        raise StepFailed(f"monitoring execution {summary['MonitoringExecutionStatus']}: "
                         f"{summary.get('FailureReason', '')}")
    if summary["MonitoringExecutionStatus"] == "Completed":
        return []
    bucket, key = (execution.output_uri or "").removeprefix("s3://").split("/", 1)
    report = await (await s3.get_object(Bucket=bucket, Key=f"{key}/constraint_violations.json"))["Body"].read()
    return list(json.loads(report)["violations"])


class Traffic:
    """Drifted requests on a loop until stopped (bounded), counting failures: the update must drop none."""

    def __init__(self, rt: Any, endpoint: str, X: np.ndarray) -> None:
        self.rt, self.endpoint, self.X = rt, endpoint, X
        self.sent, self.failed = 0, 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        deadline = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                resp = await self.rt.invoke_endpoint(EndpointName=self.endpoint, ContentType="text/csv",
                                                     Body=_row(self.X[self.sent % len(self.X)]))
                await resp["Body"].read()
            except Exception:  # noqa: BLE001 - counted: any failure fails the demo
                self.failed += 1
            self.sent += 1
            await asyncio.sleep(0.02)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


async def follow_run(node: HeadwaterNode, endpoint: str, say: Say) -> RetrainingRun:
    """Narrate the chain's run for ``endpoint`` until it ends."""
    assert node.services is not None and node.services.retraining is not None
    retraining = node.services.retraining

    async def started() -> RetrainingRun | None:
        runs = await retraining.list_runs(endpoint)
        return runs[-1] if runs else None

    run = await _wait("a retraining run", started, timeout=60)
    say("chain", f"rule retrain-on-drift -> run {run.run_name}")
    seen: RunStatus | None = None
    while True:
        run = await retraining.get_run(run.run_name) or run
        if run.status != seen:
            seen = run.status
            say("chain", {
                RunStatus.TRAINING: f"Training     job {run.training_job_name} on the labelled captures",
                RunStatus.EVALUATING: f"Evaluating   {run.labelled_records} labelled of {run.captured_records} "
                                      "captured records went into training; both versions score the holdout",
                RunStatus.PENDING_APPROVAL: f"Registered   waiting for a human: {run.approval_description}",
                RunStatus.DEPLOYING: f"Approved     {run.approval_description}; updating the endpoint blue/green",
                RunStatus.COMPLETED: "Completed    v2 serves; the schedule's baseline was recomputed",
                RunStatus.FAILED: f"Failed       {run.failure_reason}",
            }[run.status])
        if run.status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.PENDING_APPROVAL):
            return run
        await asyncio.sleep(0.5)


def metrics_table(run: RetrainingRun) -> list[str]:
    """v1 beside v2 on the holdout."""
    lines = [f"{'holdout metric':<16}{'v1 (serving)':>14}{'v2 (retrained)':>16}"]
    for name in ("accuracy", "auc", "f1"):
        v1 = run.evaluation["serving"]["binary_classification_metrics"][name]["value"]
        v2 = run.evaluation["candidate"]["binary_classification_metrics"][name]["value"]
        lines.append(f"{name:<16}{v1:>14.3f}{v2:>16.3f}")
    return lines


async def retraining_story(node: HeadwaterNode, sm: Any, rt: Any, s3: Any, endpoint: str, model: str,
                           group: str, train_X: np.ndarray, role: str, say: Say) -> int:
    """Act two; 0 when every step did what it should."""
    assert node.services is not None and node.services.retraining is not None
    s = node.settings
    bucket = s.artifacts_bucket
    try:
        baseline = await suggest_baseline(sm, s3, bucket, train_X, model, role)
        say("baseline", f"v1's predictions on its training data -> analyzer -> {baseline}/constraints.json")
        await schedule_monitoring(sm, endpoint, baseline, bucket, role)
        say("monitor", f"schedule {SCHEDULE}: data quality of {endpoint}'s captured traffic, hourly")
        Xh, yh = make_churn_drifted(500, seed=41)
        await s3.put_object(Bucket=s.data_bucket, Key="datasets/churn/holdout/holdout.csv", Body=to_csv(Xh, yh))
        await node.services.retraining.put_policy(RetrainingPolicy(
            endpoint_name=endpoint, model_package_group_name=group,
            holdout_s3_uri=f"s3://{s.data_bucket}/datasets/churn/holdout/",
            ground_truth_s3_uri=f"s3://{bucket}/demo/ground-truth/", monitoring_schedule_name=SCHEDULE,
            training_data="CapturedOnly", min_labelled_records=500, objective="auc", min_improvement=0.02,
            probability_threshold=0.3,  # churn outreach starts at a 30 % risk: accuracy and F1 are read there
            cooldown_seconds=600))
        say("policy", f"{endpoint}: retrain on labelled captures, approve when holdout AUC improves by "
                      "0.02 or more (see `headwater retraining show`)")
        violations = await monitor_now(node, sm, s3)
        if violations:
            raise StepFailed(f"in-distribution traffic raised {len(violations)} violations")
        say("monitor", "execution over the live traffic so far: Completed, no violations")
        X, y = make_churn_drifted(DRIFTED_REQUESTS, seed=29)
        ids = []
        for i, x in enumerate(X):
            ids.append(f"drifted-{i}")
            resp = await rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=_row(x),
                                            InferenceId=ids[-1])
            await resp["Body"].read()
            if (i + 1) % 500 == 0:
                say("drift", f"{i + 1}/{DRIFTED_REQUESTS} requests from the changed world (fiber prices up)")
        truth = "\n".join(json.dumps({"groundTruthData": {"data": str(int(label)), "encoding": "CSV"},
                                      "eventMetadata": {"eventId": event_id}, "eventVersion": "0"})
                          for event_id, label in zip(ids, y))
        await s3.put_object(Bucket=bucket, Key="demo/ground-truth/labels.jsonl", Body=truth.encode())
        say("labels", f"{len(ids)} ground-truth labels arrive, keyed by the callers' InferenceIds")
        traffic = Traffic(rt, endpoint, make_churn_drifted(300, seed=31)[0])
        traffic.start()
        violations = await monitor_now(node, sm, s3)
        if not violations:
            raise StepFailed("the drifted traffic raised no violation")
        shown = ", ".join(sorted({f"{v['feature_name']} ({v['constraint_check_type']})" for v in violations}))
        say("monitor", f"CompletedWithViolations: {shown}")
        run = await follow_run(node, endpoint, say)
        await traffic.stop()
        if run.status != RunStatus.COMPLETED:
            raise StepFailed(f"run {run.run_name} ended {run.status.value}: {run.failure_reason or ''}")
        if traffic.failed:
            raise StepFailed(f"{traffic.failed} of {traffic.sent} requests failed during the update")
        say("update", f"{traffic.sent} requests during retraining and the update, none failed")
        updated = datetime.now(timezone.utc)
        described = await sm.describe_endpoint(EndpointName=endpoint)
        say("deploy", f"{endpoint} serves {described['EndpointConfigName']} ({run.model_package_arn})")
        await asyncio.sleep(1.0)
        for x in make_churn_drifted(600, seed=37)[0]:
            resp = await rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=_row(x))
            await resp["Body"].read()
        violations = await monitor_now(node, sm, s3, since=updated)
        if violations:
            shown = ", ".join(sorted({v["feature_name"] for v in violations}))
            raise StepFailed(f"after the update the monitor still finds drift in {shown}")
        say("monitor", "execution over the traffic since the update, against the new baseline: no violations")
        for line in metrics_table(run):
            say("summary", line)
        return 0
    except StepFailed as err:
        say("FAILED", str(err))
        return 1
