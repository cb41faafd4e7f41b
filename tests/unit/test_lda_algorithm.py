"""LDA: topic recovery on generated corpora, the E-step against scikit-learn, hyperparameters, serving."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sagemaker.amazon.common import write_spmatrix_to_sparse_tensor
from sagemaker.deserializers import RecordDeserializer
from sklearn.decomposition import LatentDirichletAllocation

from containers.common.errors import CustomerError
from containers.common.serving import BadInput
from containers.lda import algorithm
from containers.lda.hyperparameters import parse_hyperparameters
from containers.lda.serve import handler
from containers.lda.train import save

K, V = 3, 30
BASE = {"num_topics": "3", "feature_dim": "30", "mini_batch_size": "400", "max_restarts": "2",
        "max_iterations": "60", "tol": "1e-5"}


def _topics() -> np.ndarray:
    beta = np.full((K, V), 0.01)
    for k in range(K):
        beta[k, k * 10:(k + 1) * 10] = 1.0
    return beta / beta.sum(1, keepdims=True)


def _corpus(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.dirichlet(np.full(K, 0.3), n)
    return np.stack([rng.multinomial(50, t @ _topics()) for t in theta]).astype(np.float32), theta


def test_fit_recovers_the_generating_topics() -> None:
    X, _ = _corpus(400, 0)
    model = algorithm.fit(sp.csr_matrix(X), parse_hyperparameters(BASE))
    corr = np.corrcoef(np.vstack([model.beta, _topics()]))[:K, K:]
    assert corr.max(1).min() > 0.95 and sorted(corr.argmax(1)) == [0, 1, 2]
    Xt, theta = _corpus(100, 1)
    mix = algorithm.infer(Xt, model)
    np.testing.assert_allclose(mix.sum(1), 1.0, rtol=1e-6)
    matched = mix[:, np.argsort(corr.argmax(1))]
    assert np.abs(matched - theta).mean() < 0.1  # documents get their true mixtures back
    # the fitted model explains held-out words better than a random one does
    rand = algorithm.LDAModel(lam=np.random.default_rng(2).gamma(100, 0.01, (K, V)), alpha=model.alpha)
    Xs = sp.csr_matrix(Xt, dtype=np.float64)
    ll = algorithm.per_word_log_likelihood(Xs, model, algorithm.e_step(Xs, model)[0])
    assert ll > algorithm.per_word_log_likelihood(Xs, rand, algorithm.e_step(Xs, rand)[0]) + 0.3


def test_e_step_matches_scikit_learn_transform() -> None:
    X, _ = _corpus(200, 3)
    sk = LatentDirichletAllocation(K, doc_topic_prior=0.4, learning_method="batch", max_iter=20,
                                   random_state=0).fit(X)
    ours = algorithm.infer(X[:40], algorithm.LDAModel(lam=sk.components_, alpha=np.full(K, 0.4)), block=16)
    np.testing.assert_allclose(ours, sk.transform(X[:40]), atol=2e-3)


def test_hyperparameters_are_checked_and_named() -> None:
    cfg = parse_hyperparameters({"num_topics": "5", "feature_dim": "10", "mini_batch_size": "7"})
    assert (cfg.alpha0, cfg.max_restarts, cfg.max_iterations, cfg.tol) == (1.0, 10, 1000, 1e-8)
    for bad, named in (({**BASE, "topics": "3"}, "topics"),
                       ({**BASE, "alpha0": "0"}, "'alpha0'"),
                       ({**BASE, "num_topics": "0"}, "'num_topics'"),
                       ({**BASE, "tol": "-1"}, "'tol'"),
                       ({k: v for k, v in BASE.items() if k != "mini_batch_size"}, "'mini_batch_size'")):
        with pytest.raises(CustomerError, match=named):
            parse_hyperparameters(bad)


def test_serve_answers_topic_mixtures_from_sparse_and_dense_requests(tmp_path: Path) -> None:
    X, _ = _corpus(300, 4)
    save(algorithm.fit(sp.csr_matrix(X), parse_hyperparameters(BASE)), str(tmp_path / "model_algo-1"))
    h = handler()
    model = h.model_fn(str(tmp_path))
    buf = io.BytesIO()
    write_spmatrix_to_sparse_tensor(buf, sp.csr_matrix(X[:3]))
    body, kind = h.transform(model, buf.getvalue(), "application/x-recordio-protobuf",
                             "application/x-recordio-protobuf")
    records = RecordDeserializer().deserialize(io.BytesIO(body), kind)
    from_recordio = np.array([r.label["topic_mixture"].float32_tensor.values for r in records])
    keys = [int(i) for i in np.flatnonzero(X[0])]
    sparse_json = {"instances": [{"data": {"features": {"keys": keys, "values": X[0][keys].tolist(), "shape": [V]}}}]}
    body, _ = h.transform(model, json.dumps(sparse_json).encode(), "application/json", "application/json")
    [prediction] = json.loads(body)["predictions"]
    np.testing.assert_allclose(prediction["topic_mixture"], from_recordio[0], rtol=1e-5)
    assert from_recordio.shape == (3, K) and np.allclose(from_recordio.sum(1), 1.0, atol=1e-5)
    with pytest.raises(BadInput, match="30 word counts"):
        h.transform(model, b"1,2,3\n", "text/csv", "application/json")
    with pytest.raises(BadInput, match="non-negative"):
        h.transform(model, ("-1," + ",".join(["0"] * (V - 1))).encode(), "text/csv", "application/json")
