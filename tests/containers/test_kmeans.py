"""K-Means through the SageMaker SDK's own ``KMeans`` estimator, under both runners.

``record_set()`` uploads RecordIO-protobuf the SDK writes itself, ``fit()``
runs the job on Headwater; the centers must find the generated clusters.
Bad hyperparameters and a wrong feature_dim fail naming what is wrong.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.sdk_env import ROLE, sdk_environment, sdk_session
from tests.support import NodeThread, wait_for_job

TRUE_CENTERS = np.array([[0, 0, 0, 0], [8, 8, 0, 0], [0, 8, 8, -8]], dtype=np.float32)


@pytest.fixture(scope="module")
def session(runner_node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SageMaker SDK session pointed at the node only through the environment."""
    with sdk_environment(runner_node, tmp_path_factory.mktemp("sdk-home")):
        yield sdk_session(runner_node.settings.artifacts_bucket)


def _blobs(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (TRUE_CENTERS[rng.integers(0, 3, n)] + rng.normal(scale=0.5, size=(n, 4))).astype(np.float32)


def _kmeans(session: Any, runner: str, **hps: Any) -> Any:
    from sagemaker import KMeans

    return KMeans(role=ROLE, instance_count=1, instance_type="ml.m5.large", k=3,
                  output_path=f"s3://{session.default_bucket()}/kmeans-{runner}",
                  data_location=f"s3://{session.default_bucket()}/kmeans-data-{runner}",
                  sagemaker_session=session, **hps)


def test_sdk_kmeans_record_set_fit_finds_the_clusters(runner_node: NodeThread, session: Any,
                                                      tmp_path: Path) -> None:
    runner = runner_node.settings.runner
    est = _kmeans(session, runner, init_method="kmeans++", epochs=2, eval_metrics=["msd", "ssd"])
    train = est.record_set(_blobs(600, 1), channel="train")
    test = est.record_set(_blobs(150, 2), channel="test")
    est.fit([train, test], job_name=f"kmeans-{runner}", wait=False, logs=False)
    d = wait_for_job(runner_node.client("sagemaker"), f"kmeans-{runner}", timeout=120)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["AlgorithmSpecification"]["TrainingImage"].endswith("/kmeans:1")
    bucket, key = d["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    body = runner_node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        centers = np.load(io.BytesIO(tar.extractfile("model_algo-1").read()))
    assert centers.shape == (3, 4)
    # every true center has a learned center close by
    gaps = np.linalg.norm(TRUE_CENTERS[:, None, :] - centers[None, :, :], axis=2).min(1)
    assert gaps.max() < 0.5, centers
    logs = runner_node.client("logs").filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                                        logStreamNamePrefix=f"kmeans-{runner}/")["events"]
    text = "\n".join(e["message"] for e in logs)
    assert "#quality_metric: host=algo-1, test msd <loss>=" in text
    assert "#quality_metric: host=algo-1, test ssd <loss>=" in text


def test_bad_hyperparameters_and_feature_dim_are_named(runner_node: NodeThread, session: Any) -> None:
    runner = runner_node.settings.runner
    sm = runner_node.client("sagemaker")
    est = _kmeans(session, runner)
    records = est.record_set(_blobs(50, 3), channel="train")
    request = {
        "AlgorithmSpecification": {"TrainingImage": "382416733822.dkr.ecr.us-west-2.amazonaws.com/kmeans:1",
                                   "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [{"ChannelName": "train", "ContentType": "application/x-recordio-protobuf",
                             "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile",
                                                             "S3Uri": records.s3_data}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{session.default_bucket()}/bad"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    cases = {
        "unknown": ({"k": "3", "feature_dim": "4", "kay": "3"}, ["kay"]),
        "range": ({"k": "1", "feature_dim": "4"}, ["'k'", "'1'"]),
        "dim": ({"k": "3", "feature_dim": "5"}, ["train/", "record 1", "4 features", "feature_dim is 5"]),
    }
    for case, (hps, _) in cases.items():
        sm.create_training_job(TrainingJobName=f"km-{case}-{runner}", HyperParameters=hps, **request)
    for case, (_, expected) in cases.items():
        d = wait_for_job(sm, f"km-{case}-{runner}", timeout=120)
        assert d["TrainingJobStatus"] == "Failed"
        for part in expected:
            assert part in d["FailureReason"], (case, d["FailureReason"])
