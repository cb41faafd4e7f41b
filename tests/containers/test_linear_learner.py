"""Linear Learner through the SageMaker SDK's own ``LinearLearner`` estimator, under both runners.

``record_set()`` uploads RecordIO-protobuf the SDK writes itself and ``fit()``
runs the job on Headwater; the chosen model must classify held-out data
well, and the metrics it prints (kept in FinalMetricDataList) must be the
ones its model earns. A regressor trains from CSV channels. Bad
hyperparameters, labels, widths and content types fail naming what is
wrong. ``deploy()`` + ``predict()`` answer SageMaker's response shapes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from containers.linear_learner.model import LinearModel
from tests.containers.builtin_sdk import fast_sdk_session, job_log, model_npz, raw_job_request
from tests.sdk_env import ROLE
from tests.support import NodeThread, wait_for_job

IMAGES = ("linear_learner",)
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
D = 8
TRUE_W = np.array([1.5, -2.0, 0.0, 1.0, 0.5, 0.0, -1.0, 0.8])


def _data(n: int, seed: int, kind: str = "binary_classifier") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, D)) * np.linspace(0.5, 8, D) + 2).astype(np.float32)
    z = ((X - 2) / np.linspace(0.5, 8, D)) @ TRUE_W
    if kind == "regressor":
        return X, (2 * z + 5 + rng.normal(scale=0.2, size=n)).astype(np.float32)
    return X, (z + rng.normal(scale=0.3, size=n) > 0.3).astype(np.float32)


def _model(node: NodeThread, job: str) -> LinearModel:
    d = node.client("sagemaker").describe_training_job(TrainingJobName=job)
    arrays = model_npz(node, d)
    meta = json.loads(arrays["meta"].tobytes().decode())
    return LinearModel(meta["predictor_type"], meta["loss"], arrays["weights"], arrays["bias"], meta["threshold"])


@pytest.fixture(scope="module")
def session(runner_node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SageMaker SDK session pointed at the node only through the environment."""
    with fast_sdk_session(runner_node, tmp_path_factory.mktemp("sdk-home")) as session:
        yield session


def _estimator(session: Any, runner: str, **hps: Any) -> Any:
    from sagemaker import LinearLearner

    return LinearLearner(role=ROLE, instance_count=1, instance_type="ml.m5.large",
                         output_path=f"s3://{session.default_bucket()}/ll-{runner}",
                         data_location=f"s3://{session.default_bucket()}/ll-data-{runner}",
                         sagemaker_session=session, **hps)


def _csv_channel(node: NodeThread, key: str, X: np.ndarray, y: np.ndarray) -> Any:
    from sagemaker.inputs import TrainingInput

    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, X]), delimiter=",", fmt="%.6g")  # label first, no header
    node.client("s3").put_object(Bucket=node.settings.data_bucket, Key=f"{key}/part-0.csv", Body=buf.getvalue())
    return TrainingInput(f"s3://{node.settings.data_bucket}/{key}/", content_type="text/csv")


@pytest.fixture(scope="module")
def fitted(runner_node: NodeThread, session: Any) -> Any:
    """A binary classifier (RecordIO record sets) and a regressor (CSV), trained side by side."""
    runner = runner_node.settings.runner
    est = _estimator(session, runner, predictor_type="binary_classifier", epochs=10, num_models=4)
    est.fit([est.record_set(*_data(800, 1), channel="train"), est.record_set(*_data(300, 2), channel="validation"),
             est.record_set(*_data(300, 3), channel="test")],
            mini_batch_size=100, job_name=f"ll-binary-{runner}", wait=False, logs=False)
    from sagemaker.estimator import Estimator

    regressor = Estimator(IMAGE, ROLE, 1, "ml.m5.large", sagemaker_session=session,
                          output_path=f"s3://{session.default_bucket()}/ll-reg-{runner}",
                          hyperparameters={"predictor_type": "regressor", "feature_dim": D, "epochs": 15,
                                           "mini_batch_size": 100})
    regressor.fit({"train": _csv_channel(runner_node, f"ll-reg-{runner}/train", *_data(800, 4, "regressor")),
                   "validation": _csv_channel(runner_node, f"ll-reg-{runner}/validation", *_data(300, 5, "regressor"))},
                  job_name=f"ll-reg-{runner}", wait=False, logs=False)
    sm = runner_node.client("sagemaker")
    for job in (f"ll-binary-{runner}", f"ll-reg-{runner}"):
        d = wait_for_job(sm, job, timeout=150)
        assert d["TrainingJobStatus"] == "Completed", (job, d.get("FailureReason"))
    return est


