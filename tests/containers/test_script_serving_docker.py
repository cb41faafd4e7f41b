"""Script-mode serving in a real container: the scikit-learn image trains, then serves the user's hooks.

The docker runner starts ``headwater/sklearn`` for the training job and for
each endpoint instance; the platform unpacks the model's S3
``sourcedir.tar.gz`` into the container's ``/opt/ml/code`` and the
container's ``serve`` imports the entry point from there. (The process
runner runs the same scenarios through the SDK in ``tests/e2e``.)
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest

from infra.datasets import to_csv
from tests.containers.conftest import start_node
from tests.integration.hosting_support import deploy
from tests.support import NodeThread, wait_for_job

IMAGES = ("sklearn",)
SCRIPTS = Path(__file__).resolve().parents[1] / "e2e" / "scripts"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/headwater"


@pytest.fixture(scope="module")
def docker_node(images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    node = start_node(tmp_path_factory.mktemp("node-docker-serving"), "docker")
    yield node
    node.stop()


def _sourcedir(*files: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in files:
            tar.add(SCRIPTS / name, arcname=name)
    return buf.getvalue()


def _get(node: NodeThread, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def test_trained_in_a_container_and_served_through_the_users_hooks(docker_node: NodeThread, tmp_path: Path) -> None:
    node, s3, sm = docker_node, docker_node.client("s3"), docker_node.client("sagemaker")
    data_bucket, artifacts = node.settings.data_bucket, node.settings.artifacts_bucket
    rng = np.random.default_rng(11)
    X = rng.normal(size=(200, 4))
    s3.put_object(Bucket=data_bucket, Key="docker-serving/train/part-0.csv",
                  Body=to_csv(X, (X[:, 0] + X[:, 2] > 0).astype(int)))
    s3.put_object(Bucket=artifacts, Key="docker-serving/sourcedir.tar.gz",
                  Body=_sourcedir("sklearn_train.py", "helpers.py", "sklearn_custom_io.py", "broken_model_fn.py"))
    source = f"s3://{artifacts}/docker-serving/sourcedir.tar.gz"
    sm.create_training_job(
        TrainingJobName="docker-sklearn-serving", RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"sklearn_train.py"', "sagemaker_submit_directory": json.dumps(source),
                         "C": "1.0"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{data_bucket}/docker-serving/train/"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{artifacts}/docker-serving"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300})
    job = wait_for_job(sm, "docker-sklearn-serving", timeout=240)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    model_url = job["ModelArtifacts"]["S3ModelArtifacts"]
    with tarfile.open(fileobj=io.BytesIO(_get(node, model_url)), mode="r:gz") as tar:
        tar.extract("model.joblib", tmp_path, filter="data")
    local = joblib.load(tmp_path / "model.joblib")

    for name, program in (("docker-custom-io", "sklearn_custom_io.py"), ("docker-broken", "broken_model_fn.py")):
        sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": SKLEARN_IMAGE, "ModelDataUrl": model_url,
            "Environment": {"SAGEMAKER_PROGRAM": program, "SAGEMAKER_SUBMIT_DIRECTORY": source}})
    variant = {"VariantName": "AllTraffic", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
    served = deploy(node, "docker-custom-io", [{**variant, "ModelName": "docker-custom-io"}])
    assert served["EndpointStatus"] == "InService", served.get("FailureReason")
    rows = rng.normal(size=(5, 4))
    answer = node.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="docker-custom-io", ContentType="application/json", Body=json.dumps({"customers": rows.tolist()}))
    document = json.loads(answer["Body"].read())
    assert document["served_by"] == "custom output_fn"
    np.testing.assert_allclose(document["churn_probability"], local.predict_proba(rows)[:, 1], atol=1e-5)

    failed = deploy(node, "docker-broken", [{**variant, "ModelName": "docker-broken"}])
    assert failed["EndpointStatus"] == "Failed"
    assert "FileNotFoundError: no weights file named weights.bin" in failed["FailureReason"]
    for name in ("docker-custom-io", "docker-broken"):
        sm.delete_endpoint(EndpointName=name)
