"""k-NN through the SageMaker SDK's own ``KNN`` estimator, under both runners.

``record_set()`` uploads labeled RecordIO-protobuf the SDK writes itself,
``fit()`` builds the index on Headwater; its test accuracy (printed as
SageMaker prints it and kept in FinalMetricDataList) must be far above
chance. Bad hyperparameters and a wrong feature_dim fail naming what is
wrong. ``deploy()`` + ``predict()`` answer SageMaker's shapes, verbose too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.containers.builtin_sdk import fast_sdk_session, job_log, raw_job_request
from tests.sdk_env import ROLE
from tests.support import NodeThread, wait_for_job

IMAGES = ("knn",)


@pytest.fixture(scope="module")
def session(runner_node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SageMaker SDK session pointed at the node only through the environment."""
    with fast_sdk_session(runner_node, tmp_path_factory.mktemp("sdk-home")) as session:
        yield session


def _classes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes, each a blob around its own corner of an 8-dimensional space."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return (rng.normal(size=(n, 8)) + 3.0 * np.eye(8)[y]).astype(np.float32), y.astype(np.float32)


def _knn(session: Any, runner: str, **hps: Any) -> Any:
    from sagemaker import KNN

    return KNN(role=ROLE, instance_count=1, instance_type="ml.m5.large", k=7, predictor_type="classifier",
               sample_size=400, output_path=f"s3://{session.default_bucket()}/knn-{runner}",
               data_location=f"s3://{session.default_bucket()}/knn-data-{runner}", sagemaker_session=session, **hps)


@pytest.fixture(scope="module")
def fitted(runner_node: NodeThread, session: Any) -> Any:
    """A classifier over a sign-projected reservoir sample, fitted through the SDK."""
    runner = runner_node.settings.runner
    est = _knn(session, runner, dimension_reduction_type="sign", dimension_reduction_target=6,
               index_type="faiss.IVFFlat", faiss_index_ivf_nlists="auto")
    X, y = _classes(600, 1)
    Xt, yt = _classes(200, 2)
    est.fit([est.record_set(X, labels=y, channel="train"), est.record_set(Xt, labels=yt, channel="test")],
            job_name=f"knn-{runner}", wait=False, logs=False)
    d = wait_for_job(runner_node.client("sagemaker"), f"knn-{runner}", timeout=120)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    return est


def test_sdk_knn_fit_reports_test_accuracy(runner_node: NodeThread, fitted: Any) -> None:
    runner = runner_node.settings.runner
    d = runner_node.client("sagemaker").describe_training_job(TrainingJobName=f"knn-{runner}")
    assert d["AlgorithmSpecification"]["TrainingImage"].endswith("/knn:1")
    assert d["HyperParameters"]["sample_size"] == "400" and d["HyperParameters"]["feature_dim"] == "8"
    metrics = {m["MetricName"]: m["Value"] for m in d.get("FinalMetricDataList", [])}
    assert metrics.get("test:accuracy", 0) > 0.85, metrics  # chance is 1/3
    text = job_log(runner_node, f"knn-{runner}")
    assert "#quality_metric: host=algo-1, test accuracy <score>=" in text
    assert "400 of 600 records sampled, dimension 6" in text


def test_bad_hyperparameters_and_feature_dim_are_named(runner_node: NodeThread, session: Any) -> None:
    runner = runner_node.settings.runner
    sm = runner_node.client("sagemaker")
    X, y = _classes(50, 3)
    records = _knn(session, runner).record_set(X, labels=y, channel="train")
    request = raw_job_request(records, session.default_bucket(), "382416733822.dkr.ecr.us-west-2.amazonaws.com/knn:1")
    base = {"feature_dim": "8", "k": "3", "predictor_type": "classifier", "sample_size": "50"}
    cases = {
        "unknown": ({**base, "index_kind": "flat"}, ["index_kind"]),
        "range": ({**base, "index_type": "faiss.IVFPQ", "index_metric": "COSINE"}, ["'index_metric'", "IVFPQ"]),
        "dim": ({**base, "feature_dim": "9"}, ["train/", "record 1", "8 features", "feature_dim is 9"]),
    }
    for case, (hps, _) in cases.items():
        sm.create_training_job(TrainingJobName=f"knn-{case}-{runner}", HyperParameters=hps, **request)
    for case, (_, expected) in cases.items():
        d = wait_for_job(sm, f"knn-{case}-{runner}", timeout=120)
        assert d["TrainingJobStatus"] == "Failed"
        for part in expected:
            assert part in d["FailureReason"], (case, d["FailureReason"])


def test_sdk_deploy_and_predict_labels_and_neighbors(runner_node: NodeThread, fitted: Any) -> None:
    predictor = fitted.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="knn-sdk")
    try:
        Xq, yq = _classes(60, 4)
        records = predictor.predict(Xq)  # the SDK's RecordSerializer / RecordDeserializer
        predicted = np.array([r.label["predicted_label"].float32_tensor.values[0] for r in records])
        assert (predicted == yq).mean() > 0.85
        runtime = runner_node.client("sagemaker-runtime")
        body = json.dumps({"instances": [{"features": row} for row in Xq[:2].tolist()]}).encode()
        answer = runtime.invoke_endpoint(EndpointName="knn-sdk", ContentType="application/json",
                                         Accept="application/json; verbose=true", Body=body)
        assert answer["ContentType"].startswith("application/json")
        first = json.loads(answer["Body"].read())["predictions"][0]
        assert first["predicted_label"] == predicted[0]
        assert len(first["distances"]) == 7 and first["distances"] == sorted(first["distances"])
        assert len(first["labels"]) == 7 and first["predicted_label"] in first["labels"]
        plain = runtime.invoke_endpoint(EndpointName="knn-sdk", ContentType="application/json",
                                        Accept="application/json", Body=body)
        assert json.loads(plain["Body"].read())["predictions"][0] == {"predicted_label": predicted[0]}
        with pytest.raises(ClientError, match="8 features"):
            runtime.invoke_endpoint(EndpointName="knn-sdk", ContentType="text/csv", Body=b"1,2,3")
    finally:
        predictor.delete_endpoint()
