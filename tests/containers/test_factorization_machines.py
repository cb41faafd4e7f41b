"""Factorization Machines through the SageMaker SDK's own ``FactorizationMachines`` estimator, under both runners.

A regressor trains on *sparse* RecordIO-protobuf (written with the SDK's
``write_spmatrix_to_sparse_tensor``, one-hot-like rows as recommender data
has) and must capture the pairwise interactions a linear model cannot; a
binary classifier trains from the SDK's own ``record_set()``. Metrics
printed as SageMaker prints them land in FinalMetricDataList. Bad
hyperparameters, a CSV channel, a wrong feature_dim and a non-binary label
fail naming what is wrong. ``deploy()`` + ``predict()`` answer SageMaker's
shapes, for dense and sparse requests alike.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from botocore.exceptions import ClientError

from containers.factorization_machines.model import FactorizationMachine
from tests.containers.builtin_sdk import fast_sdk_session, job_log, model_npz, raw_job_request
from tests.sdk_env import ROLE
from tests.support import NodeThread, wait_for_job

IMAGES = ("factorization_machines",)
D, K = 60, 3
_rng = np.random.default_rng(0)
TRUTH = FactorizationMachine("regressor", 0.5, _rng.normal(scale=0.3, size=D), _rng.normal(scale=0.7, size=(D, K)))


def _rows(n: int, seed: int) -> sp.csr_matrix:
    """About five of ``D`` features set per row."""
    rng = np.random.default_rng(seed)
    return sp.random(n, D, density=5 / D, format="csr", random_state=rng,
                     data_rvs=lambda s: np.ones(s)).astype(np.float32)


def _binary(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    X = _rows(n, seed)
    return X.toarray(), (TRUTH.raw(X) > 0.5).astype(np.float32)


def _model(node: NodeThread, job: str) -> FactorizationMachine:
    d = node.client("sagemaker").describe_training_job(TrainingJobName=job)
    a = model_npz(node, d)
    return FactorizationMachine(a["predictor_type"].tobytes().decode(), float(a["w0"]), a["w"], a["V"])


@pytest.fixture(scope="module")
def session(runner_node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SageMaker SDK session pointed at the node only through the environment."""
    with fast_sdk_session(runner_node, tmp_path_factory.mktemp("sdk-home")) as session:
        yield session


def _estimator(session: Any, runner: str, predictor_type: str, **hps: Any) -> Any:
    from sagemaker import FactorizationMachines

    return FactorizationMachines(role=ROLE, instance_count=1, instance_type="ml.m5.large", num_factors=K,
                                 predictor_type=predictor_type,
                                 output_path=f"s3://{session.default_bucket()}/fm-{runner}",
                                 data_location=f"s3://{session.default_bucket()}/fm-data-{runner}",
                                 sagemaker_session=session, **hps)


def _sparse_record_set(node: NodeThread, key: str, X: sp.csr_matrix, y: np.ndarray, channel: str) -> Any:
    from sagemaker.amazon.amazon_estimator import RecordSet
    from sagemaker.amazon.common import write_spmatrix_to_sparse_tensor

    buf = io.BytesIO()
    write_spmatrix_to_sparse_tensor(buf, X, y)
    node.client("s3").put_object(Bucket=node.settings.data_bucket, Key=f"{key}/{channel}/part-0.pbr",
                                 Body=buf.getvalue())
    return RecordSet(f"s3://{node.settings.data_bucket}/{key}/{channel}/", num_records=X.shape[0], feature_dim=D,
                     s3_data_type="S3Prefix", channel=channel)


LEARNING = {"epochs": 12, "bias_lr": 0.05, "linear_lr": 0.05, "factors_lr": 0.05, "factors_init_sigma": 0.1}


@pytest.fixture(scope="module")
def fitted(runner_node: NodeThread, session: Any) -> Any:
    """A sparse regressor and a dense binary classifier, trained side by side; returns the classifier."""
    runner = runner_node.settings.runner
    regressor = _estimator(session, runner, "regressor", **LEARNING)
    X, Xt = _rows(3000, 1), _rows(500, 2)
    regressor.fit([_sparse_record_set(runner_node, f"fm-sparse-{runner}", X, TRUTH.raw(X), "train"),
                   _sparse_record_set(runner_node, f"fm-sparse-{runner}", Xt, TRUTH.raw(Xt), "test")],
                  mini_batch_size=100, job_name=f"fm-reg-{runner}", wait=False, logs=False)
    classifier = _estimator(session, runner, "binary_classifier", **LEARNING)
    classifier.fit([classifier.record_set(*_binary(3000, 3), channel="train"),
                    classifier.record_set(*_binary(500, 4), channel="test")],
                   mini_batch_size=100, job_name=f"fm-binary-{runner}", wait=False, logs=False)
    sm = runner_node.client("sagemaker")
    for job in (f"fm-reg-{runner}", f"fm-binary-{runner}"):
        d = wait_for_job(sm, job, timeout=150)
        assert d["TrainingJobStatus"] == "Completed", (job, d.get("FailureReason"))
    return classifier


