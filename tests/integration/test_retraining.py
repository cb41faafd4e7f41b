"""The retraining chain on a real node: drift -> retrain -> evaluate -> register -> deploy -> rebaseline.

One endpoint serves an XGBoost model trained on world A (label = x0 + x1 > 0).
Traffic then comes from world B (x0 shifted by +3, label = x1 > 0), labelled
afterwards through ground truth keyed by the callers' InferenceIds. Every
link is a rule on the headwater bus; the tests drive it only through the
SageMaker API, S3, sagemaker-runtime and EventBridge, as a user would.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np
import pytest

from services.monitoring.service import EXECUTION_DETAIL_TYPE
from services.retraining.models import RetrainingPolicy, RunStatus
from services.retraining.service import DETAIL_TYPE as RUN_DETAIL_TYPE
from services.retraining.service import run_name_for
from tests.integration.hosting_support import IMAGE, ROLE, csv_row, wait_status
from tests.support import NodeThread, observe_events, wait_for, wait_for_job

DATA = "headwater-data"
ART = "headwater-artifacts"
ENDPOINT = "churn-live"
GROUP = "churn-models"
SCHEDULE = "churn-drift"
ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"


def world_a(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def world_b(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:, 0] += 3.0
    return X, (X[:, 1] > 0).astype(int)


def labelled_csv(X: np.ndarray, y: np.ndarray) -> bytes:
    return "".join(f"{label}," + csv_row(x).decode() + "\n" for x, label in zip(X, y)).encode()


def _train_v1(node: NodeThread) -> dict[str, Any]:
    s3, sm = node.client("s3"), node.client("sagemaker")
    X, y = world_a(1500, 1)
    s3.put_object(Bucket=DATA, Key="churn/train/a.csv", Body=labelled_csv(X, y))
    sm.create_training_job(
        TrainingJobName="churn-v1", RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"objective": "binary:logistic", "num_round": "30", "max_depth": "4"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{DATA}/churn/train/"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{ART}/churn-models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    job = wait_for_job(sm, "churn-v1", timeout=180)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return job


def _baseline(node: NodeThread, X: np.ndarray) -> str:
    """Suggest a data-quality baseline of world A with the analyzer; its output URI.

    Captured CSV records read "prediction,features", so the baseline rows do too: the
    predictions come from v1 itself in a batch transform, written as the container writes them.
    """
    s3, sm = node.client("s3"), node.client("sagemaker")
    features = "".join(csv_row(x).decode() + "\n" for x in X)
    s3.put_object(Bucket=ART, Key="churn/baseline/features/a.csv", Body=features.encode())
    sm.create_transform_job(
        TransformJobName="churn-baseline-predict", ModelName="churn-v1",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": f"s3://{ART}/churn/baseline/features/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{ART}/churn/baseline/predictions/", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    done = wait_for(lambda: (d := sm.describe_transform_job(TransformJobName="churn-baseline-predict"))
                    ["TransformJobStatus"] in ("Completed", "Failed") and d, timeout=120, what="the predictions")
    assert done["TransformJobStatus"] == "Completed", done.get("FailureReason")
    predictions = s3.get_object(Bucket=ART, Key="churn/baseline/predictions/a.csv.out")["Body"].read().decode()
    rows = [f"{p},{f}" for p, f in zip(predictions.split(), features.split())]
    s3.put_object(Bucket=ART, Key="churn/baseline/data/a.csv", Body=("\n".join(rows) + "\n").encode())
    sm.create_processing_job(
        ProcessingJobName="churn-baseline", RoleArn=ROLE, AppSpecification={"ImageUri": ANALYZER},
        Environment={"dataset_format": json.dumps({"csv": {"header": False}}),
                     "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
                     "output_path": "/opt/ml/processing/output", "publish_cloudwatch_metrics": "Disabled"},
        ProcessingInputs=[{"InputName": "baseline_dataset_input", "S3Input": {
            "S3Uri": f"s3://{ART}/churn/baseline/data/", "LocalPath": "/opt/ml/processing/input/baseline_dataset_input",
            "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        ProcessingOutputConfig={"Outputs": [{"OutputName": "monitoring_output", "S3Output": {
            "S3Uri": f"s3://{ART}/churn/baseline/output", "LocalPath": "/opt/ml/processing/output",
            "S3UploadMode": "EndOfJob"}}]},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 5}})
    done = wait_for(lambda: (d := sm.describe_processing_job(ProcessingJobName="churn-baseline"))
                    ["ProcessingJobStatus"] in ("Completed", "Failed") and d, timeout=120, what="the baseline")
    assert done["ProcessingJobStatus"] == "Completed", done.get("FailureReason")
    return f"s3://{ART}/churn/baseline/output"


@pytest.fixture(scope="module")
def chain(node: NodeThread) -> dict[str, Any]:
    """v1 trained, registered, approved and serving with capture; a schedule; the retraining policy."""
    s3, sm, events, sqs = (node.client(s) for s in ("s3", "sagemaker", "events", "sqs"))
    job = _train_v1(node)
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    v1 = sm.create_model_package(ModelPackageGroupName=GROUP, InferenceSpecification={
        "Containers": [{"Image": IMAGE, "ModelDataUrl": artifact}], "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"]}, ModelApprovalStatus="Approved")["ModelPackageArn"]
    sm.create_model(ModelName="churn-v1", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": artifact})
    sm.create_endpoint_config(
        EndpointConfigName="churn-live-v1",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "churn-v1", "InitialInstanceCount": 1,
                             "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": f"s3://{ART}/churn/capture",
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="churn-live-v1")
    assert wait_status(node, ENDPOINT)["EndpointStatus"] == "InService"
    baseline = _baseline(node, world_a(1500, 1)[0])
    sm.create_monitoring_schedule(MonitoringScheduleName=SCHEDULE, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
        "MonitoringJobDefinition": {
            "BaselineConfig": {"ConstraintsResource": {"S3Uri": f"{baseline}/constraints.json"},
                               "StatisticsResource": {"S3Uri": f"{baseline}/statistics.json"}},
            "MonitoringInputs": [{"EndpointInput": {"EndpointName": ENDPOINT,
                                                    "LocalPath": "/opt/ml/processing/input/endpoint"}}],
            "MonitoringOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": f"s3://{ART}/churn/reports", "LocalPath": "/opt/ml/processing/output"}}]},
            "MonitoringResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                      "VolumeSizeInGB": 5}},
            "MonitoringAppSpecification": {"ImageUri": ANALYZER}, "RoleArn": ROLE}})
    Xh, yh = world_b(400, 99)
    s3.put_object(Bucket=DATA, Key="churn/holdout/b.csv", Body=labelled_csv(Xh, yh))
    retraining = node.node.services.retraining
    node.run(retraining.put_policy(RetrainingPolicy(
        endpoint_name=ENDPOINT, model_package_group_name=GROUP, holdout_s3_uri=f"s3://{DATA}/churn/holdout/",
        ground_truth_s3_uri=f"s3://{ART}/churn/ground-truth/", monitoring_schedule_name=SCHEDULE,
        objective="accuracy", min_improvement=0.05, cooldown_seconds=3600)))
    node.run(retraining.set_serving(ENDPOINT, v1))
    # A user's own extra link: every run state change also lands in a queue (a notification step).
    queue = observe_events(node, "retraining-notifications", RUN_DETAIL_TYPE)
    return {"v1": v1, "queue": queue}


def _invoke(node: NodeThread, X: np.ndarray, prefix: str) -> list[str]:
    rt = node.client("sagemaker-runtime")
    ids = []
    for i, x in enumerate(X):
        ids.append(f"{prefix}-{i}")
        rt.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=csv_row(x), InferenceId=ids[-1])
    return ids


def _ground_truth(node: NodeThread, ids: list[str], y: np.ndarray, key: str, labels: list[str] | None = None) -> None:
    lines = [json.dumps({"groundTruthData": {"data": label, "encoding": "CSV"},
                         "eventMetadata": {"eventId": event_id}, "eventVersion": "0"})
             for event_id, label in zip(ids, labels or [str(int(v)) for v in y])]
    node.client("s3").put_object(Bucket=ART, Key=f"churn/ground-truth/{key}", Body="\n".join(lines).encode())


def _wait_captured(node: NodeThread, inference_id: str) -> None:
    """Wait until the capture files hold ``inference_id`` (records are flushed about every second)."""
    s3 = node.client("s3")

    def landed() -> bool:
        for obj in s3.list_objects_v2(Bucket=ART, Prefix="churn/capture/").get("Contents", []):
            if f'"inferenceId":"{inference_id}"' in s3.get_object(Bucket=ART, Key=obj["Key"])["Body"].read().decode():
                return True
        return False

    wait_for(landed, timeout=30, what=f"the capture of {inference_id}")


def _execute(node: NodeThread) -> dict[str, Any]:
    """Run the schedule now (as `headwater monitor` does) and wait for its end."""
    node.wait_for_captures()
    monitoring = node.node.services.monitoring
    execution = node.run(monitoring.run_execution(SCHEDULE))
    sm = node.client("sagemaker")

    def finished() -> dict[str, Any] | None:
        for e in sm.list_monitoring_executions(MonitoringScheduleName=SCHEDULE)["MonitoringExecutionSummaries"]:
            if e["ProcessingJobArn"].endswith(execution.processing_job_name) and \
                    e["MonitoringExecutionStatus"] not in ("Pending", "InProgress"):
                return e
        return None

    return wait_for(finished, timeout=120, what="the monitoring execution")


def _violations_event(node: NodeThread, scheduled: str) -> None:
    """A violations event as a monitoring execution publishes it (for the guard-rail tests)."""
    node.client("events").put_events(Entries=[{
        "Source": node.settings.event_source, "DetailType": EXECUTION_DETAIL_TYPE,
        "EventBusName": node.settings.event_bus,
        "Detail": json.dumps({"MonitoringScheduleName": SCHEDULE, "ScheduledTime": scheduled,
                              "MonitoringExecutionStatus": "CompletedWithViolations", "EndpointName": ENDPOINT,
                              "ViolationsFound": True, "ViolationCount": 1})}])


def _observe_executions(node: NodeThread) -> str:
    """A queue of our own that every monitoring execution event also reaches."""
    return observe_events(node, "observe-executions", EXECUTION_DETAIL_TYPE)


def _observed(node: NodeThread, queue: str, status: str) -> bool:
    messages = node.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return any(json.loads(m["Body"])["detail"]["MonitoringExecutionStatus"] == status for m in messages)


def _queued(node: NodeThread, handler: str) -> int:
    """Messages waiting for ``handler`` or being handled."""
    sqs = node.client("sqs")
    url = sqs.get_queue_url(QueueName=node.settings.queue_name(handler))["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _runs(node: NodeThread) -> list[Any]:
    return node.run(node.node.services.retraining.list_runs(ENDPOINT))


def _wait_run(node: NodeThread, name: str, statuses: tuple[RunStatus, ...], timeout: float = 240) -> Any:
    def settled() -> Any:
        run = node.run(node.node.services.retraining.get_run(name))
        return run if run is not None and run.status in statuses else None

    return wait_for(settled, timeout=timeout, interval=0.5, what=f"run {name} to reach {statuses}")


class _Traffic:
    """Requests in a loop on a thread until stopped (bounded), counting failures."""

    def __init__(self, node: NodeThread, X: np.ndarray) -> None:
        self.rt = node.client("sagemaker-runtime")
        self.X, self.sent, self.failed = X, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        deadline = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < deadline and self.sent < 20_000:
            try:
                self.rt.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv",
                                        Body=csv_row(self.X[self.sent % len(self.X)]))
            except Exception as err:  # noqa: BLE001 - counted, then asserted on
                self.failed.append(repr(err))
            self.sent += 1
            time.sleep(0.02)

    def __enter__(self) -> _Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(30)


def test_in_distribution_traffic_does_not_retrain(node: NodeThread, chain: dict[str, Any]) -> None:
    observed = _observe_executions(node)
    before = node.runtime_stats("retrain-on-drift")
    X, y = world_a(300, 5)
    _invoke(node, X, "a")
    execution = _execute(node)
    assert execution["MonitoringExecutionStatus"] == "Completed", execution
    # Once the execution's event is on the bus, every rule it matches has delivered it (to our observer too).
    wait_for(lambda: _observed(node, observed, "Completed"), 30, what="the execution's event on the bus")
    assert _queued(node, "retrain-on-drift") == 0 and node.runtime_stats("retrain-on-drift") == before
    assert _runs(node) == []


def test_drift_retrains_evaluates_registers_and_deploys(node: NodeThread, chain: dict[str, Any]) -> None:
    sm = node.client("sagemaker")
    X, y = world_b(600, 7)
    ids = _invoke(node, X, "b")
    _ground_truth(node, ids, y, "b.jsonl")
    with _Traffic(node, world_b(200, 8)[0]) as traffic:
        execution = _execute(node)
        assert execution["MonitoringExecutionStatus"] == "CompletedWithViolations", execution
        name = wait_for(lambda: [r.run_name for r in _runs(node)], timeout=60, what="a run")[0]
        # debounce: a second drift report while the run is in flight starts nothing
        _violations_event(node, "2026-01-01T00:00:00Z")
        run = _wait_run(node, name, (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.PENDING_APPROVAL))
        assert run.status == RunStatus.COMPLETED, run.failure_reason
    assert traffic.sent > 20 and traffic.failed == [], traffic.failed[:3]
    assert [r.run_name for r in _runs(node)] == [name]
    assert run.labelled_records == 600 and run.captured_records >= 600
    candidate = run.evaluation["candidate"]["binary_classification_metrics"]["accuracy"]["value"]
    serving = run.evaluation["serving"]["binary_classification_metrics"]["accuracy"]["value"]
    assert candidate > 0.85 and candidate - serving > 0.05, (candidate, serving)
    # registered as version 2 with its metrics and lineage, approved by the policy
    v2 = sm.describe_model_package(ModelPackageName=run.model_package_arn)
    assert v2["ModelPackageVersion"] == 2 and v2["ModelApprovalStatus"] == "Approved"
    assert v2["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith("/evaluation/candidate.json")
    assert float(v2["CustomerMetadataProperties"]["ServingObjectiveValue"]) == pytest.approx(serving, abs=1e-4)
    assert v2["MetadataProperties"]["GeneratedBy"].endswith(f"training-job/{name}")
    job = sm.describe_training_job(TrainingJobName=name)
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] == "ManifestFile"
    assert job["HyperParameters"]["num_round"] == "30"
    # the endpoint serves v2, and answers world B correctly now
    described = wait_status(node, ENDPOINT)
    assert described["EndpointConfigName"] == "churn-live-v2"
    Xt, yt = world_b(200, 11)
    rt = node.client("sagemaker-runtime")
    scores = [float(rt.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=csv_row(x))["Body"]
                    .read()) for x in Xt]
    assert np.mean((np.asarray(scores) > 0.5) == yt) > 0.85
    # lineage: the endpoint's model is now trained on the run's data, and the run stands before its job
    [context] = wait_for(lambda: sm.list_contexts(SourceUri=described["EndpointArn"])["ContextSummaries"], 30,
                         what="the endpoint's lineage context")

    def lineage_of_v2() -> tuple[list[str], list[str]] | None:
        def upstream(kind: str) -> list[str]:
            return [v["Arn"] for v in sm.query_lineage(StartArns=[context["ContextArn"]], Direction="Ascendants",
                                                       Filters={"Types": [kind]})["Vertices"]]

        data = [sm.describe_artifact(ArtifactArn=a)["Source"]["SourceUri"] for a in upstream("DataSet")]
        runs = [sm.describe_action(ActionName=a)["ActionName"] for a in upstream("RetrainingRun")]
        return (data, runs) if data == [run.training_data_uri] and runs else None

    assert wait_for(lineage_of_v2, 30, what="the lineage of v2")[1] == [name]
    # the schedule now compares traffic with the new training data's baseline
    schedule = sm.describe_monitoring_schedule(MonitoringScheduleName=SCHEDULE)
    baseline = schedule["MonitoringScheduleConfig"]["MonitoringJobDefinition"]["BaselineConfig"]
    assert baseline["BaseliningJobName"] == f"{name}-baseline"
    # a duplicate of the triggering event, and a new one in the cool-down, start nothing
    handled = node.runtime_stats("retrain-on-drift")["succeeded"]
    _violations_event(node, "2026-01-02T00:00:00Z")
    wait_for(lambda: node.runtime_stats("retrain-on-drift")["succeeded"] > handled, 30,
             what="the handler to take the event in the cool-down")
    assert [r.run_name for r in _runs(node)] == [name]


def test_every_run_state_change_reaches_a_users_own_rule(node: NodeThread, chain: dict[str, Any]) -> None:
    sqs = node.client("sqs")
    seen: list[str] = []
    for _ in range(20):
        for m in sqs.receive_message(QueueUrl=chain["queue"], MaxNumberOfMessages=10,
                                     WaitTimeSeconds=1).get("Messages", []):
            seen.append(json.loads(m["Body"])["detail"]["Status"])
        if "Completed" in seen:
            break
    assert seen[:1] == ["Training"] and "Evaluating" in seen and "Completed" in seen, seen


def test_a_rejected_candidate_waits_for_a_human_then_deploys(node: NodeThread, chain: dict[str, Any]) -> None:
    retraining = node.node.services.retraining
    policy = node.run(retraining.get_policy(ENDPOINT))
    node.run(retraining.put_policy(policy.model_copy(update={"min_improvement": 0.9, "cooldown_seconds": 0})))
    _violations_event(node, "2026-02-01T00:00:00Z")
    name = run_name_for(ENDPOINT, f"{SCHEDULE}/2026-02-01T00:00:00Z")
    run = _wait_run(node, name, (RunStatus.PENDING_APPROVAL, RunStatus.FAILED, RunStatus.COMPLETED))
    assert run.status == RunStatus.PENDING_APPROVAL, run.failure_reason
    sm = node.client("sagemaker")
    package = sm.describe_model_package(ModelPackageName=run.model_package_arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert wait_status(node, ENDPOINT)["EndpointConfigName"] == "churn-live-v2"  # untouched
    sm.update_model_package(ModelPackageArn=run.model_package_arn, ModelApprovalStatus="Approved",
                            ApprovalDescription="looked at it")
    run = _wait_run(node, name, (RunStatus.COMPLETED, RunStatus.FAILED))
    assert run.status == RunStatus.COMPLETED, run.failure_reason
    version = package["ModelPackageVersion"]
    assert wait_status(node, ENDPOINT)["EndpointConfigName"] == f"churn-live-v{version}"


def test_a_failed_retrain_leaves_the_old_model_serving(node: NodeThread, chain: dict[str, Any]) -> None:
    before = wait_status(node, ENDPOINT)["EndpointConfigName"]
    ids = _invoke(node, world_b(20, 12)[0], "bad")
    _ground_truth(node, ids, np.zeros(20), "bad.jsonl", labels=["yes"] * 20)  # not a number: training fails
    _wait_captured(node, ids[-1])
    _violations_event(node, "2026-03-01T00:00:00Z")
    name = run_name_for(ENDPOINT, f"{SCHEDULE}/2026-03-01T00:00:00Z")
    run = _wait_run(node, name, (RunStatus.FAILED, RunStatus.COMPLETED, RunStatus.PENDING_APPROVAL))
    assert run.status == RunStatus.FAILED, (run.status, run.labelled_records, run.captured_records)
    assert "labelled.csv" in run.failure_reason and "yes" in run.failure_reason, run.failure_reason
    assert wait_status(node, ENDPOINT)["EndpointConfigName"] == before
    node.client("s3").delete_object(Bucket=ART, Key="churn/ground-truth/bad.jsonl")
