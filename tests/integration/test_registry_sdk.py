"""The model registry through the SageMaker Python SDK v2, unchanged: register, then deploy the package.

``model.register(...)`` sends ``CreateModelPackage`` with what a user adds
(a model card, life cycle, metrics, metadata); ``ModelPackage(...).deploy()``
sends ``CreateModel`` with ``PrimaryContainer.ModelPackageName`` and no
``Image``, which the node resolves to the package's containers.
``estimator.register(...)`` first builds a model card from the training job,
which the SDK finds with ``Search``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import numpy as np
import pytest
import sagemaker  # a dev dependency: its absence must fail, not skip
from sagemaker.deserializers import CSVDeserializer
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.model import Model, ModelPackage
from sagemaker.model_card import ModelCard, TrainingDetails, TrainingJobDetails
from sagemaker.model_life_cycle import ModelLifeCycle
from sagemaker.predictor import Predictor
from sagemaker.serializers import CSVSerializer

from tests.integration.hosting_support import IMAGE, csv_row, expected, model_archive, train_booster
from tests.sdk_env import REGION, ROLE, sdk_environment, sdk_session
from tests.support import NodeThread

pytestmark = pytest.mark.sdk

ROWS = np.random.default_rng(5).normal(size=(3, 4))
REGISTER = {"content_types": ["text/csv"], "response_types": ["text/csv"],
            "inference_instances": ["ml.m5.large"], "transform_instances": ["ml.m5.large"]}


@pytest.fixture(scope="module")
def sdk(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A session from the environment a user exports; the SDK's 30 s endpoint polls shortened (its clock only)."""
    import sagemaker.session as sm_session

    with sdk_environment(node, tmp_path_factory.mktemp("sdk-home")) as mp:
        fast = SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
        fast.sleep = lambda s: time.sleep(min(s, 0.5))
        mp.setattr(sm_session, "time", fast)
        yield sdk_session(node.settings.artifacts_bucket)


def _deploy_and_predict(sdk: Any, package_arn: str, endpoint: str, rows: np.ndarray) -> list[float]:
    """``ModelPackage(...).deploy()`` as a user writes it, then one prediction per row; the endpoint is deleted."""
    ModelPackage(role=ROLE, model_package_arn=package_arn, sagemaker_session=sdk).deploy(
        initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=endpoint)
    predictor = Predictor(endpoint, sagemaker_session=sdk, serializer=CSVSerializer(),
                          deserializer=CSVDeserializer())
    try:
        return [float(predictor.predict(row.tolist())[0][0]) for row in rows]
    finally:
        predictor.delete_endpoint()


def test_model_register_then_deploy_the_package(node: NodeThread, sdk: Any) -> None:
    booster = train_booster(seed=4)
    key = "registry-sdk/model/model.tar.gz"
    boto3.client("s3").put_object(Bucket=node.settings.artifacts_bucket, Key=key, Body=model_archive(booster))
    model = Model(image_uri=IMAGE, model_data=f"s3://{node.settings.artifacts_bucket}/{key}", role=ROLE,
                  sagemaker_session=sdk)
    # The card estimator.register() builds, made here without the Search the estimator uses to fill it.
    card = ModelCard(name="estimator_card", sagemaker_session=sdk, training_details=TrainingDetails(
        training_job_details=TrainingJobDetails(training_arn="arn:aws:sagemaker:us-east-1:123456789012:"
                                                             "training-job/sdk-registry")))
    package = model.register(**REGISTER, model_package_group_name="sdk-registered", approval_status="Approved",
                             description="registered by the SDK", model_card=card,
                             model_life_cycle=ModelLifeCycle(stage="Staging", stage_status="InProgress"),
                             customer_metadata_properties={"owner": "sdk"}, task="CLASSIFICATION",
                             sample_payload_url=f"s3://{node.settings.artifacts_bucket}/registry-sdk/sample.tar.gz")
    d = boto3.client("sagemaker").describe_model_package(ModelPackageName=package.model_package_arn)
    assert (d["ModelPackageGroupName"], d["ModelApprovalStatus"]) == ("sdk-registered", "Approved")
    assert json.loads(d["ModelCard"]["ModelCardContent"])["training_details"]["training_job_details"][
        "training_arn"].endswith("training-job/sdk-registry")
    assert d["ModelLifeCycle"] == {"Stage": "Staging", "StageStatus": "InProgress"}
    assert (d["CustomerMetadataProperties"], d["Task"]) == ({"owner": "sdk"}, "CLASSIFICATION")

    got = _deploy_and_predict(sdk, package.model_package_arn, "ep-sdk-package", ROWS)
    assert got == [pytest.approx(expected(booster, csv_row(row)), rel=1e-5) for row in ROWS]
    # The SDK's lookup of the newest approved version of a group, and of a group that does not exist.
    newest = sdk.get_most_recently_created_approved_model_package("sdk-registered")
    assert newest.model_package_arn == package.model_package_arn
    assert sdk.get_most_recently_created_approved_model_package("no-such-group") is None


def test_estimator_register_then_deploy_the_package(node: NodeThread, sdk: Any) -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] - x[:, 1] > 0).astype(float)
    body = "\n".join(",".join(f"{v:.5f}" for v in [label, *row]) for label, row in zip(y, x)).encode()
    boto3.client("s3").put_object(Bucket=node.settings.data_bucket, Key="registry-sdk/train/a.csv", Body=body)
    est = Estimator(image_uri=sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1"), role=ROLE,
                    instance_count=1, instance_type="ml.m5.large", sagemaker_session=sdk,
                    output_path=f"s3://{node.settings.artifacts_bucket}/registry-sdk",
                    hyperparameters={"num_round": "5", "objective": "binary:logistic"})
    est.fit({"train": TrainingInput(f"s3://{node.settings.data_bucket}/registry-sdk/train/",
                                    content_type="text/csv")}, logs=False)
    package = est.register(**REGISTER, model_package_group_name="sdk-estimator", approval_status="Approved")
    d = boto3.client("sagemaker").describe_model_package(ModelPackageName=package.model_package_arn)
    card = json.loads(d["ModelCard"]["ModelCardContent"])
    assert card["training_details"]["training_job_details"]["training_arn"] == est.latest_training_job.describe()[
        "TrainingJobArn"]
    got = _deploy_and_predict(sdk, package.model_package_arn, "ep-sdk-estimator-package", x[:2])
    assert all(0.0 <= p <= 1.0 for p in got)
