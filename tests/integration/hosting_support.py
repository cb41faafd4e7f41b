"""Helpers for hosting tests: a real XGBoost model in S3, and endpoint set-up through boto3."""

from __future__ import annotations

import io
import tarfile
from typing import Any, Protocol

import numpy as np
import xgboost as xgb

from services.core.settings import Settings
from tests.support import wait_for

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/headwater-hosting"
NUM_FEATURES = 4


class Node(Protocol):
    """What these helpers use of a node: its settings and boto3 clients pointed at it (a node in this
    process, or ``headwater up`` in a subprocess)."""

    @property
    def settings(self) -> Settings: ...

    def client(self, service: str) -> Any: ...


def train_booster(seed: int, rounds: int = 5) -> xgb.Booster:
    """A small binary classifier; different seeds give different predictions."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, NUM_FEATURES)).astype(np.float32)
    y = (X[:, 0] + (seed % 3) * X[:, 1] > 0).astype(np.float32)
    return xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(X, label=y), rounds)


def model_archive(booster: xgb.Booster | None, extra: dict[str, bytes] | None = None) -> bytes:
    """``model.tar.gz`` bytes holding ``xgboost-model`` (JSON) and any ``extra`` members."""
    members = dict(extra or {})
    if booster is not None:
        members["xgboost-model"] = bytes(booster.save_raw("json"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def put_model(node: Node, name: str, archive: bytes, **container: Any) -> str:
    """Upload ``archive`` and ``CreateModel`` ``name`` over it; return the model data URL."""
    bucket = node.settings.artifacts_bucket
    key = f"hosting-tests/{name}/model.tar.gz"
    node.client("s3").put_object(Bucket=bucket, Key=key, Body=archive)
    url = f"s3://{bucket}/{key}"
    node.client("sagemaker").create_model(
        ModelName=name, ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": url, **container})
    return url


def variant(name: str, model: str, count: int = 1, weight: float = 1.0, **extra: Any) -> dict[str, Any]:
    """A ``ProductionVariant``."""
    return {"VariantName": name, "ModelName": model, "InitialInstanceCount": count,
            "InstanceType": "ml.m5.large", "InitialVariantWeight": weight, **extra}


def wait_status(node: Node, endpoint: str, statuses: tuple[str, ...] = ("InService", "Failed"),
                timeout: float = 90) -> dict[str, Any]:
    """Poll ``DescribeEndpoint`` until the status is one of ``statuses``."""
    sm = node.client("sagemaker")

    def done() -> dict[str, Any] | None:
        d = sm.describe_endpoint(EndpointName=endpoint)
        return d if d["EndpointStatus"] in statuses else None

    return wait_for(done, timeout, interval=0.2, what=f"endpoint {endpoint} to reach {statuses}")


def deploy(node: Node, endpoint: str, variants: list[dict[str, Any]], **config: Any) -> dict[str, Any]:
    """Create a config named after ``endpoint`` and the endpoint; wait until it settles."""
    sm = node.client("sagemaker")
    sm.create_endpoint_config(EndpointConfigName=f"{endpoint}-cfg", ProductionVariants=variants, **config)
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-cfg")
    return wait_status(node, endpoint)


def csv_row(row: np.ndarray) -> bytes:
    """One CSV record."""
    return ",".join(f"{v:.6f}" for v in row).encode()


def expected(booster: xgb.Booster, body: bytes) -> float:
    """What ``booster`` predicts for the one CSV record ``body``."""
    row = np.array([[float(x) for x in body.decode().split(",")]], dtype=np.float32)
    return float(booster.inplace_predict(row)[0])
