"""Random Cut Forest through the SageMaker SDK's own ``RandomCutForest`` estimator, under both runners.

``record_set()`` uploads RecordIO-protobuf (a ManifestFile channel),
``fit()`` builds the forest on Headwater; a labelled test channel yields
SageMaker's metric lines and ``FinalMetricDataList``; the model must rank
held-out anomalies above held-out normal records; ``deploy()`` +
``predict()`` answer with a ``score`` per record. Bad hyperparameters, a
wrong feature_dim and a NaN fail the job naming what is wrong.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from containers.randomcutforest import algorithm
from tests.sdk_env import ROLE, sdk_environment, sdk_session
from tests.support import NodeThread, wait_for_job

IMAGES = ("randomcutforest",)
DIM = 3


@pytest.fixture(scope="module")
def session(runner_node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SageMaker SDK session pointed at the node only through the environment; the SDK's waits shortened."""
    with sdk_environment(runner_node, tmp_path_factory.mktemp("sdk-home")) as mp:
        import sagemaker.session as sm_session

        fast = SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
        fast.sleep = lambda s: time.sleep(min(s, 0.5))  # the SDK's deploy() polls every 30 s
        mp.setattr(sm_session, "time", fast)
        yield sdk_session(runner_node.settings.artifacts_bucket)


def _normal(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def _anomalies(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=(n, DIM))
    return (6 * direction / np.linalg.norm(direction, axis=1, keepdims=True)).astype(np.float32)


def _rcf(session: Any, runner: str, **hps: Any) -> Any:
    from sagemaker import RandomCutForest

    return RandomCutForest(role=ROLE, instance_count=1, instance_type="ml.m5.large", num_trees=50,
                           num_samples_per_tree=128, output_path=f"s3://{session.default_bucket()}/rcf-{runner}",
                           data_location=f"s3://{session.default_bucket()}/rcf-data-{runner}",
                           sagemaker_session=session, **hps)


@pytest.fixture(scope="module")
def trained(runner_node: NodeThread, session: Any) -> tuple[Any, dict[str, Any]]:
    """An estimator fitted on normal records, evaluated on a labelled test channel with 5 % anomalies."""
    runner = runner_node.settings.runner
    est = _rcf(session, runner, eval_metrics=["accuracy", "precision_recall_fscore"])
    test_x = np.concatenate([_normal(380, 2), _anomalies(20, 3)])
    test_y = np.concatenate([np.zeros(380), np.ones(20)]).astype(np.float32)
    train = est.record_set(_normal(1500, 1), channel="train")
    test = est.record_set(test_x, labels=test_y, channel="test")
    est.fit([train, test], job_name=f"rcf-{runner}", wait=False, logs=False)
    d = wait_for_job(runner_node.client("sagemaker"), f"rcf-{runner}", timeout=180)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    return est, d


def test_sdk_fit_builds_a_forest_that_ranks_anomalies_first(runner_node: NodeThread, trained: tuple) -> None:
    _, d = trained
    runner = runner_node.settings.runner
    assert d["AlgorithmSpecification"]["TrainingImage"].endswith("/randomcutforest:1")
    assert d["HyperParameters"]["mini_batch_size"] == "1000" and d["HyperParameters"]["feature_dim"] == str(DIM)
    final = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert final["test:f1"] > 0.8 and final["test:accuracy"] > 0.98, final
    assert final["test:negative_recall"] > 0.98
    logs = runner_node.client("logs").filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                                        logStreamNamePrefix=f"rcf-{runner}/")["events"]
    assert "#quality_metric: host=algo-1, test f1 <score>=" in "\n".join(e["message"] for e in logs)
    bucket, key = d["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    body = runner_node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        with np.load(io.BytesIO(tar.extractfile("model_algo-1").read())) as arrays:
            forest = algorithm.Forest.from_arrays(dict(arrays))
    assert len(forest.roots) == 50 and forest.sample_size == 128
    normal, anomalies = algorithm.score(forest, _normal(500, 9)), algorithm.score(forest, _anomalies(25, 10))
    assert np.percentile(anomalies, 10) > np.percentile(normal, 99), (anomalies, np.percentile(normal, 99))


def test_sdk_deploy_and_predict_scores_records(runner_node: NodeThread, trained: tuple) -> None:
    est, _ = trained
    runner = runner_node.settings.runner
    predictor = est.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=f"rcf-ep-{runner}")
    try:
        records = predictor.predict(np.concatenate([_normal(3, 11), _anomalies(1, 12)]))  # RecordIO both ways
        scores = [r.label["score"].float32_tensor.values[0] for r in records]
        assert len(scores) == 4 and max(scores[:3]) < scores[3]
        from sagemaker.deserializers import JSONDeserializer
        from sagemaker.serializers import CSVSerializer

        predictor.serializer, predictor.deserializer = CSVSerializer(), JSONDeserializer()
        answer = predictor.predict(np.concatenate([_normal(3, 11), _anomalies(1, 12)]))
        assert [s["score"] for s in answer["scores"]] == pytest.approx(scores, rel=1e-5)
        runtime = runner_node.client("sagemaker-runtime")
        with pytest.raises(runtime.exceptions.ClientError, match="3 features"):
            runtime.invoke_endpoint(EndpointName=f"rcf-ep-{runner}", ContentType="text/csv", Body=b"1,2\n")
        assert predictor.predict([[0.0, 0.0, 0.0]])["scores"][0]["score"] < scores[3]  # still serving
    finally:
        predictor.delete_endpoint()