def test_sdk_binary_classifier_is_accurate_and_reports_its_own_metrics(runner_node: NodeThread,
                                                                        fitted: Any) -> None:
    job = f"ll-binary-{runner_node.settings.runner}"
    d = runner_node.client("sagemaker").describe_training_job(TrainingJobName=job)
    assert d["AlgorithmSpecification"]["TrainingImage"].endswith("/linear-learner:1")
    model = _model(runner_node, job)
    X, y = _data(2000, 9)
    accuracy = float(((model.scores(X) >= model.threshold) == (y > 0.5)).mean())
    assert accuracy > 0.9, accuracy  # chance is about 0.55; a broken fit or threshold is far below
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    Xt, yt = _data(300, 3)  # the test channel, regenerated
    test_accuracy = float(((model.scores(Xt) >= model.threshold) == (yt > 0.5)).mean())
    assert metrics["test:binary_classification_accuracy"] == pytest.approx(test_accuracy, abs=1e-4)
    assert metrics["validation:binary_classification_accuracy"] > 0.9
    assert {"validation:objective_loss", "test:objective_loss", "test:roc_auc_score", "train:objective_loss",
            "test:precision", "test:recall", "test:binary_f_beta"} <= set(metrics)
    log = job_log(runner_node, job)
    assert "#quality_metric: host=algo-1, epoch=1, validation objective_loss <loss>=" in log
    assert "Chose model" in log


def test_csv_regressor_fits_the_line(runner_node: NodeThread, fitted: Any) -> None:
    job = f"ll-reg-{runner_node.settings.runner}"
    d = runner_node.client("sagemaker").describe_training_job(TrainingJobName=job)
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert metrics["validation:rmse"] < 0.5, metrics  # the label's spread is about 7, its noise 0.2
    X, y = _data(1000, 6, "regressor")
    model = _model(runner_node, job)
    assert float(np.sqrt(((model.scores(X) - y) ** 2).mean())) < 0.5


def test_bad_input_is_named(runner_node: NodeThread, session: Any) -> None:
    runner = runner_node.settings.runner
    sm = runner_node.client("sagemaker")
    X, y = _data(40, 7)
    y[4] = 2.0  # the fifth record's label is not a binary class
    records = _estimator(session, runner, predictor_type="binary_classifier").record_set(X, labels=y)
    request = raw_job_request(records, session.default_bucket(),
                              "174872318107.dkr.ecr.us-west-2.amazonaws.com/linear-learner:1")
    base = {"predictor_type": "binary_classifier", "feature_dim": str(D), "mini_batch_size": "10", "epochs": "1"}
    json_channel = [{**request["InputDataConfig"][0], "ContentType": "application/json"}]
    cases = {
        "unknown": ({**base, "learning_rat": "0.1"}, {}, ["learning_rat"]),
        "range": ({**base, "target_precision": "1.5"}, {}, ["'target_precision'", "'1.5'"]),
        "dim": ({**base, "feature_dim": "9"}, {}, ["train/", "record 1", "8 features", "feature_dim is 9"]),
        "label": (base, {}, ["train/", "record 5", "label 2.0", "0 or 1"]),
        "type": (base, {"InputDataConfig": json_channel}, ["'train'", "application/json"]),
    }
    for case, (hps, override, _) in cases.items():
        sm.create_training_job(TrainingJobName=f"ll-{case}-{runner}", HyperParameters=hps,
                               **{**request, **override})
    for case, (_, _, expected) in cases.items():
        d = wait_for_job(sm, f"ll-{case}-{runner}", timeout=150)
        assert d["TrainingJobStatus"] == "Failed"
        for part in expected:
            assert part in d["FailureReason"], (case, d["FailureReason"])


def test_sdk_deploy_and_predict_in_sagemakers_shapes(runner_node: NodeThread, fitted: Any) -> None:
    model = _model(runner_node, f"ll-binary-{runner_node.settings.runner}")
    predictor = fitted.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="ll-sdk")
    try:
        X, _ = _data(5, 11)
        records = predictor.predict(X)  # the SDK's RecordSerializer / RecordDeserializer
        scores = [r.label["score"].float32_tensor.values[0] for r in records]
        labels = [r.label["predicted_label"].float32_tensor.values[0] for r in records]
        np.testing.assert_allclose(scores, model.scores(X), rtol=1e-4)
        assert labels == [float(s >= model.threshold) for s in model.scores(X)]
        runtime = runner_node.client("sagemaker-runtime")
        body = "\n".join(",".join(f"{v:.6g}" for v in row) for row in X[:2])
        answer = runtime.invoke_endpoint(EndpointName="ll-sdk", ContentType="text/csv", Accept="application/json",
                                         Body=body)
        predictions = json.loads(answer["Body"].read())["predictions"]
        assert [set(p) for p in predictions] == [{"score", "predicted_label"}] * 2
        assert [p["predicted_label"] for p in predictions] == [int(v) for v in labels[:2]]
        with pytest.raises(ClientError, match="8 features"):
            runtime.invoke_endpoint(EndpointName="ll-sdk", ContentType="text/csv", Body=b"1,2,3")
        # the endpoint keeps serving after a bad request
        again = runtime.invoke_endpoint(EndpointName="ll-sdk", ContentType="application/jsonlines",
                                        Accept="application/jsonlines", Body=json.dumps(X[0].tolist()))
        assert json.loads(again["Body"].read())["score"] == pytest.approx(scores[0], rel=1e-4)
    finally:
        predictor.delete_endpoint()
