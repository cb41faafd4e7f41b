"""Model Monitor on a real node: baseline with the SDK, schedules, executions, drift."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.integration.hosting_support import ROLE, csv_row, deploy, model_archive, put_model, train_booster, variant
from tests.support import NodeThread, wait_for

BUCKET = "headwater-artifacts"
CAPTURE = f"s3://{BUCKET}/mon/capture"


@pytest.fixture(scope="module")
def monitored(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An endpoint capturing its traffic, a baseline suggested by the SDK, and an hourly schedule."""
    from sagemaker.model_monitor import CronExpressionGenerator, DefaultModelMonitor
    from sagemaker.model_monitor.dataset_format import DatasetFormat

    from tests.sdk_env import sdk_environment, sdk_session

    booster = train_booster(seed=1)
    put_model(node, "mon-model", model_archive(booster))
    deploy(node, "mon-ep", [variant("AllTraffic", "mon-model")], DataCaptureConfig={
        "EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": CAPTURE,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}})
    rng = np.random.default_rng(7)
    X = rng.normal(size=(2000, 4)).astype(np.float32)
    # The captured layout: the prediction first, written as the endpoint writes it (its
    # few distinct values must match exactly, or each is a step in the CDF), then the features.
    predictions = booster.inplace_predict(X).tolist()
    node.client("s3").put_object(Bucket=BUCKET, Key="mon/baseline/data.csv", Body="\n".join(
        repr(p) + "," + csv_row(x).decode() for p, x in zip(predictions, X)).encode())
    with sdk_environment(node, tmp_path_factory.mktemp("sdk")):
        monitor = DefaultModelMonitor(role=ROLE, instance_count=1, instance_type="ml.m5.large",
                                      sagemaker_session=sdk_session(BUCKET))
        monitor.suggest_baseline(baseline_dataset=f"s3://{BUCKET}/mon/baseline/data.csv",
                                 dataset_format=DatasetFormat.csv(header=False),
                                 output_s3_uri=f"s3://{BUCKET}/mon/baseline-results", wait=True, logs=False)
        statistics, constraints = monitor.baseline_statistics(), monitor.suggested_constraints()
        assert {f["name"] for f in statistics.body_dict["features"]} == {"_c0", "_c1", "_c2", "_c3", "_c4"}
        monitor.create_monitoring_schedule(
            monitor_schedule_name="mon-sched", endpoint_input="mon-ep",
            output_s3_uri=f"s3://{BUCKET}/mon/reports", statistics=statistics, constraints=constraints,
            schedule_cron_expression=CronExpressionGenerator.hourly())
    return {"booster": booster, "rng": rng}


def _traffic(node: NodeThread, rows: np.ndarray) -> None:
    rt = node.client("sagemaker-runtime")
    for row in rows:
        rt.invoke_endpoint(EndpointName="mon-ep", ContentType="text/csv", Body=csv_row(row))


def _run_now(node: NodeThread) -> dict[str, Any]:
    """An on-demand execution (as `headwater monitor` runs one), followed to its end."""
    assert node.node is not None and node.node.services is not None
    monitoring = node.node.services.monitoring
    assert monitoring is not None
    node.wait_for_captures()
    execution = node.run(monitoring.run_execution("mon-sched"))
    sm = node.client("sagemaker")

    def finished() -> dict[str, Any] | None:
        for e in sm.list_monitoring_executions(MonitoringScheduleName="mon-sched")["MonitoringExecutionSummaries"]:
            if e["ProcessingJobArn"].endswith(execution.processing_job_name) and e["MonitoringExecutionStatus"] \
                    not in ("Pending", "InProgress"):
                return e
        return None

    return wait_for(finished, timeout=120, what="the monitoring execution")


def _violations(node: NodeThread, summary: dict[str, Any]) -> list[dict[str, Any]]:
    s3 = node.client("s3")
    job = node.client("sagemaker").describe_processing_job(ProcessingJobName=summary["ProcessingJobArn"].rsplit("/", 1)[1])
    uri = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    bucket, prefix = uri[5:].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=f"{prefix}/constraint_violations.json")["Body"].read()
    return json.loads(body)["violations"]


