"""IP Insights through the SageMaker SDK's own ``IPInsights`` estimator, under both runners.

The training data are plain CSV objects in S3 (IP Insights reads no
RecordIO), handed to the estimator as S3Prefix record sets, since the SDK's
``fit()`` wants record sets: generated users each stay in their own
network. ``fit()`` must report a high ``validation:discriminator_auc``;
``deploy()`` + ``predict()`` (the SDK's CSV in, JSON out) must score a
user's home network above a stranger's, and ``verbose=True`` must add the
embeddings. A malformed address fails the job naming file and line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.sdk_env import ROLE, sdk_environment, sdk_session
from tests.support import NodeThread, wait_for_job

IMAGES = ("ipinsights",)
NETS = np.random.default_rng(42).integers(1, 223, size=(60, 2))


@pytest.fixture(scope="module")
def session(runner_node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SageMaker SDK session pointed at the node only through the environment; the SDK's waits shortened."""
    with sdk_environment(runner_node, tmp_path_factory.mktemp("sdk-home")) as mp:
        import sagemaker.session as sm_session

        fast = SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
        fast.sleep = lambda s: time.sleep(min(s, 0.5))  # the SDK's deploy() polls every 30 s
        mp.setattr(sm_session, "time", fast)
        yield sdk_session(runner_node.settings.artifacts_bucket)


def _home(user: int, rng: np.random.Generator) -> str:
    return f"{NETS[user, 0]}.{NETS[user, 1]}.{rng.integers(0, 4)}.{rng.integers(1, 255)}"


def _habits(n: int, seed: int) -> bytes:
    """``n`` lines of ``user<i>, <address in the user's /16>``."""
    rng = np.random.default_rng(seed)
    return "".join(f"user{u}, {_home(u, rng)}\n" for u in rng.integers(0, len(NETS), n)).encode()


def _channel(session: Any, key: str, body: bytes, channel: str) -> Any:
    from sagemaker.amazon.amazon_estimator import RecordSet

    session.boto_session.client("s3").put_object(Bucket=session.default_bucket(), Key=f"{key}/{channel}/part.csv",
                                                 Body=body)
    return RecordSet(f"s3://{session.default_bucket()}/{key}/{channel}/", num_records=body.count(b"\n"),
                     feature_dim=2, s3_data_type="S3Prefix", channel=channel)


def _ipinsights(session: Any, runner: str) -> Any:
    from sagemaker import IPInsights

    return IPInsights(role=ROLE, instance_count=1, instance_type="ml.m5.large", num_entity_vectors=200,
                      vector_dim=16, epochs=4, learning_rate=0.01, sagemaker_session=session,
                      output_path=f"s3://{session.default_bucket()}/ipi-{runner}")


@pytest.fixture(scope="module")
def trained(runner_node: NodeThread, session: Any) -> tuple[Any, dict[str, Any]]:
    runner = runner_node.settings.runner
    est = _ipinsights(session, runner)
    channels = [_channel(session, f"ipi-data-{runner}", _habits(4000, 0), "train"),
                _channel(session, f"ipi-data-{runner}", _habits(500, 1), "validation")]
    est.fit(channels, mini_batch_size=200, job_name=f"ipi-{runner}", wait=False, logs=False)
    d = wait_for_job(runner_node.client("sagemaker"), f"ipi-{runner}", timeout=240)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    return est, d


def test_sdk_fit_learns_each_users_network(runner_node: NodeThread, trained: tuple) -> None:
    _, d = trained
    assert d["AlgorithmSpecification"]["TrainingImage"].endswith("/ipinsights:1")
    final = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert final["validation:discriminator_auc"] > 0.9, final
    assert final["validation:auc"] == final["validation:discriminator_auc"]
    assert final["train:binary_classification_cross_entropy"] < 0.4, final


def test_sdk_deploy_and_predict_dot_products(runner_node: NodeThread, trained: tuple) -> None:
    est, _ = trained
    runner = runner_node.settings.runner
    predictor = est.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=f"ipi-ep-{runner}")
    try:
        rng = np.random.default_rng(5)
        pairs = [[f"user{u}", _home(u, rng)] for u in range(10)] + [[f"user{u}", _home(u + 1, rng)] for u in range(10)]
        answer = predictor.predict(pairs)  # the SDK's CSVSerializer and JSONDeserializer
        dots = [p["dot_product"] for p in answer["predictions"]]
        assert len(dots) == 20 and np.mean(np.array(dots[:10]) > np.array(dots[10:])) >= 0.9, dots
        runtime = runner_node.client("sagemaker-runtime")
        verbose = runtime.invoke_endpoint(
            EndpointName=f"ipi-ep-{runner}", ContentType="application/json", Accept="application/json; verbose=True",
            Body=json.dumps({"instances": [{"data": {"features": {"values": pairs[0]}}}, {"features": pairs[10]}]}))
        rows = json.loads(verbose["Body"].read())["predictions"]
        assert [r["dot_product"] for r in rows] == pytest.approx([dots[0], dots[10]], rel=1e-4)
        assert len(rows[0]["entity_embedding"]) == len(rows[0]["ip_embedding"]) == 16
        with pytest.raises(runtime.exceptions.ClientError, match="not an IPv4 or IPv6 address"):
            runtime.invoke_endpoint(EndpointName=f"ipi-ep-{runner}", ContentType="text/csv", Body=b"user1, 1.2.3\n")
        assert len(predictor.predict([pairs[0]])["predictions"]) == 1  # still serving
    finally:
        predictor.delete_endpoint()


def test_bad_address_and_hyperparameter_are_named(runner_node: NodeThread, session: Any) -> None:
    runner = runner_node.settings.runner
    sm = runner_node.client("sagemaker")
    bad_rows = _habits(20, 3) + b"user7, 10.0.0.300\n"
    cases = {
        "address": ({"num_entity_vectors": "100", "vector_dim": "8"}, bad_rows,
                    ["train/part.csv", "line 21", "'10.0.0.300'", "not an IPv4 or IPv6 address"]),
        "range": ({"num_entity_vectors": "100", "vector_dim": "2"}, _habits(20, 3), ["'vector_dim'", "[4, 4096]"]),
    }
    for case, (hps, body, _) in cases.items():
        records = _channel(session, f"ipi-bad-{case}-{runner}", body, "train")
        sm.create_training_job(
            TrainingJobName=f"ipi-{case}-{runner}", HyperParameters=hps, RoleArn=ROLE,
            AlgorithmSpecification={"TrainingImage": "712309505854.dkr.ecr.ap-southeast-2.amazonaws.com/ipinsights:1",
                                    "TrainingInputMode": "File"},
            InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv",
                              "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": records.s3_data}}}],
            OutputDataConfig={"S3OutputPath": f"s3://{session.default_bucket()}/bad"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 600})
    for case, (_, _, expected) in cases.items():
        d = wait_for_job(sm, f"ipi-{case}-{runner}", timeout=120)
        assert d["TrainingJobStatus"] == "Failed"
        for part in expected:
            assert part in d["FailureReason"], (case, d["FailureReason"])
