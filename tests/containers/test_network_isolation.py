"""``EnableNetworkIsolation`` under both runners: the job reaches nothing but its own loopback.

A script-mode job (its code in a ``code`` channel, as the SDK sends an
isolated job's) tries a server this test runs on the machine's loopback:
isolated, the connection fails (the process runner's network namespace, the
engine's ``network_mode="none"``) while a socket of the job's own still
works; the same job without isolation reaches the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import LoopbackListener, NodeThread, source_archive, wait_for, wait_for_job

IMAGES = ("sklearn",)
PROBE = (Path(__file__).resolve().parents[1] / "e2e" / "scripts" / "net_probe.py").read_text()
ROLE = "arn:aws:iam::123456789012:role/headwater"


@pytest.fixture(scope="module")
def listener() -> Iterator[LoopbackListener]:
    with LoopbackListener() as server:
        yield server


def _run(node: NodeThread, name: str, port: int, isolated: bool) -> dict[str, Any]:
    s3, bucket = node.client("s3"), node.settings.artifacts_bucket
    s3.put_object(Bucket=bucket, Key=f"isolation/{name}/sourcedir.tar.gz", Body=source_archive(PROBE, "probe.py"))
    sm = node.client("sagemaker")
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE, EnableNetworkIsolation=isolated,
        AlgorithmSpecification={"TrainingImage": "headwater/sklearn", "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"probe.py"', "port": str(port),
                         "sagemaker_submit_directory": '"/opt/ml/input/data/code/sourcedir.tar.gz"'},
        InputDataConfig=[{"ChannelName": "code", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/isolation/{name}/sourcedir.tar.gz"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/isolation-out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 120})
    d = wait_for_job(sm, name, timeout=120)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    log = (node.settings.jobs_dir / name / "algo-1.log").read_text()
    return json.loads(next(line for line in log.splitlines() if line.startswith("NETPROBE ")).split(" ", 1)[1])


def test_an_isolated_job_cannot_reach_the_machine_and_the_same_job_without_isolation_can(
        runner_node: NodeThread, listener: LoopbackListener) -> None:
    runner = runner_node.settings.runner
    isolated = _run(runner_node, f"isolated-{runner}", listener.port, isolated=True)
    assert isolated["server"].startswith("failed:"), isolated
    assert isolated["own_loopback"] is True
    assert [k for k in isolated["aws"] if k != "AWS_CA_BUNDLE"] == ["AWS_DEFAULT_REGION", "AWS_REGION"]
    assert not [line for line in listener.lines if f"isolated-{runner}" in line]

    connected = _run(runner_node, f"connected-{runner}", listener.port, isolated=False)
    assert connected["server"] == "connected", connected
    wait_for(lambda: f"hello from connected-{runner}" in listener.lines, 10, what="the job's line at the server")
