"""PCA: exact and randomized components against scikit-learn, hyperparameters, and the serve hooks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from sagemaker.amazon.common import write_numpy_to_dense_tensor
from sagemaker.deserializers import RecordDeserializer
from sklearn.decomposition import PCA as SkPCA

from containers.common.errors import CustomerError
from containers.common.serving import BadInput
from containers.pca import algorithm
from containers.pca.hyperparameters import parse_hyperparameters
from containers.pca.serve import handler

BASE = {"feature_dim": "8", "mini_batch_size": "64", "num_components": "3"}


def _data(n: int = 500, seed: int = 0) -> np.ndarray:
    """Rank-3 structure with decreasing scales, a little noise and a non-zero mean."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(8, 3)))[0].T
    scores = rng.normal(size=(n, 3)) * np.array([9.0, 4.0, 2.0])
    return (scores @ basis + 0.05 * rng.normal(size=(n, 8)) + 5.0).astype(np.float32)


def _same_directions(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|cosine| between matching columns."""
    return np.abs((a * b).sum(0)) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))


def test_regular_matches_scikit_learn_with_components_in_ascending_order() -> None:
    X = _data()
    model = algorithm.fit(X, parse_hyperparameters(BASE))
    sk = SkPCA(3).fit(X.astype(np.float64))
    assert np.all(np.diff(model.s) > 0)  # SageMaker stores the most significant component last
    np.testing.assert_allclose(model.s[::-1], sk.singular_values_, rtol=1e-4)
    assert _same_directions(model.v[:, ::-1], sk.components_.T).min() > 0.9999
    np.testing.assert_allclose(model.mean, X.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.abs(model.project(X[:5]))[:, ::-1], np.abs(sk.transform(X[:5])), atol=1e-2)


def test_randomized_recovers_the_same_subspace() -> None:
    X = _data(seed=1)
    exact = algorithm.fit(X, parse_hyperparameters(BASE))
    approx = algorithm.fit(X, parse_hyperparameters({**BASE, "algorithm_mode": "randomized", "extra_components": "2"}))
    assert _same_directions(approx.v, exact.v).min() > 0.999
    np.testing.assert_allclose(approx.s, exact.s, rtol=1e-3)


def test_without_subtract_mean_the_first_component_follows_the_mean() -> None:
    X = _data(seed=2)
    model = algorithm.fit(X, parse_hyperparameters({**BASE, "subtract_mean": "False"}))
    assert not model.mean.any()
    mean_direction = X.mean(0) / np.linalg.norm(X.mean(0))
    assert abs(float(model.v[:, -1] @ mean_direction)) > 0.95


def test_hyperparameters_are_checked_and_named() -> None:
    cfg = parse_hyperparameters({**BASE, "subtract_mean": "false"})
    assert cfg.extra_components == 10 and cfg.algorithm_mode == "regular" and not cfg.subtract_mean
    assert parse_hyperparameters({**BASE, "num_components": "8", "extra_components": "-1"}).extra_components == 10
    for bad, named in (({**BASE, "num_component": "3"}, "num_component"),
                       ({**BASE, "num_components": "9"}, "'num_components'"),
                       ({**BASE, "algorithm_mode": "fast"}, "'algorithm_mode'"),
                       ({**BASE, "extra_components": "-2"}, "'extra_components'"),
                       ({"feature_dim": "8", "num_components": "2"}, "'mini_batch_size'")):
        with pytest.raises(CustomerError, match=named):
            parse_hyperparameters(bad)


@pytest.fixture
def served(tmp_path: Path) -> algorithm.PCAModel:
    model = algorithm.fit(_data(), parse_hyperparameters(BASE))
    with (tmp_path / "model_algo-1").open("wb") as f:
        np.savez(f, v=model.v, s=model.s, mean=model.mean)
    return handler().model_fn(str(tmp_path))


def test_serve_answers_projections_in_sagemaker_shapes(served: algorithm.PCAModel) -> None:
    h, X = handler(), _data(4, seed=3)
    body, kind = h.transform(served, json.dumps({"instances": X.tolist()}).encode(), "application/json",
                             "application/json")
    projections = json.loads(body)["projections"]
    assert kind == "application/json" and len(projections) == 4
    np.testing.assert_allclose(projections[0]["projection"], served.project(X[:1])[0], rtol=1e-4)
    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, X)
    body, kind = h.transform(served, buf.getvalue(), "application/x-recordio-protobuf",
                             "application/x-recordio-protobuf")
    records = RecordDeserializer().deserialize(io.BytesIO(body), kind)
    assert len(records) == 4 and len(records[2].label["projection"].float32_tensor.values) == 3
    body, _ = h.transform(served, b"1,2,3,4,5,6,7,8\n", "text/csv", "application/jsonlines")
    assert len(json.loads(body)["projection"]) == 3
    with pytest.raises(BadInput, match="8 features"):
        h.transform(served, b"1,2,3\n", "text/csv", "application/json")
