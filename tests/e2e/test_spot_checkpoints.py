"""Checkpoints and spot-style interruption.

A running job is interrupted with the fault-injection control
(:func:`services.training.spot.interrupt_training_job`): it shows ``Interrupted`` and
``Restarting``, runs again with its checkpoints restored from S3, and ends
exactly where an uninterrupted run ends (the built-in XGBoost with all its
boosting rounds; a PyTorch script with the same weights).
"""

from __future__ import annotations

import io
import re
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

from infra.demo.datasets import to_csv
from services.training.spot import interrupt_training_job
from tests.sdk_env import ROLE, sdk_environment, sdk_session
from tests.support import NodeThread, free_port_settings, wait_for, wait_for_job

SCRIPTS = Path(__file__).parent / "scripts"
DATA = "headwater-data"
ARTIFACTS = "headwater-artifacts"
ROUNDS = 120


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("spot"))).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def train_uri(node: NodeThread) -> str:
    rng = np.random.default_rng(7)
    # Big enough that a round takes well over a millisecond: the interrupt below must
    # land while the job still has most of its rounds to go.
    X = rng.normal(size=(60000, 12))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + 0.3 * rng.normal(size=60000) > 0).astype(int)
    node.client("s3").put_object(Bucket=DATA, Key="spot/train/part-0.csv", Body=to_csv(X, y))
    return f"s3://{DATA}/spot/train/"


def _xgb_job(sm: Any, name: str, train_uri: str, *, spot: bool) -> None:
    extra: dict[str, Any] = {}
    if spot:
        extra = {"EnableManagedSpotTraining": True,
                 "CheckpointConfig": {"S3Uri": f"s3://{ARTIFACTS}/checkpoints/{name}"}}
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                                "TrainingInputMode": "File"},
        HyperParameters={"num_round": str(ROUNDS), "objective": "binary:logistic", "max_depth": "8",
                         "eta": "0.1", "nthread": "1"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": train_uri}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{ARTIFACTS}/spot"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600, **({"MaxWaitTimeInSeconds": 900} if spot else {})},
        **extra)