def test_bad_hyperparameters_feature_dim_and_nan_are_named(runner_node: NodeThread, session: Any) -> None:
    runner = runner_node.settings.runner
    sm, s3 = runner_node.client("sagemaker"), runner_node.client("s3")
    records = _rcf(session, runner).record_set(_normal(50, 3), channel="train")
    bucket = session.default_bucket()
    s3.put_object(Bucket=bucket, Key=f"rcf-nan-{runner}/train/part.csv", Body=b"1,2,3\n4,nan,6\n")

    def request(uri: str, data_type: str, content_type: str) -> dict[str, Any]:
        return {"AlgorithmSpecification": {"TrainingImage": "438346466558.dkr.ecr.eu-west-1.amazonaws.com/"
                                                            "randomcutforest:1", "TrainingInputMode": "File"},
                "RoleArn": ROLE, "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/bad"},
                "InputDataConfig": [{"ChannelName": "train", "ContentType": content_type,
                                     "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": uri}}}],
                "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
                "StoppingCondition": {"MaxRuntimeInSeconds": 600}}

    recordio = request(records.s3_data, "ManifestFile", "application/x-recordio-protobuf")
    cases = {
        "unknown": ({"feature_dim": "3", "num_tree": "50"}, recordio, ["num_tree"]),
        "range": ({"feature_dim": "3", "num_trees": "10"}, recordio, ["'num_trees'", "'10'", "[50, 1000]"]),
        "dim": ({"feature_dim": "4"}, recordio, ["train/", "record 1", "3 features", "feature_dim is 4"]),
        "nan": ({"feature_dim": "3"}, request(f"s3://{bucket}/rcf-nan-{runner}/train/", "S3Prefix",
                                               "text/csv;label_size=0"), ["train/part.csv", "line 2", "NaN"]),
    }
    for case, (hps, req, _) in cases.items():
        sm.create_training_job(TrainingJobName=f"rcf-{case}-{runner}", HyperParameters=hps, **req)
    for case, (_, _, expected) in cases.items():
        d = wait_for_job(sm, f"rcf-{case}-{runner}", timeout=120)
        assert d["TrainingJobStatus"] == "Failed"
        for part in expected:
            assert part in d["FailureReason"], (case, d["FailureReason"])
