"""K-Means through the SageMaker SDK's own ``KMeans`` estimator, under both runners.

``record_set()`` uploads RecordIO-protobuf the SDK writes itself, ``fit()``
runs the job on Headwater; the centers must find the generated clusters.
Bad hyperparameters and a wrong feature_dim fail naming what is wrong.
``deploy()`` + ``predict()`` answer each record's closest center and its
distance, in SageMaker's shapes.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.containers.builtin_sdk import fast_sdk_session
from tests.sdk_env import ROLE
from tests.support import NodeThread, wait_for_job

TRUE_CENTERS = np.array([[0, 0, 0, 0], [8, 8, 0, 0], [0, 8, 8, -8]], dtype=np.float32)


@pytest.fixture(scope="module")
def session(runner_node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SageMaker SDK session pointed at the node only through the environment."""
    with fast_sdk_session(runner_node, tmp_path_factory.mktemp("sdk-home")) as session:
        yield session


def _blobs(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (TRUE_CENTERS[rng.integers(0, 3, n)] + rng.normal(scale=0.5, size=(n, 4))).astype(np.float32)


def _kmeans(session: Any, runner: str, **hps: Any) -> Any:
    from sagemaker import KMeans

    return KMeans(role=ROLE, instance_count=1, instance_type="ml.m5.large", k=3,
                  output_path=f"s3://{session.default_bucket()}/kmeans-{runner}",
                  data_location=f"s3://{session.default_bucket()}/kmeans-data-{runner}",
                  sagemaker_session=session, **hps)


@pytest.fixture(scope="module")
def fitted(runner_node: NodeThread, session: Any) -> Any:
    """A K-Means fitted through the SDK on three well-separated blobs."""
    runner = runner_node.settings.runner
    est = _kmeans(session, runner, init_method="kmeans++", epochs=2, eval_metrics=["msd", "ssd"])
    train = est.record_set(_blobs(600, 1), channel="train")
    test = est.record_set(_blobs(150, 2), channel="test")
    est.fit([train, test], job_name=f"kmeans-{runner}", wait=False, logs=False)
    d = wait_for_job(runner_node.client("sagemaker"), f"kmeans-{runner}", timeout=120)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    return est


def _centers(node: NodeThread, job: str) -> np.ndarray:
    """The centers in the job's ``model.tar.gz``."""
    d = node.client("sagemaker").describe_training_job(TrainingJobName=job)
    bucket, key = d["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    body = node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return np.load(io.BytesIO(tar.extractfile("model_algo-1").read()))  # type: ignore[union-attr]


def test_sdk_kmeans_record_set_fit_finds_the_clusters(runner_node: NodeThread, fitted: Any) -> None:
    runner = runner_node.settings.runner
    d = runner_node.client("sagemaker").describe_training_job(TrainingJobName=f"kmeans-{runner}")
    assert d["AlgorithmSpecification"]["TrainingImage"].endswith("/kmeans:1")
    centers = _centers(runner_node, f"kmeans-{runner}")
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


def test_sdk_deploy_and_predict_closest_clusters(runner_node: NodeThread, fitted: Any) -> None:
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import JSONSerializer

    runner = runner_node.settings.runner
    centers = _centers(runner_node, fitted.latest_training_job.name).astype(np.float64)
    endpoint = f"kmeans-sdk-{runner}"
    predictor = fitted.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=endpoint)
    try:
        X = _blobs(6, 5)
        distances = np.linalg.norm(X[:, None, :].astype(np.float64) - centers[None, :, :], axis=2)
        closest = distances.argmin(1)
        # the model's centers recover the generating blobs: each row's closest center is its own blob's
        truth = np.linalg.norm(X[:, None, :] - TRUE_CENTERS[None, :, :], axis=2).argmin(1)
        assert (np.linalg.norm(centers[closest] - TRUE_CENTERS[truth], axis=1) < 0.5).all()
        records = predictor.predict(X)  # the SDK's RecordSerializer / RecordDeserializer
        got_closest = [r.label["closest_cluster"].float32_tensor.values[0] for r in records]
        got_distance = [r.label["distance_to_cluster"].float32_tensor.values[0] for r in records]
        assert got_closest == closest.astype(float).tolist()
        np.testing.assert_allclose(got_distance, distances.min(1), rtol=1e-4)
        predictor.serializer, predictor.deserializer = JSONSerializer(), JSONDeserializer()
        answer = predictor.predict({"instances": [{"features": row} for row in X[:2].tolist()]})
        assert [p["closest_cluster"] for p in answer["predictions"]] == closest[:2].astype(float).tolist()
        np.testing.assert_allclose([p["distance_to_cluster"] for p in answer["predictions"]],
                                   distances.min(1)[:2], rtol=1e-4)
        runtime = runner_node.client("sagemaker-runtime")
        with pytest.raises(ClientError, match="4 features"):
            runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1,2,3")
        # the endpoint keeps serving after a bad request
        again = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv",
                                        Body=",".join(map(str, X[0])).encode())
        cluster, distance = again["Body"].read().decode().strip().split(",")
        assert int(cluster) == closest[0] and float(distance) == pytest.approx(distances[0].min(), rel=1e-4)
        lines = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="application/jsonlines",
                                        Accept="application/jsonlines",
                                        Body="\n".join(json.dumps(r) for r in X[:3].tolist()))["Body"].read()
        assert [json.loads(line)["closest_cluster"] for line in lines.decode().splitlines()] == \
            closest[:3].astype(float).tolist()
    finally:
        predictor.delete_endpoint()
