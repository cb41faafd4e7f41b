"""k-NN: exact search against scikit-learn, reservoir sampling, dimension reduction, hyperparameters, serving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from containers.common.errors import CustomerError
from containers.common.serving import BadInput
from containers.knn import algorithm
from containers.knn.hyperparameters import parse_hyperparameters
from containers.knn.serve import handler
from containers.knn.train import save

BASE = {"feature_dim": "6", "k": "5", "predictor_type": "classifier", "sample_size": "1000"}


def _classes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 6)) + 2.5 * np.eye(6)[y]
    return X.astype(np.float32), y.astype(np.float32)


def test_flat_l2_classifier_and_regressor_agree_with_scikit_learn() -> None:
    X, y = _classes(400, 0)
    Xq, _ = _classes(200, 1)
    index = algorithm.fit(X, y, parse_hyperparameters(BASE))
    ours, distances, _ = algorithm.predict(index, Xq)
    sk = KNeighborsClassifier(5, algorithm="brute").fit(X, y)
    assert (ours == sk.predict(Xq)).mean() > 0.97  # only vote ties may differ
    sk_dist, _ = sk.kneighbors(Xq)
    np.testing.assert_allclose(distances, sk_dist, rtol=1e-4, atol=1e-4)
    target = X @ np.arange(6, dtype=np.float32)
    reg = algorithm.fit(X, target, parse_hyperparameters({**BASE, "predictor_type": "regressor"}))
    np.testing.assert_allclose(algorithm.predict(reg, Xq)[0],
                               KNeighborsRegressor(5, algorithm="brute").fit(X, target).predict(Xq), rtol=1e-4)


def test_reservoir_sample_is_uniform_and_bounded() -> None:
    rng = np.random.default_rng(0)
    hits = np.zeros(1000)
    for _ in range(300):
        rows = algorithm.reservoir_sample(1000, 100, 64, rng)
        assert len(np.unique(rows)) == 100 and rows.min() >= 0 and rows.max() < 1000
        hits[rows] += 1
    # every row is kept with probability 0.1: the first and last tenth are kept alike
    assert abs(hits[:100].mean() - hits[-100:].mean()) < 10
    assert list(algorithm.reservoir_sample(5, 10, 2, rng)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("kind", ["sign", "fjlt"])
def test_dimension_reduction_keeps_neighbors_useful(kind: str) -> None:
    X, y = _classes(600, 2)
    Xq, yq = _classes(300, 3)
    cfg = parse_hyperparameters({**BASE, "dimension_reduction_type": kind, "dimension_reduction_target": "4"})
    index = algorithm.fit(X, y, cfg)
    assert index.samples.shape == (600, 4) and index.projection is not None and index.projection.shape == (6, 4)
    assert (algorithm.predict(index, Xq)[0] == yq).mean() > 0.7  # chance is 1/3
    norms = np.linalg.norm(Xq @ index.projection, axis=1) / np.linalg.norm(Xq, axis=1)
    assert 0.5 < float(np.median(norms)) < 1.5  # Johnson-Lindenstrauss: lengths roughly kept


def test_cosine_and_inner_product_rank_by_similarity() -> None:
    X = np.array([[1, 0], [0, 1], [10, 1]], dtype=np.float32)
    y = np.array([0, 1, 2], dtype=np.float32)
    base = {"feature_dim": "2", "k": "1", "predictor_type": "classifier", "sample_size": "3"}
    cosine = algorithm.fit(X, y, parse_hyperparameters({**base, "index_metric": "COSINE"}))
    inner = algorithm.fit(X, y, parse_hyperparameters({**base, "index_metric": "INNER_PRODUCT"}))
    q = np.array([[1.0, 0.02]], dtype=np.float32)
    assert algorithm.predict(cosine, q)[0][0] == 0.0  # same direction as [1, 0]
    assert algorithm.predict(inner, q)[0][0] == 2.0  # largest inner product
    assert algorithm.predict(inner, q)[1][0, 0] == pytest.approx(10.02, rel=1e-5)


def test_hyperparameters_are_checked_and_named() -> None:
    cfg = parse_hyperparameters({**BASE, "index_type": "faiss.IVFPQ", "faiss_index_pq_m": "2",
                                 "faiss_index_ivf_nlists": "auto", "mini_batch_size": "100"})
    assert cfg.index_type == "faiss.IVFPQ" and cfg.faiss_index_pq_m == 2 and cfg.faiss_index_ivf_nlists is None
    for bad, named in (({**BASE, "kk": "5"}, "kk"),
                       ({**BASE, "predictor_type": "ranker"}, "'predictor_type'"),
                       ({**BASE, "dimension_reduction_type": "sign"}, "'dimension_reduction_target'"),
                       ({**BASE, "dimension_reduction_type": "sign", "dimension_reduction_target": "6"},
                        "'dimension_reduction_target'"),
                       ({**BASE, "index_type": "faiss.IVFPQ", "index_metric": "COSINE"}, "'index_metric'"),
                       ({**BASE, "faiss_index_pq_m": "5"}, "'faiss_index_pq_m'"),
                       ({**BASE, "faiss_index_ivf_nlists": "0"}, "'faiss_index_ivf_nlists'"),
                       ({**BASE, "k": "2000"}, "'k'"),
                       ({k: v for k, v in BASE.items() if k != "sample_size"}, "'sample_size'")):
        with pytest.raises(CustomerError, match=named):
            parse_hyperparameters(bad)


def test_serve_answers_labels_and_verbose_neighbors(tmp_path: Path) -> None:
    X, y = _classes(300, 4)
    save(algorithm.fit(X, y, parse_hyperparameters(BASE)), str(tmp_path / "model_algo-1"))
    h = handler()
    index = h.model_fn(str(tmp_path))
    query = json.dumps({"instances": [{"features": X[0].tolist()}, {"data": {"features": {"values": X[1].tolist()}}}]})
    body, kind = h.transform(index, query.encode(), "application/json", h.choose_accept("application/json", ""))
    assert kind == "application/json" and json.loads(body) == {
        "predictions": [{"predicted_label": float(y[0])}, {"predicted_label": float(y[1])}]}
    accept = h.choose_accept("application/json; verbose=true", "application/json")
    body, kind = h.transform(index, query.encode(), "application/json", accept)
    first = json.loads(body)["predictions"][0]
    assert kind == "application/json" and set(first) == {"predicted_label", "distances", "labels"}
    assert first["distances"][0] == pytest.approx(0.0, abs=1e-3) and first["labels"][0] == float(y[0])
    assert first["distances"] == sorted(first["distances"]) and len(first["labels"]) == 5
    with pytest.raises(BadInput, match="6 features"):
        h.transform(index, b"1,2\n", "text/csv", "application/json")
