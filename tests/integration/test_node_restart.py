"""A node restarted on the same state folder brings back what the user made (the embedded emulator's state).

One node trains a job, deploys an endpoint and schedules its monitoring, and
stops; a second node, on new ports but the same state folder, must show the
job, serve the endpoint again (same predictions) and keep the schedule,
with nothing done twice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.faults.scenarios import ROLE, start_short_job
from tests.integration.hosting_support import (
    csv_row,
    deploy,
    model_archive,
    put_model,
    train_booster,
    variant,
    wait_status,
)
from tests.support import NodeThread, free_port_settings, wait_for_job

MONITOR_IMAGE = "headwater/model-monitor"


def _schedule(node: NodeThread, endpoint: str) -> None:
    sm = node.client("sagemaker")
    sm.create_data_quality_job_definition(
        JobDefinitionName="kept-dq", RoleArn=ROLE,
        DataQualityAppSpecification={"ImageUri": MONITOR_IMAGE},
        DataQualityJobInput={"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}},
        DataQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {
            "S3Uri": "s3://headwater-artifacts/kept/reports", "LocalPath": "/opt/ml/processing/output"}}]},
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}})
    sm.create_monitoring_schedule(MonitoringScheduleName="kept-schedule", MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}, "MonitoringJobDefinitionName": "kept-dq",
        "MonitoringType": "DataQuality"})


def test_jobs_endpoints_and_schedules_come_back_after_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "node"
    booster = train_booster(seed=3)
    row = csv_row(np.linspace(-1, 1, 4))
    first = NodeThread(free_port_settings(state)).start()
    try:
        start_short_job(first, "kept-job")
        trained = wait_for_job(first.client("sagemaker"), "kept-job")
        assert trained["TrainingJobStatus"] == "Completed", trained.get("FailureReason")
        put_model(first, "kept-model", model_archive(booster))
        assert deploy(first, "kept-ep", [variant("main", "kept-model")])["EndpointStatus"] == "InService"
        before = first.client("sagemaker-runtime").invoke_endpoint(
            EndpointName="kept-ep", ContentType="text/csv", Body=row)["Body"].read()
        _schedule(first, "kept-ep")
    finally:
        first.stop()

    again = NodeThread(free_port_settings(state)).start()
    try:
        sm = again.client("sagemaker")
        job = sm.describe_training_job(TrainingJobName="kept-job")
        assert job["TrainingJobStatus"] == "Completed"
        assert job["ModelArtifacts"] == trained["ModelArtifacts"]
        assert [e["StatusMessage"] for e in job["SecondaryStatusTransitions"]] == \
            [e["StatusMessage"] for e in trained["SecondaryStatusTransitions"]]  # not run again
        s3 = again.client("s3")
        bucket, key = job["ModelArtifacts"]["S3ModelArtifacts"][5:].split("/", 1)
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
        # The endpoint comes back on its own, on new instances, and answers as before.
        assert wait_status(again, "kept-ep")["EndpointStatus"] == "InService"
        after = again.client("sagemaker-runtime").invoke_endpoint(
            EndpointName="kept-ep", ContentType="text/csv", Body=row)["Body"].read()
        assert after == before
        schedule = sm.describe_monitoring_schedule(MonitoringScheduleName="kept-schedule")
        assert schedule["MonitoringScheduleStatus"] == "Scheduled"
        assert [s["MonitoringScheduleName"] for s in sm.list_monitoring_schedules(EndpointName="kept-ep")[
            "MonitoringScheduleSummaries"]] == ["kept-schedule"]
    finally:
        again.stop()


def test_an_ephemeral_node_starts_empty(tmp_path: Path) -> None:
    state = tmp_path / "node"
    first = NodeThread(free_port_settings(state, ephemeral=True)).start()
    try:
        first.client("s3").put_object(Bucket="headwater-data", Key="gone.csv", Body=b"1\n")
    finally:
        first.stop()
    assert not (state / "emulator").exists()
    again = NodeThread(free_port_settings(state, ephemeral=True)).start()
    try:
        with pytest.raises(again.client("s3").exceptions.ClientError, match="NoSuchKey|Not Found|404"):
            again.client("s3").head_object(Bucket="headwater-data", Key="gone.csv")
    finally:
        again.stop()