def test_sparse_regressor_learns_the_interactions(runner_node: NodeThread, fitted: Any) -> None:
    job = f"fm-reg-{runner_node.settings.runner}"
    d = runner_node.client("sagemaker").describe_training_job(TrainingJobName=job)
    assert d["AlgorithmSpecification"]["TrainingImage"].endswith("/factorization-machines:1")
    model = _model(runner_node, job)
    X = _rows(2000, 9)
    rmse = float(np.sqrt(((model.scores(X) - TRUTH.raw(X)) ** 2).mean()))
    from sklearn.linear_model import Ridge

    train = _rows(3000, 1)
    linear = Ridge(alpha=1.0).fit(train, TRUTH.raw(train)).predict(X)
    linear_rmse = float(np.sqrt(((linear - TRUTH.raw(X)) ** 2).mean()))
    assert rmse < 0.6 * linear_rmse, (rmse, linear_rmse)  # only the factors can explain the rest
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    Xt = _rows(500, 2)
    assert metrics["test:rmse"] == pytest.approx(float(np.sqrt(((model.scores(Xt) - TRUTH.raw(Xt)) ** 2).mean())),
                                                 rel=1e-3)
    assert "train:rmse" in metrics
    assert "#quality_metric: host=algo-1, epoch=12, train rmse <loss>=" in job_log(runner_node, job)


def test_binary_classifier_from_record_set(runner_node: NodeThread, fitted: Any) -> None:
    job = f"fm-binary-{runner_node.settings.runner}"
    model = _model(runner_node, job)
    X, y = _binary(2000, 10)
    accuracy = float(((model.scores(X) >= 0.5) == (y > 0.5)).mean())
    assert accuracy > 0.8, accuracy
    d = runner_node.client("sagemaker").describe_training_job(TrainingJobName=job)
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert metrics["test:binary_classification_accuracy"] > 0.8
    assert {"test:binary_classification_cross_entropy", "test:binary_f_beta"} <= set(metrics)


def test_bad_input_is_named(runner_node: NodeThread, session: Any) -> None:
    runner = runner_node.settings.runner
    sm = runner_node.client("sagemaker")
    X, y = _binary(40, 7)
    y[4] = 3.0  # the fifth record's label is not a binary class
    records = _estimator(session, runner, "binary_classifier").record_set(X, labels=y)
    request = raw_job_request(records, session.default_bucket(),
                              "664544806723.dkr.ecr.eu-central-1.amazonaws.com/factorization-machines:1")
    base = {"predictor_type": "binary_classifier", "feature_dim": str(D), "num_factors": "2",
            "mini_batch_size": "10"}
    csv_channel = [{**request["InputDataConfig"][0], "ContentType": "text/csv"}]
    cases = {
        "unknown": ({**base, "factor_lr": "0.1"}, {}, ["factor_lr"]),
        "range": ({**base, "num_factors": "0"}, {}, ["'num_factors'", "'0'"]),
        "dim": ({**base, "feature_dim": "61"}, {}, ["train/", "record 1", "60 features", "feature_dim is 61"]),
        "label": (base, {}, ["train/", "record 5", "label 3.0", "0 or 1"]),
        "type": (base, {"InputDataConfig": csv_channel}, ["'train'", "text/csv", "does not support"]),
    }
    for case, (hps, override, _) in cases.items():
        sm.create_training_job(TrainingJobName=f"fm-{case}-{runner}", HyperParameters=hps,
                               **{**request, **override})
    for case, (_, _, expected) in cases.items():
        d = wait_for_job(sm, f"fm-{case}-{runner}", timeout=150)
        assert d["TrainingJobStatus"] == "Failed"
        for part in expected:
            assert part in d["FailureReason"], (case, d["FailureReason"])


def test_sdk_deploy_and_predict_dense_and_sparse(runner_node: NodeThread, fitted: Any) -> None:
    from sagemaker.amazon.common import write_spmatrix_to_sparse_tensor

    model = _model(runner_node, f"fm-binary-{runner_node.settings.runner}")
    predictor = fitted.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="fm-sdk")
    try:
        X, _ = _binary(5, 11)
        records = predictor.predict(X)  # the SDK's RecordSerializer / RecordDeserializer
        scores = [r.label["score"].float32_tensor.values[0] for r in records]
        labels = [r.label["predicted_label"].float32_tensor.values[0] for r in records]
        np.testing.assert_allclose(scores, model.scores(X), rtol=1e-4)
        assert labels == [float(s >= 0.5) for s in model.scores(X)]
        runtime = runner_node.client("sagemaker-runtime")
        buf = io.BytesIO()
        write_spmatrix_to_sparse_tensor(buf, sp.csr_matrix(X[:2]))
        answer = runtime.invoke_endpoint(EndpointName="fm-sdk", ContentType="application/x-recordio-protobuf",
                                         Accept="application/json", Body=buf.getvalue())
        predictions = json.loads(answer["Body"].read())["predictions"]
        assert [set(p) for p in predictions] == [{"score", "predicted_label"}] * 2
        np.testing.assert_allclose([p["score"] for p in predictions], scores[:2], rtol=1e-4)
        with pytest.raises(ClientError, match="60 features"):
            runtime.invoke_endpoint(EndpointName="fm-sdk", ContentType="application/json", Body=b"[[1, 2, 3]]")
        again = runtime.invoke_endpoint(EndpointName="fm-sdk", ContentType="application/json",
                                        Body=json.dumps({"instances": [{"features": X[0].tolist()}]}))
        assert json.loads(again["Body"].read())["predictions"][0]["score"] == pytest.approx(scores[0], rel=1e-4)
    finally:
        predictor.delete_endpoint()
