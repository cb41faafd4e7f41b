"""Shared set-up of the script-mode serving tests: a node, the SDK environment, data, artifacts."""

from __future__ import annotations

import io
import shutil
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.exceptions
import numpy as np
import pytest

from infra.demo.datasets import to_csv
from tests.sdk_env import sdk_environment
from tests.support import NodeThread, free_port_settings, wait_for

SCRIPTS = Path(__file__).parent / "scripts"
DATA = "headwater-data"
ARTIFACTS = "headwater-artifacts"
INSTANCE = "ml.m5.large"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A full node for the module."""
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("script-serving"))).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def env(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The variables a user exports for the SDK, for the module."""
    with sdk_environment(node, tmp_path_factory.mktemp("sdk-home")) as mp:
        import sagemaker.session as sm_session

        # The SDK sleeps 30 s between DescribeEndpoint polls: cap its clock's sleeps, not its calls.
        fast = SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
        fast.sleep = lambda s: time.sleep(min(s, 0.5))
        mp.setattr(sm_session, "time", fast)
        yield


@pytest.fixture(scope="module")
def data(env: None) -> tuple[str, np.ndarray]:
    """A binary-labelled training set in S3, and held-out rows to predict on."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(int)
    boto3.client("s3").put_object(Bucket=DATA, Key="script-serving/train/part-0.csv", Body=to_csv(X, y))
    return f"s3://{DATA}/script-serving/train/", rng.normal(size=(6, 4))


def source_dir(tmp: Path, *files: str, requirements: str | None = None) -> Path:
    """A ``source_dir`` holding copies of ``files`` from ``scripts/`` (and a ``requirements.txt``)."""
    src = tmp / "src"
    src.mkdir(exist_ok=True)
    for f in files:
        shutil.copy(SCRIPTS / f, src / f)
    if requirements is not None:
        (src / "requirements.txt").write_text(requirements)
    return src


def artifact(uri: str, member: str, dest: Path) -> Path:
    """Extract ``member`` of the ``model.tar.gz`` at ``uri`` into ``dest``."""
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        tar.extract(member, dest, filter="data")
    return dest / member


def fit(est: Any, train_uri: str) -> None:
    """``est.fit`` on the ``train`` channel; the job must complete."""
    est.fit({"train": train_uri}, logs=False)
    status = est.latest_training_job.describe()
    assert status["TrainingJobStatus"] == "Completed", status.get("FailureReason")


def endpoint_status(name: str, timeout: float = 90) -> dict[str, Any]:
    """Wait until endpoint ``name`` is ``InService`` or ``Failed``; its description."""
    sm = boto3.client("sagemaker")

    def settled() -> dict[str, Any] | None:
        d = sm.describe_endpoint(EndpointName=name)
        return d if d["EndpointStatus"] in ("InService", "Failed") else None

    return wait_for(settled, timeout, interval=0.3, what=f"endpoint {name} to settle")


def gone(name: str) -> bool:
    """Whether endpoint ``name`` no longer exists."""
    try:
        boto3.client("sagemaker").describe_endpoint(EndpointName=name)
    except botocore.exceptions.ClientError:
        return True
    return False


def model_of(endpoint: str) -> str:
    """The model behind ``endpoint``'s first production variant."""
    sm = boto3.client("sagemaker")
    config = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint)[
        "EndpointConfigName"])
    return config["ProductionVariants"][0]["ModelName"]
