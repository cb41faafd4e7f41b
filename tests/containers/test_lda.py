"""LDA through the SageMaker SDK's own ``LDA`` estimator, under both runners.

``record_set()`` uploads word counts as RecordIO-protobuf the SDK writes
itself, ``fit()`` runs the job on Headwater; the topics must match the
generating ones and the test per-word log-likelihood (printed as SageMaker
prints it, kept in FinalMetricDataList) must beat a uniform model's. Bad
hyperparameters and negative counts fail naming what is wrong.
``deploy()`` + ``predict()`` answer SageMaker's ``topic_mixture`` shapes.
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

from containers.lda import algorithm
from tests.containers.builtin_sdk import fast_sdk_session, job_log, model_npz, raw_job_request
from tests.sdk_env import ROLE
from tests.support import NodeThread, wait_for_job

IMAGES = ("lda",)
TOPICS, VOCABULARY = 3, 24


def _topics() -> np.ndarray:
    """Each topic puts almost all its mass on its own third of the vocabulary."""
    beta = np.full((TOPICS, VOCABULARY), 0.01)
    for k in range(TOPICS):
        beta[k, k * 8:(k + 1) * 8] = 1.0
    return beta / beta.sum(1, keepdims=True)


def _corpus(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    theta = rng.dirichlet(np.full(TOPICS, 0.3), n)
    return np.stack([rng.multinomial(40, t @ _topics()) for t in theta]).astype(np.float32)


@pytest.fixture(scope="module")
def session(runner_node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SageMaker SDK session pointed at the node only through the environment."""
    with fast_sdk_session(runner_node, tmp_path_factory.mktemp("sdk-home")) as session:
        yield session


def _lda(session: Any, runner: str, **hps: Any) -> Any:
    from sagemaker import LDA

    return LDA(role=ROLE, instance_type="ml.m5.large", num_topics=TOPICS,
               output_path=f"s3://{session.default_bucket()}/lda-{runner}",
               data_location=f"s3://{session.default_bucket()}/lda-data-{runner}", sagemaker_session=session, **hps)


@pytest.fixture(scope="module")
def fitted(runner_node: NodeThread, session: Any) -> Any:
    """Topics fitted through the SDK."""
    runner = runner_node.settings.runner
    est = _lda(session, runner, alpha0=0.9, max_restarts=2, max_iterations=80, tol=1e-5)
    est.fit([est.record_set(_corpus(400, 1), channel="train"), est.record_set(_corpus(100, 2), channel="test")],
            mini_batch_size=400, job_name=f"lda-{runner}", wait=False, logs=False)
    d = wait_for_job(runner_node.client("sagemaker"), f"lda-{runner}", timeout=120)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    return est


def test_sdk_lda_fit_finds_the_topics(runner_node: NodeThread, fitted: Any) -> None:
    runner = runner_node.settings.runner
    d = runner_node.client("sagemaker").describe_training_job(TrainingJobName=f"lda-{runner}")
    assert d["AlgorithmSpecification"]["TrainingImage"].endswith("/lda:1")
    assert d["HyperParameters"]["mini_batch_size"] == "400" and d["HyperParameters"]["alpha0"] == "0.9"
    beta = model_npz(runner_node, d)["beta"]
    corr = np.corrcoef(np.vstack([beta, _topics()]))[:TOPICS, TOPICS:]
    assert corr.max(1).min() > 0.95 and sorted(corr.argmax(1)) == [0, 1, 2], corr
    metrics = {m["MetricName"]: m["Value"] for m in d.get("FinalMetricDataList", [])}
    # as good as the generating topics themselves on the test documents (a uniform model scores -3.18)
    truth = algorithm.LDAModel(lam=_topics() * 1e6, alpha=np.full(TOPICS, 0.9 / TOPICS))
    test = sp.csr_matrix(_corpus(100, 2), dtype=np.float64)
    best = algorithm.per_word_log_likelihood(test, truth, algorithm.e_step(test, truth)[0])
    assert metrics.get("test:pwll", -99) > best - 0.05, (metrics, best)
    assert "#quality_metric: host=algo-1, test pwll <score>=" in job_log(runner_node, f"lda-{runner}")


def test_bad_hyperparameters_and_counts_are_named(runner_node: NodeThread, session: Any) -> None:
    runner = runner_node.settings.runner
    sm = runner_node.client("sagemaker")
    counts = _corpus(30, 3)
    counts[4, 2] = -1.0  # the fifth document has a negative count
    records = _lda(session, runner).record_set(counts, channel="train")
    request = raw_job_request(records, session.default_bucket(), "766337827248.dkr.ecr.us-east-1.amazonaws.com/lda:1")
    base = {"num_topics": "3", "feature_dim": str(VOCABULARY), "mini_batch_size": "30"}
    cases = {
        "unknown": ({**base, "alpha": "1"}, ["alpha"]),
        "range": ({**base, "alpha0": "-1"}, ["'alpha0'", "'-1'"]),
        "counts": (base, ["train/", "record 5", "non-negative"]),
    }
    for case, (hps, _) in cases.items():
        sm.create_training_job(TrainingJobName=f"lda-{case}-{runner}", HyperParameters=hps, **request)
    for case, (_, expected) in cases.items():
        d = wait_for_job(sm, f"lda-{case}-{runner}", timeout=120)
        assert d["TrainingJobStatus"] == "Failed"
        for part in expected:
            assert part in d["FailureReason"], (case, d["FailureReason"])


def test_sdk_deploy_and_predict_topic_mixtures(runner_node: NodeThread, fitted: Any) -> None:
    from sagemaker.amazon.common import write_spmatrix_to_sparse_tensor

    predictor = fitted.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="lda-sdk")
    try:
        docs = np.zeros((3, VOCABULARY), dtype=np.float32)
        for k in range(TOPICS):
            docs[k, k * 8:(k + 1) * 8] = 5.0  # a document purely about topic k
        records = predictor.predict(docs)  # the SDK's RecordSerializer / RecordDeserializer
        mixtures = np.array([r.label["topic_mixture"].float32_tensor.values for r in records])
        assert mixtures.shape == (3, TOPICS) and np.allclose(mixtures.sum(1), 1.0, atol=1e-4)
        assert sorted(mixtures.argmax(1)) == [0, 1, 2] and mixtures.max(1).min() > 0.8
        runtime = runner_node.client("sagemaker-runtime")
        buf = io.BytesIO()
        write_spmatrix_to_sparse_tensor(buf, sp.csr_matrix(docs[:1]))  # sparse records, as word counts usually are
        answer = runtime.invoke_endpoint(EndpointName="lda-sdk", ContentType="application/x-recordio-protobuf",
                                         Accept="application/json", Body=buf.getvalue())
        [prediction] = json.loads(answer["Body"].read())["predictions"]
        np.testing.assert_allclose(prediction["topic_mixture"], mixtures[0], rtol=1e-4)
        with pytest.raises(ClientError, match="24 word counts"):
            runtime.invoke_endpoint(EndpointName="lda-sdk", ContentType="text/csv", Body=b"1,2,3")
    finally:
        predictor.delete_endpoint()
