"""PCA through the SageMaker SDK's own ``PCA`` estimator, under both runners.

``record_set()`` uploads RecordIO-protobuf the SDK writes itself, ``fit()``
runs the job on Headwater; the components must span the generating
subspace. Bad hyperparameters and a wrong feature_dim fail naming what is
wrong. ``deploy()`` + ``predict()`` answer SageMaker's projection shapes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.containers.builtin_sdk import fast_sdk_session, job_log, model_npz, raw_job_request
from tests.sdk_env import ROLE
from tests.support import NodeThread, wait_for_job

IMAGES = ("pca",)
BASIS = np.linalg.qr(np.random.default_rng(7).normal(size=(6, 2)))[0].T  # the generating 2-D subspace


@pytest.fixture(scope="module")
def session(runner_node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SageMaker SDK session pointed at the node only through the environment."""
    with fast_sdk_session(runner_node, tmp_path_factory.mktemp("sdk-home")) as session:
        yield session


def _data(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, 2)) * np.array([6.0, 3.0])
    return (scores @ BASIS + 0.05 * rng.normal(size=(n, 6)) + 2.0).astype(np.float32)


def _pca(session: Any, runner: str, **hps: Any) -> Any:
    from sagemaker import PCA

    return PCA(role=ROLE, instance_count=1, instance_type="ml.m5.large", num_components=2,
               output_path=f"s3://{session.default_bucket()}/pca-{runner}",
               data_location=f"s3://{session.default_bucket()}/pca-data-{runner}", sagemaker_session=session, **hps)


@pytest.fixture(scope="module")
def fitted(runner_node: NodeThread, session: Any) -> Any:
    """A randomized-mode PCA fitted through the SDK."""
    runner = runner_node.settings.runner
    est = _pca(session, runner, algorithm_mode="randomized", subtract_mean=True, extra_components=3)
    est.fit([est.record_set(_data(500, 1), channel="train"), est.record_set(_data(100, 2), channel="test")],
            job_name=f"pca-{runner}", wait=False, logs=False)
    d = wait_for_job(runner_node.client("sagemaker"), f"pca-{runner}", timeout=120)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    return est


def test_sdk_pca_record_set_fit_finds_the_subspace(runner_node: NodeThread, fitted: Any) -> None:
    runner = runner_node.settings.runner
    d = runner_node.client("sagemaker").describe_training_job(TrainingJobName=f"pca-{runner}")
    assert d["AlgorithmSpecification"]["TrainingImage"].endswith("/pca:1")
    assert d["HyperParameters"]["algorithm_mode"] == "randomized" and d["HyperParameters"]["feature_dim"] == "6"
    model = model_npz(runner_node, d)
    v, s, mean = model["v"], model["s"], model["mean"]
    assert v.shape == (6, 2) and s[1] > s[0]  # the most significant component last, as SageMaker stores it
    # every learned component lies in the generating subspace, and the mean was subtracted
    assert np.linalg.norm(BASIS @ v, axis=0).min() > 0.999, v
    np.testing.assert_allclose(mean, _data(500, 1).mean(0), atol=1e-3)
    text = job_log(runner_node, f"pca-{runner}")
    assert "2 components explain" in text and "Channel 'test': reconstruction mean squared error" in text


def test_bad_hyperparameters_and_feature_dim_are_named(runner_node: NodeThread, session: Any) -> None:
    runner = runner_node.settings.runner
    sm = runner_node.client("sagemaker")
    records = _pca(session, runner).record_set(_data(50, 3), channel="train")
    request = raw_job_request(records, session.default_bucket(), "382416733822.dkr.ecr.eu-west-1.amazonaws.com/pca:1")
    base = {"feature_dim": "6", "mini_batch_size": "10", "num_components": "2"}
    cases = {
        "unknown": ({**base, "num_comps": "2"}, ["num_comps"]),
        "range": ({**base, "num_components": "7"}, ["'num_components'", "'7'"]),
        "dim": ({**base, "feature_dim": "5", "num_components": "2"}, ["train/", "record 1", "6 features",
                                                                      "feature_dim is 5"]),
    }
    for case, (hps, _) in cases.items():
        sm.create_training_job(TrainingJobName=f"pca-{case}-{runner}", HyperParameters=hps, **request)
    for case, (_, expected) in cases.items():
        d = wait_for_job(sm, f"pca-{case}-{runner}", timeout=120)
        assert d["TrainingJobStatus"] == "Failed"
        for part in expected:
            assert part in d["FailureReason"], (case, d["FailureReason"])


def test_sdk_deploy_and_predict_projections(runner_node: NodeThread, fitted: Any, tmp_path: Path) -> None:
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import JSONSerializer

    d = runner_node.client("sagemaker").describe_training_job(TrainingJobName=fitted.latest_training_job.name)
    model = model_npz(runner_node, d)
    predictor = fitted.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="pca-sdk")
    try:
        X = _data(3, 4)
        expected = (X.astype(np.float64) - model["mean"]) @ model["v"]
        records = predictor.predict(X)  # the SDK's RecordSerializer / RecordDeserializer
        got = np.array([r.label["projection"].float32_tensor.values for r in records])
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)
        predictor.serializer, predictor.deserializer = JSONSerializer(), JSONDeserializer()
        answer = predictor.predict({"instances": [{"features": row} for row in X.tolist()]})
        np.testing.assert_allclose([p["projection"] for p in answer["projections"]], expected, rtol=1e-3, atol=1e-3)
        runtime = runner_node.client("sagemaker-runtime")
        with pytest.raises(ClientError, match="6 features"):
            runtime.invoke_endpoint(EndpointName="pca-sdk", ContentType="text/csv", Body=b"1,2,3")
        # the endpoint keeps serving after a bad request
        again = runtime.invoke_endpoint(EndpointName="pca-sdk", ContentType="text/csv", Accept="application/json",
                                        Body=",".join(map(str, X[0])).encode())
        assert len(json.loads(again["Body"].read())["projections"][0]["projection"]) == 2
    finally:
        predictor.delete_endpoint()