def test_schedule_is_described_and_listed(node: NodeThread, monitored: dict[str, Any]) -> None:
    sm = node.client("sagemaker")
    d = sm.describe_monitoring_schedule(MonitoringScheduleName="mon-sched")
    assert (d["MonitoringScheduleStatus"], d["MonitoringType"], d["EndpointName"]) == ("Scheduled", "DataQuality",
                                                                                       "mon-ep")
    assert d["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "cron(0 * ? * * *)"
    definition = d["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"]
    assert sm.describe_data_quality_job_definition(JobDefinitionName=definition)["DataQualityJobInput"][
        "EndpointInput"]["EndpointName"] == "mon-ep"
    assert [s["MonitoringScheduleName"] for s in sm.list_monitoring_schedules(EndpointName="mon-ep")[
        "MonitoringScheduleSummaries"]] == ["mon-sched"]
    with pytest.raises(ClientError) as err:
        sm.describe_monitoring_schedule(MonitoringScheduleName="nope")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    with pytest.raises(ClientError) as err:
        sm.create_monitoring_schedule(MonitoringScheduleName="bad-cron", MonitoringScheduleConfig={
            "ScheduleConfig": {"ScheduleExpression": "cron(0 * * *)"}, "MonitoringJobDefinitionName": definition,
            "MonitoringType": "DataQuality"})
    assert err.value.response["Error"]["Code"] == "ValidationException" and "6 fields" in str(err.value)


def test_no_drift_then_drift(node: NodeThread, monitored: dict[str, Any]) -> None:
    rng = monitored["rng"]
    _traffic(node, rng.normal(size=(150, 4)))
    calm = _run_now(node)
    assert calm["MonitoringExecutionStatus"] == "Completed", _violations(node, calm)
    assert _violations(node, calm) == []

    shifted = rng.normal(size=(450, 4))
    shifted[:, 1] += 3.0  # the second feature drifts by three standard deviations
    _traffic(node, shifted)
    drifted = _run_now(node)
    assert drifted["MonitoringExecutionStatus"] == "CompletedWithViolations", drifted.get("FailureReason")
    checks = {(v["feature_name"], v["constraint_check_type"]) for v in _violations(node, drifted)}
    assert ("_c2", "baseline_drift_check") in checks  # column 0 is the prediction, then the features
    assert not any(f == "_c4" and c == "baseline_drift_check" for f, c in checks)
    # The analyzer's per-feature metrics reach CloudWatch as SageMaker publishes them.
    cw = node.client("cloudwatch")
    metrics = cw.list_metrics(Namespace="aws/sagemaker/Endpoints/data-metrics")["Metrics"]
    drift = [m for m in metrics if m["MetricName"] == "feature_baseline_drift__c2"]
    assert drift and {"Name": "Endpoint", "Value": "mon-ep"} in drift[0]["Dimensions"]
    stats = cw.get_metric_statistics(
        Namespace="aws/sagemaker/Endpoints/data-metrics", MetricName="feature_baseline_drift__c2",
        Dimensions=drift[0]["Dimensions"], StartTime=datetime.now(timezone.utc) - timedelta(hours=3),
        EndTime=datetime.now(timezone.utc) + timedelta(hours=1), Period=3600, Statistics=["Maximum"])["Datapoints"]
    assert max(d["Maximum"] for d in stats) > 0.1  # over the default comparison threshold
    last = node.client("sagemaker").describe_monitoring_schedule(MonitoringScheduleName="mon-sched")[
        "LastMonitoringExecutionSummary"]
    assert last["MonitoringExecutionStatus"] == "CompletedWithViolations"


def test_the_node_clock_fires_due_schedules_once(node: NodeThread, monitored: dict[str, Any]) -> None:
    assert node.node is not None and node.node.services is not None and node.node.services.monitoring is not None
    monitoring = node.node.services.monitoring
    due = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
    node.run(monitoring.schedules.update("mon-sched", lambda s: setattr(s, "next_run", due) or s))
    sm = node.client("sagemaker")

    def fired() -> list[dict[str, Any]]:
        return [e for e in sm.list_monitoring_executions(MonitoringScheduleName="mon-sched", MaxResults=100)[
            "MonitoringExecutionSummaries"] if e["ScheduledTime"] == due]

    [execution] = wait_for(fired, timeout=30, what="the scheduler to fire")
    assert node.node.services.monitoring is not None
    d = sm.describe_monitoring_schedule(MonitoringScheduleName="mon-sched")
    sm.stop_monitoring_schedule(MonitoringScheduleName="mon-sched")
    assert sm.describe_monitoring_schedule(MonitoringScheduleName="mon-sched")["MonitoringScheduleStatus"] == "Stopped"
    sm.start_monitoring_schedule(MonitoringScheduleName="mon-sched")
    assert sm.describe_monitoring_schedule(MonitoringScheduleName="mon-sched")["MonitoringScheduleStatus"] == "Scheduled"
    assert len(fired()) == 1 and d["MonitoringScheduleStatus"] == "Scheduled"


def test_a_firing_in_the_second_of_an_on_demand_run_is_not_lost(node: NodeThread, monitored: dict[str, Any]) -> None:
    # An on-demand run half a second into a whole second, then the schedule due at that second: they used
    # to share a store key, so the firing failed to be recorded, and was lost.
    assert node.node is not None and node.node.services is not None
    monitoring = node.node.services.monitoring
    second = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=2)
    on_demand = node.run(monitoring.run_execution("mon-sched", second + timedelta(milliseconds=500)))
    node.run(monitoring.schedules.update("mon-sched", lambda s: setattr(s, "next_run", second) or s))
    sm = node.client("sagemaker")

    def scheduled_at(moment: datetime) -> list[dict[str, Any]]:
        return [e for e in sm.list_monitoring_executions(MonitoringScheduleName="mon-sched", MaxResults=100)[
            "MonitoringExecutionSummaries"] if e["ScheduledTime"] == moment]

    wait_for(lambda: scheduled_at(second), timeout=30, what="the firing in the on-demand run's second")
    assert len(scheduled_at(on_demand.scheduled_time)) == 1
