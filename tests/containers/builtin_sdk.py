"""Shared pieces of the first-party algorithm tests: an SDK session on a node, logs, models, raw requests."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from tests.sdk_env import ROLE, sdk_environment, sdk_session
from tests.support import NodeThread


@contextmanager
def fast_sdk_session(node: NodeThread, home: Path) -> Iterator[Any]:
    """A SageMaker SDK session found from the environment; the SDK's 30 s endpoint polls capped at 0.5 s."""
    with sdk_environment(node, home) as mp:
        import sagemaker.session as sm_session

        fast = SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
        fast.sleep = lambda s: time.sleep(min(s, 0.5))
        mp.setattr(sm_session, "time", fast)
        yield sdk_session(node.settings.artifacts_bucket)


def job_log(node: NodeThread, job: str) -> str:
    """The training job's log text."""
    events = node.client("logs").filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                                   logStreamNamePrefix=f"{job}/")["events"]
    return "\n".join(e["message"] for e in events)


def model_npz(node: NodeThread, description: dict[str, Any], member: str = "model_algo-1") -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` model file inside the job's ``model.tar.gz``."""
    bucket, key = description["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    body = node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        data = tar.extractfile(member).read()  # type: ignore[union-attr]
    with np.load(io.BytesIO(data)) as saved:
        return {name: saved[name] for name in saved.files}


def raw_job_request(records: Any, bucket: str, image: str) -> dict[str, Any]:
    """A ``CreateTrainingJob`` request over the SDK's record set, without hyperparameters or name."""
    return {
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [{"ChannelName": "train", "ContentType": "application/x-recordio-protobuf",
                             "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile",
                                                             "S3Uri": records.s3_data}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/bad"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
