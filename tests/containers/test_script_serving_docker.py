"""Script-mode serving in a real container: the scikit-learn image trains, then serves the user's hooks.

The docker runner starts ``headwater/sklearn`` for the training job and for
each endpoint instance; the platform unpacks the model's S3
``sourcedir.tar.gz`` into the container's ``/opt/ml/code`` and the
container's ``serve`` imports the entry point from there. (The process
runner runs the same scenarios through the SDK in ``tests/e2e``.)

The SDK's ``PyTorch`` and ``XGBoost`` (framework mode) estimators fit and
``deploy()`` unchanged on the same docker node: PyTorch's repacked
``model.tar.gz`` brings the script's ``model_fn`` in ``model/code``, and
XGBoost's image URI serves through the framework container because the
model names a program. Predictions are compared with the same model
evaluated in the test process.
"""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from infra.demo.datasets import to_csv
from tests.containers.builtin_sdk import fast_sdk_session
from tests.containers.conftest import start_node
from tests.e2e.script_serving_support import artifact, source_dir
from tests.integration.hosting_support import deploy
from tests.support import NodeThread, wait_for_job

IMAGES = ("sklearn", "pytorch", "xgboost", "xgboost_framework")
INSTANCE = "ml.m5.large"
SCRIPTS = Path(__file__).resolve().parents[1] / "e2e" / "scripts"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/headwater"


@pytest.fixture(scope="module")
def docker_node(images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    node = start_node(tmp_path_factory.mktemp("node-docker-serving"), "docker")
    yield node
    node.stop()


@pytest.fixture(scope="module")
def sdk(docker_node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SageMaker SDK session on the docker node, found from the environment alone."""
    with fast_sdk_session(docker_node, tmp_path_factory.mktemp("sdk-home")) as session:
        yield session


@pytest.fixture(scope="module")
def train_data(docker_node: NodeThread) -> tuple[str, np.ndarray]:
    """A binary-labelled training set in S3, and held-out rows to predict on."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(int)
    bucket = docker_node.settings.data_bucket
    docker_node.client("s3").put_object(Bucket=bucket, Key="docker-frameworks/train/part-0.csv", Body=to_csv(X, y))
    return f"s3://{bucket}/docker-frameworks/train/", rng.normal(size=(6, 4))


def _fit(est: Any, train_uri: str) -> None:
    est.fit({"train": train_uri}, logs=False)
    status = est.latest_training_job.describe()
    assert status["TrainingJobStatus"] == "Completed", status.get("FailureReason")


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


def test_pytorch_deploy_serves_through_the_scripts_model_fn(docker_node: NodeThread, sdk: Any,
                                                            train_data: tuple[str, np.ndarray],
                                                            tmp_path: Path) -> None:
    import torch
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.pytorch import PyTorch
    from sagemaker.serializers import JSONSerializer

    est = PyTorch(entry_point="torch_linear.py", source_dir=str(source_dir(tmp_path, "torch_linear.py")),
                  framework_version="2.1", py_version="py310", instance_type=INSTANCE, instance_count=1, role=ROLE,
                  hyperparameters={"epochs": 30}, output_path=f"s3://{sdk.default_bucket()}/docker-torch",
                  sagemaker_session=sdk)
    _fit(est, train_data[0])
    predictor = est.deploy(initial_instance_count=1, instance_type=INSTANCE, endpoint_name="docker-torch",
                           serializer=JSONSerializer(), deserializer=JSONDeserializer())
    try:
        model = docker_node.client("sagemaker").describe_endpoint_config(
            EndpointConfigName=docker_node.client("sagemaker").describe_endpoint(EndpointName="docker-torch")[
                "EndpointConfigName"])["ProductionVariants"][0]["ModelName"]
        container = docker_node.client("sagemaker").describe_model(ModelName=model)["PrimaryContainer"]
        assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
        spec = importlib.util.spec_from_file_location("torch_linear_local", SCRIPTS / "torch_linear.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        local = module.model_fn(str(artifact(est.model_data, "weights.pt", tmp_path).parent))
        rows = train_data[1]
        with torch.no_grad():
            expected = local(torch.tensor(rows, dtype=torch.float32)).numpy()
        answer = np.asarray(predictor.predict(rows.tolist()))
        assert answer.shape == (len(rows), 1)
        np.testing.assert_allclose(answer, expected, rtol=1e-5, atol=1e-5)
    finally:
        predictor.delete_endpoint()


def test_xgboost_framework_mode_deploy_predicts(docker_node: NodeThread, sdk: Any,
                                                train_data: tuple[str, np.ndarray], tmp_path: Path) -> None:
    import xgboost as xgb
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.serializers import CSVSerializer
    from sagemaker.xgboost import XGBoost

    est = XGBoost(entry_point="xgb_framework.py", source_dir=str(source_dir(tmp_path, "xgb_framework.py")),
                  framework_version="1.7-1", instance_type=INSTANCE, instance_count=1, role=ROLE,
                  hyperparameters={"num_round": 8}, output_path=f"s3://{sdk.default_bucket()}/docker-xgb",
                  sagemaker_session=sdk)
    _fit(est, train_data[0])
    predictor = est.deploy(initial_instance_count=1, instance_type=INSTANCE, endpoint_name="docker-xgb",
                           serializer=CSVSerializer(), deserializer=CSVDeserializer())
    try:
        local = xgb.Booster(model_file=str(artifact(est.model_data, "my-model.json", tmp_path)))
        rows = train_data[1]
        expected = local.predict(xgb.DMatrix(rows.astype(np.float32)))
        assert np.ptp(expected) > 0  # not a constant model: the comparison means something
        answer = [float(r[0]) for r in predictor.predict(rows.tolist())]
        np.testing.assert_allclose(answer, expected, rtol=1e-5)
    finally:
        predictor.delete_endpoint()
