"""The SageMaker Python SDK v3, unchanged, against a node: ModelTrainer with the built-in XGBoost, then
``sagemaker.core.resources`` serving the artifact.

The v3 code runs in its own virtualenv (see :mod:`tests.sdk_v3.support`) with only what ``headwater env``
exports: v3 resolves the role through IAM and validates it (``iam:SimulatePrincipalPolicy``, the trust
policy) before any SageMaker call, so these pass only if identity works as on AWS.
"""

from __future__ import annotations

import io
import tarfile
from typing import Any

import numpy as np
import pytest
import xgboost

from tests.sdk_v3.support import V3Run, run_v3
from tests.support import NodeThread

pytestmark = pytest.mark.sdk

TRAIN = "s3://headwater-data/sdk-v3/train/"
OUTPUT = "s3://headwater-artifacts/sdk-v3"
ROWS = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])


def _csv(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=rows)
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, x]), delimiter=",", fmt="%.5f")
    return buf.getvalue().encode()


@pytest.fixture(scope="module")
def env(node: NodeThread, shell: dict[str, str]) -> dict[str, str]:
    """The user's shell after ``eval "$(headwater env)"``, and a small training set in the data bucket."""
    node.client("s3").put_object(Bucket="headwater-data", Key="sdk-v3/train/part.csv", Body=_csv(80, seed=1))
    return shell


@pytest.fixture(scope="module")
def trained(env: dict[str, str]) -> V3Run:
    """``ModelTrainer(..., role=<the default role>)``: ``train(wait=True, logs=True)``."""
    return run_v3("train_builtin", env, env["SAGEMAKER_EXECUTION_ROLE_ARN"], TRAIN, OUTPUT)


def _artifact(node: NodeThread, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body: bytes = node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_model_trainer_trains_the_builtin_xgboost_with_the_default_role(node: NodeThread, env: dict[str, str],
                                                                         trained: V3Run) -> None:
    assert "SAGEMAKER_VALIDATE_ROLE" not in env  # the role is validated, as on AWS
    result = trained.result
    assert result["image"] == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert result["status"] == "Completed" and result["role"] == env["SAGEMAKER_EXECUTION_ROLE_ARN"]
    assert result["artifact"] == f"{OUTPUT}/{result['job']}/output/model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(_artifact(node, result["artifact"])), mode="r:gz") as tar:
        assert "xgboost-model" in tar.getnames()
    # logs=True: the container's log, as v3 prints it (through its sagemaker.core.resources logger).
    assert "#011train-rmse:" in trained.output and "Final Resource Status: [bold]Completed" in trained.output
    desc = node.client("sagemaker").describe_training_job(TrainingJobName=result["job"])
    assert desc["RoleArn"] == env["SAGEMAKER_EXECUTION_ROLE_ARN"]
    assert desc["HyperParameters"] == {"objective": "reg:squarederror", "num_round": "3"}


def test_without_a_role_model_trainer_takes_the_callers_role(node: NodeThread, env: dict[str, str]) -> None:
    # The exported credentials are a session of the default role, so v3 resolves it from the caller's identity.
    run = run_v3("train_builtin", env, "-", TRAIN, OUTPUT)
    assert run.result["status"] == "Completed" and run.result["role"] == env["SAGEMAKER_EXECUTION_ROLE_ARN"]
    desc = node.client("sagemaker").describe_training_job(TrainingJobName=run.result["job"])
    assert desc["RoleArn"] == env["SAGEMAKER_EXECUTION_ROLE_ARN"]


def test_core_resources_serve_the_trained_artifact(node: NodeThread, env: dict[str, str], trained: V3Run,
                                                   tmp_path: Any) -> None:
    rows = "\n".join(",".join(str(v) for v in row) for row in ROWS)
    run = run_v3("serve_core_resources", env, env["SAGEMAKER_EXECUTION_ROLE_ARN"], trained.result["artifact"],
                 "sdk-v3-xgboost", rows)
    assert run.result["status"] == "InService" and run.result["variant"] == "AllTraffic"
    with tarfile.open(fileobj=io.BytesIO(_artifact(node, trained.result["artifact"])), mode="r:gz") as tar:
        tar.extract("xgboost-model", tmp_path, filter="data")
    expected = xgboost.Booster(model_file=str(tmp_path / "xgboost-model")).predict(xgboost.DMatrix(ROWS))
    assert run.result["predictions"] == pytest.approx(expected.tolist(), rel=1e-5)
    # The script deleted what it created.
    assert node.client("sagemaker").list_endpoints(NameContains="sdk-v3-xgboost")["Endpoints"] == []
