"""Model quality monitoring on a real node, driven by the SDK's ``ModelQualityMonitor``.

An XGBoost binary classifier serves behind an endpoint with data capture;
callers send an ``InferenceId`` with each request, and ground-truth labels
arrive later under a prefix in SageMaker's format, keyed by those ids. The
baseline is suggested from the model's own predictions on labelled data
(as SageMaker's examples do: a CSV with ``probability``, ``prediction`` and
``label`` columns), and an on-demand execution merges the window's captures
with the labels. Correct labels on the baseline's data must give no
violation; flipped labels (a model that got everything backwards) must
violate the accuracy and AUC constraints, with SageMaker's check names, and
the window's metrics reach CloudWatch under ``model-metrics``.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from tests.integration.hosting_support import ROLE, csv_row, deploy, model_archive, put_model, train_booster, variant
from tests.support import NodeThread, wait_for

BUCKET = "headwater-artifacts"
CAPTURE = f"s3://{BUCKET}/mq/capture"
GROUND_TRUTH = f"s3://{BUCKET}/mq/ground-truth"
ENDPOINT, SCHEDULE = "mq-ep", "mq-sched"
NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"


def _invoke(node: NodeThread, rows: np.ndarray, ids: list[str | None]) -> list[float]:
    """Send each row (with its InferenceId, where it has one); the endpoint's probabilities, as served."""
    rt = node.client("sagemaker-runtime")
    return [float(rt.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=csv_row(row),
                                     **({"InferenceId": inference_id} if inference_id else {}))[
                                         "Body"].read().decode().strip())
            for row, inference_id in zip(rows, ids)]


def _captures(node: NodeThread) -> list[dict[str, Any]]:
    """Every capture line the endpoint has written so far."""
    s3 = node.client("s3")
    lines: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"mq/capture/{ENDPOINT}/"):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode()
            lines.extend(json.loads(line) for line in body.splitlines() if line.strip())
    return lines


def _captured_ids(node: NodeThread) -> set[str]:
    """Every inferenceId and eventId the endpoint's capture files hold so far."""
    return {c["eventMetadata"].get(key, "") for c in _captures(node) for key in ("inferenceId", "eventId")}


def _merge_keys(node: NodeThread, rows: np.ndarray, ids: list[str | None]) -> list[str]:
    """What each row's label is keyed by: its InferenceId, else the eventId its capture was given."""
    wanted = {csv_row(row).decode() for row, i in zip(rows, ids) if i is None}
    by_input: dict[str, str] = {}

    def landed() -> bool:
        by_input.update({c["captureData"]["endpointInput"]["data"]: c["eventMetadata"]["eventId"]
                         for c in _captures(node) if "inferenceId" not in c["eventMetadata"]})
        return wanted <= set(by_input)

    wait_for(landed, timeout=30, interval=0.5, what="the captures without InferenceId to land")
    return [i if i is not None else by_input[csv_row(row).decode()] for row, i in zip(rows, ids)]


def _upload_ground_truth(node: NodeThread, ids: list[str], labels: np.ndarray, name: str) -> None:
    """Labels in SageMaker's ground-truth format, under ``<prefix>/yyyy/mm/dd/hh/``."""
    lines = [json.dumps({"groundTruthData": {"data": str(int(label)), "encoding": "CSV"},
                         "eventMetadata": {"eventId": inference_id}, "eventVersion": "0"})
             for inference_id, label in zip(ids, labels)]
    hour = datetime.now(timezone.utc).strftime("%Y/%m/%d/%H")
    node.client("s3").put_object(Bucket=BUCKET, Key=f"mq/ground-truth/{hour}/{name}.jsonl",
                                 Body=("\n".join(lines) + "\n").encode())


def _run_now(node: NodeThread, ids: list[str], since: datetime | None = None) -> dict[str, Any]:
    """Wait until ``ids`` are captured, run one execution on demand, follow it to its end."""
    wait_for(lambda: set(ids) <= _captured_ids(node), timeout=30, interval=0.5, what="the captures to land")
    time.sleep(1.1)  # capture times have second resolution and the window's end is exclusive
    assert node.node is not None and node.node.services is not None
    monitoring = node.node.services.monitoring
    assert monitoring is not None
    execution = node.run(monitoring.run_execution(SCHEDULE, since=since))
    sm = node.client("sagemaker")

    def finished() -> dict[str, Any] | None:
        for e in sm.list_monitoring_executions(MonitoringScheduleName=SCHEDULE)["MonitoringExecutionSummaries"]:
            if e.get("ProcessingJobArn", "").endswith(execution.processing_job_name) and \
                    e["MonitoringExecutionStatus"] not in ("Pending", "InProgress"):
                return e
        return None

    return wait_for(finished, timeout=120, what="the monitoring execution")