def _model_bytes(node: NodeThread, uri: str, member: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return tar.extractfile(member).read()  # type: ignore[union-attr]


def _booster(raw: bytes) -> xgb.Booster:
    b = xgb.Booster()
    b.load_model(bytearray(raw))
    return b


def _interrupt_when(node: NodeThread, name: str, pattern: str) -> None:
    log = node.settings.jobs_dir / name / "algo-1.log"
    wait_for(lambda: log.exists() and re.search(pattern, log.read_text(), re.M), 90, 0.05,
             what=f"{name} to log {pattern!r}")
    node.run(interrupt_training_job(node.node.services.training, name))


def _statuses(d: dict[str, Any]) -> list[str]:
    return [t["Status"] for t in d["SecondaryStatusTransitions"]]


def test_builtin_xgboost_resumes_boosting_from_its_checkpoint(node: NodeThread, train_uri: str) -> None:
    sm = node.client("sagemaker")
    _xgb_job(sm, "xgb-straight", train_uri, spot=False)
    _xgb_job(sm, "xgb-spot", train_uri, spot=True)
    _interrupt_when(node, "xgb-spot", r"^\[10\]")
    d = wait_for_job(sm, "xgb-spot", timeout=180)
    straight = wait_for_job(sm, "xgb-straight", timeout=180)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    statuses = _statuses(d)
    i = statuses.index("Interrupted")
    assert statuses[i:i + 4] == ["Interrupted", "Restarting", "Downloading", "Training"]
    assert statuses[-1] == "Completed"

    log = (node.settings.jobs_dir / "xgb-spot" / "algo-1.log").read_text()
    resumed = int(re.search(r"Resuming from a checkpoint with (\d+) of 120 rounds", log).group(1))
    assert 10 <= resumed < ROUNDS
    spot_model = _booster(_model_bytes(node, d["ModelArtifacts"]["S3ModelArtifacts"], "xgboost-model"))
    straight_model = _booster(_model_bytes(node, straight["ModelArtifacts"]["S3ModelArtifacts"], "xgboost-model"))
    assert spot_model.num_boosted_rounds() == straight_model.num_boosted_rounds() == ROUNDS
    X = np.random.default_rng(0).normal(size=(50, 12)).astype(np.float32)
    np.testing.assert_allclose(spot_model.predict(xgb.DMatrix(X)), straight_model.predict(xgb.DMatrix(X)),
                               rtol=1e-5)
    keys = [o["Key"] for o in node.client("s3").list_objects_v2(
        Bucket=ARTIFACTS, Prefix="checkpoints/xgb-spot/")["Contents"]]
    assert any(k.endswith(f"xgboost-checkpoint.{ROUNDS - 1}") for k in keys)
    # SageMaker's definitions: training time is wall clock, billable only the time the hosts ran.
    assert 1 <= d["BillableTimeInSeconds"] <= d["TrainingTimeInSeconds"]
    assert straight["BillableTimeInSeconds"] == straight["TrainingTimeInSeconds"]


def test_pytorch_estimator_resumes_with_the_same_weights(node: NodeThread, tmp_path_factory: pytest.TempPathFactory,
                                                        train_uri: str) -> None:
    from sagemaker.pytorch import PyTorch

    with sdk_environment(node, tmp_path_factory.mktemp("sdk")):
        def estimator(name: str, spot: bool) -> Any:
            extra = {"use_spot_instances": True, "max_wait": 900,
                     "checkpoint_s3_uri": f"s3://{ARTIFACTS}/checkpoints/{name}"} if spot else {}
            est = PyTorch(entry_point="torch_resume.py", source_dir=str(SCRIPTS), framework_version="2.1",
                          py_version="py310", instance_type="ml.m5.large", instance_count=1, role=ROLE,
                          hyperparameters={"epochs": 12, "epoch-seconds": 0.4}, max_run=600,
                          output_path=f"s3://{ARTIFACTS}/torch", sagemaker_session=sdk_session(ARTIFACTS), **extra)
            est.fit({"train": train_uri}, job_name=name, wait=False)
            return est

        spot = estimator("torch-spot", True)
        straight = estimator("torch-straight", False)
        assert spot.latest_training_job.describe()["EnableManagedSpotTraining"] is True
    _interrupt_when(node, "torch-spot", r"^epoch 4 ")
    sm = node.client("sagemaker")
    d = wait_for_job(sm, "torch-spot", timeout=180)
    s = wait_for_job(sm, "torch-straight", timeout=180)
    assert d["TrainingJobStatus"] == s["TrainingJobStatus"] == "Completed", (d.get("FailureReason"),
                                                                              s.get("FailureReason"))
    assert "Interrupted" in _statuses(d) and "Restarting" in _statuses(d)
    log = (node.settings.jobs_dir / "torch-spot" / "algo-1.log").read_text()
    resumed = int(re.search(r"resumed from checkpoint at epoch (\d+)", log).group(1))
    assert 4 <= resumed < 12
    assert "epoch 0 " not in log.split("resumed from checkpoint")[1]  # the second run did not start over

    def weights(name: str) -> str:
        text = (node.settings.jobs_dir / name / "algo-1.log").read_text()
        return re.search(r"^weights (.*)$", text, re.M).group(1)

    assert weights("torch-spot") == weights("torch-straight")


def test_spot_needs_max_wait(node: NodeThread, train_uri: str) -> None:
    sm = node.client("sagemaker")
    with pytest.raises(ClientError) as err:
        sm.create_training_job(
            TrainingJobName="spot-without-wait", RoleArn=ROLE, EnableManagedSpotTraining=True,
            AlgorithmSpecification={"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": f"s3://{ARTIFACTS}/spot"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 600})
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "MaxWaitTimeInSeconds" in err.value.response["Error"]["Message"]


def test_interrupting_a_finished_job_is_refused(node: NodeThread) -> None:
    from services.core.exceptions import ValidationException

    name = next(j.training_job_name for j in node.run(node.node.services.training.store.list())
                if j.training_job_status.is_terminal)
    with pytest.raises(ValidationException):
        node.run(interrupt_training_job(node.node.services.training, name))