def _report(node: NodeThread, summary: dict[str, Any], name: str) -> dict[str, Any]:
    job = node.client("sagemaker").describe_processing_job(
        ProcessingJobName=summary["ProcessingJobArn"].rsplit("/", 1)[1])
    bucket, prefix = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"][5:].split("/", 1)
    return json.loads(node.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/{name}")["Body"].read())


def _accuracy(probabilities: list[float], labels: np.ndarray) -> float:
    return float(np.mean((np.asarray(probabilities) >= 0.5).astype(int) == labels))


@pytest.fixture(scope="module")
def monitored(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The endpoint, its first labelled traffic, the SDK's baseline of it, and the schedule."""
    from sagemaker.model_monitor import CronExpressionGenerator, EndpointInput, ModelQualityMonitor
    from sagemaker.model_monitor.dataset_format import DatasetFormat

    from tests.sdk_env import sdk_environment, sdk_session

    booster = train_booster(seed=1)  # learns y = [x0 + x1 > 0]
    put_model(node, "mq-model", model_archive(booster))
    deploy(node, ENDPOINT, [variant("AllTraffic", "mq-model")], DataCaptureConfig={
        "EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": CAPTURE,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
    rng = np.random.default_rng(5)
    X = rng.normal(size=(240, 4)).astype(np.float32)
    # the true rule plus label noise, so the model is good but not perfect
    labels = ((X[:, 0] + X[:, 1] > 0) ^ (rng.random(240) < 0.1)).astype(int)
    # Most callers send an InferenceId; the first few do not, and are merged on their eventId.
    ids: list[str | None] = [None if i < 40 else f"ok-{i}" for i in range(len(X))]
    probabilities = _invoke(node, X, ids)
    rows = [f"{p!r},{int(p >= 0.5)},{y}" for p, y in zip(probabilities, labels)]
    node.client("s3").put_object(Bucket=BUCKET, Key="mq/baseline/validation.csv",
                                 Body=("probability,prediction,label\n" + "\n".join(rows) + "\n").encode())
    with sdk_environment(node, tmp_path_factory.mktemp("sdk")):
        monitor = ModelQualityMonitor(role=ROLE, instance_count=1, instance_type="ml.m5.large",
                                      sagemaker_session=sdk_session(BUCKET))
        monitor.suggest_baseline(baseline_dataset=f"s3://{BUCKET}/mq/baseline/validation.csv",
                                 dataset_format=DatasetFormat.csv(header=True), problem_type="BinaryClassification",
                                 inference_attribute="prediction", probability_attribute="probability",
                                 ground_truth_attribute="label", output_s3_uri=f"s3://{BUCKET}/mq/baseline-results",
                                 wait=True, logs=False)
        constraints = monitor.suggested_constraints()
        statistics = monitor.baseline_statistics()
        monitor.create_monitoring_schedule(
            monitor_schedule_name=SCHEDULE,
            endpoint_input=EndpointInput(endpoint_name=ENDPOINT, destination="/opt/ml/processing/input_data",
                                         probability_attribute="0", probability_threshold_attribute=0.5),
            ground_truth_input=GROUND_TRUTH, problem_type="BinaryClassification",
            output_s3_uri=f"s3://{BUCKET}/mq/reports", constraints=constraints,
            schedule_cron_expression=CronExpressionGenerator.hourly())
    return {"X": X, "labels": labels, "ids": ids, "probabilities": probabilities,
            "constraints": constraints.body_dict, "statistics": statistics.body_dict}


def test_baseline_is_the_models_quality_on_its_labelled_data(node: NodeThread, monitored: dict[str, Any]) -> None:
    metrics = monitored["statistics"]["binary_classification_metrics"]
    expected = _accuracy(monitored["probabilities"], monitored["labels"])
    assert 0.7 < expected < 1.0
    assert metrics["accuracy"]["value"] == pytest.approx(expected)
    assert monitored["statistics"]["dataset"]["item_count"] == len(monitored["labels"])
    suggested = monitored["constraints"]["binary_classification_constraints"]
    assert suggested["accuracy"] == {"threshold": pytest.approx(expected), "comparison_operator": "LessThanThreshold"}
    assert suggested["auc"]["comparison_operator"] == "LessThanThreshold" and suggested["auc"]["threshold"] > 0.7
    assert suggested["false_positive_rate"]["comparison_operator"] == "GreaterThanThreshold"
    d = node.client("sagemaker").describe_monitoring_schedule(MonitoringScheduleName=SCHEDULE)
    assert (d["MonitoringType"], d["EndpointName"]) == ("ModelQuality", ENDPOINT)
    definition = node.client("sagemaker").describe_model_quality_job_definition(
        JobDefinitionName=d["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"])
    assert definition["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"] == GROUND_TRUTH
    assert definition["ModelQualityAppSpecification"]["ProblemType"] == "BinaryClassification"


def test_correct_labels_then_a_degraded_model(node: NodeThread, monitored: dict[str, Any]) -> None:
    X, labels = monitored["X"], monitored["labels"]
    keys = _merge_keys(node, X, monitored["ids"])
    _upload_ground_truth(node, keys, labels, "ok")
    calm = _run_now(node, keys)
    assert calm["MonitoringExecutionStatus"] == "Completed", _report(node, calm, "constraint_violations.json")
    assert _report(node, calm, "constraint_violations.json")["violations"] == []
    window = _report(node, calm, "statistics.json")
    assert window["dataset"]["item_count"] == len(labels)  # every capture merged: by inferenceId, else eventId
    assert window["binary_classification_metrics"]["accuracy"]["value"] == pytest.approx(
        monitored["statistics"]["binary_classification_metrics"]["accuracy"]["value"])

    # The world's answers are now the opposite of what the model says: the same model is degraded.
    since = datetime.now(timezone.utc)
    flipped_ids = [f"flip-{i}" for i in range(len(X))]
    probabilities = _invoke(node, X, flipped_ids)
    _upload_ground_truth(node, flipped_ids, 1 - labels, "flipped")
    degraded = _run_now(node, flipped_ids, since=since)
    assert degraded["MonitoringExecutionStatus"] == "CompletedWithViolations", degraded.get("FailureReason")
    violations = {v["metric_name"]: v for v in _report(node, degraded, "constraint_violations.json")["violations"]}
    assert {"accuracy", "auc"} <= set(violations), violations
    assert violations["accuracy"]["constraint_check_type"] == "LessThanThreshold"
    assert violations["auc"]["constraint_check_type"] == "LessThanThreshold"
    assert violations["false_positive_rate"]["constraint_check_type"] == "GreaterThanThreshold"
    assert "Metric accuracy with" in violations["accuracy"]["description"]
    window = _report(node, degraded, "statistics.json")
    assert window["dataset"]["item_count"] == len(labels)  # only the window since the flip
    accuracy = window["binary_classification_metrics"]["accuracy"]["value"]
    assert accuracy == pytest.approx(_accuracy(probabilities, 1 - labels))
    assert accuracy == pytest.approx(1 - monitored["statistics"]["binary_classification_metrics"]["accuracy"]["value"])
    last = node.client("sagemaker").describe_monitoring_schedule(MonitoringScheduleName=SCHEDULE)[
        "LastMonitoringExecutionSummary"]
    assert (last["MonitoringExecutionStatus"], last["MonitoringType"]) == ("CompletedWithViolations", "ModelQuality")

    # The SDK sent publish_cloudwatch_metrics=Enabled: the window's metrics are in CloudWatch.
    cw = node.client("cloudwatch")
    listed = {m["MetricName"]: m for m in cw.list_metrics(Namespace=NAMESPACE)["Metrics"]}
    assert {"accuracy", "auc", "f1"} <= set(listed), sorted(listed)
    assert {"Name": "Endpoint", "Value": ENDPOINT} in listed["accuracy"]["Dimensions"]
    assert {"Name": "MonitoringSchedule", "Value": SCHEDULE} in listed["accuracy"]["Dimensions"]
    points = cw.get_metric_statistics(
        Namespace=NAMESPACE, MetricName="accuracy", Dimensions=listed["accuracy"]["Dimensions"],
        StartTime=datetime.now(timezone.utc) - timedelta(hours=3),
        EndTime=datetime.now(timezone.utc) + timedelta(hours=1), Period=60, Statistics=["Minimum"])["Datapoints"]
    assert min(p["Minimum"] for p in points) == pytest.approx(accuracy)
