"""Factorization Machines' training, model and serving hooks, in-process (no node, no container)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from containers.common.errors import CustomerError
from containers.common.recordio import write_sparse
from containers.common.serving import BadInput
from containers.factorization_machines import algorithm, serve
from containers.factorization_machines.hyperparameters import parse_hyperparameters
from containers.factorization_machines.model import FactorizationMachine

D, K = 120, 3


def _truth(seed: int = 0) -> FactorizationMachine:
    rng = np.random.default_rng(seed)
    return FactorizationMachine("regressor", 0.5, rng.normal(scale=0.3, size=D), rng.normal(scale=0.6, size=(D, K)))


def _rows(n: int, seed: int, columns: int = D) -> sp.csr_matrix:
    """One-hot-ish sparse rows (about 6 of ``columns`` features set), as recommender data is."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, D, density=6 / D, format="csr", random_state=rng, data_rvs=lambda s: np.ones(s))
    if columns < D:
        X = X[:, :columns]
        X = sp.hstack([X, sp.csr_matrix((n, D - columns))]).tocsr()
    return X.astype(np.float32)


def _cfg(kind: str = "regressor", **extra: str):  # noqa: ANN202
    base = {"feature_dim": str(D), "num_factors": str(K), "predictor_type": kind, "epochs": "12",
            "mini_batch_size": "100", "bias_lr": "0.05", "linear_lr": "0.05", "factors_lr": "0.05",
            "factors_init_sigma": "0.1"}
    return parse_hyperparameters({**base, **extra})


def test_hyperparameters_follow_sagemakers_names_and_ranges() -> None:
    cfg = parse_hyperparameters({"feature_dim": "10", "num_factors": "4", "predictor_type": "binary_classifier"})
    assert (cfg.epochs, cfg.mini_batch_size, cfg.bias.lr, cfg.linear.lr, cfg.factors.lr) == (1, 1000, 0.1, 0.001, 1e-4)
    assert (cfg.bias.wd, cfg.linear.wd, cfg.factors.wd, cfg.factors.init_sigma) == (0.01, 0.001, 1e-5, 0.001)
    with pytest.raises(CustomerError, match="factor_lr"):
        parse_hyperparameters({"feature_dim": "10", "num_factors": "4", "predictor_type": "regressor",
                               "factor_lr": "0.1"})
    with pytest.raises(CustomerError, match="'linear_wd'.*'-1'"):
        parse_hyperparameters({"feature_dim": "10", "num_factors": "4", "predictor_type": "regressor",
                               "linear_wd": "-1"})
    with pytest.raises(CustomerError, match="'predictor_type'.*multiclass"):
        parse_hyperparameters({"feature_dim": "10", "num_factors": "4", "predictor_type": "multiclass_classifier"})


def test_torch_forward_matches_the_pairwise_definition() -> None:
    truth = _truth()
    X = _rows(30, 1)
    raw = algorithm.forward(X, torch.tensor([truth.w0], dtype=torch.float32),
                            torch.from_numpy(truth.w[:, None]).float(), torch.from_numpy(truth.V).float())
    dense = X.toarray().astype(np.float64)
    pairs = np.array([sum(truth.V[i] @ truth.V[j] * x[i] * x[j] for i in range(D) for j in range(i + 1, D)
                          if x[i] and x[j]) for x in dense])
    expected = truth.w0 + dense @ truth.w + pairs
    np.testing.assert_allclose(raw.detach().numpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(truth.raw(X), expected, rtol=1e-9)


def test_columns_never_seen_keep_their_initial_values() -> None:
    # Lazy sparse updates: a feature absent from training is neither decayed nor moved.
    X = _rows(400, 2, columns=D // 2)
    y = _truth().raw(X)
    cfg = _cfg(linear_init_method="constant", linear_init_value="0.25", factors_init_method="uniform",
               factors_init_scale="0.2", epochs="2")
    model = algorithm.fit(X, y, cfg)
    assert np.all(model.w[D // 2:] == np.float32(0.25))
    assert np.all(np.abs(model.V[D // 2:]) <= 0.2) and np.any(model.V[D // 2:] != 0)
    assert np.any(model.w[: D // 2] != np.float32(0.25))


def test_regressor_learns_interactions_a_linear_model_cannot() -> None:
    truth = _truth()
    X, Xt = _rows(4000, 3), _rows(1000, 4)
    model = algorithm.fit(X, truth.raw(X), _cfg())
    rmse = float(np.sqrt(((model.scores(Xt) - truth.raw(Xt)) ** 2).mean()))
    from sklearn.linear_model import Ridge

    linear = Ridge(alpha=1.0).fit(X, truth.raw(X)).predict(Xt)
    linear_rmse = float(np.sqrt(((linear - truth.raw(Xt)) ** 2).mean()))
    assert rmse < 0.6 * linear_rmse, (rmse, linear_rmse)


def test_binary_classifier_beats_chance_by_far() -> None:
    truth = _truth()
    X, Xt = _rows(4000, 5), _rows(1000, 6)
    cut = float(np.median(truth.raw(X)))
    model = algorithm.fit(X, (truth.raw(X) > cut).astype(np.float32), _cfg("binary_classifier"))
    accuracy = float(((model.scores(Xt) >= 0.5) == (truth.raw(Xt) > cut)).mean())
    assert accuracy > 0.8


def test_serve_hooks_score_sparse_and_dense_requests_alike(tmp_path) -> None:  # noqa: ANN001
    truth = FactorizationMachine("binary_classifier", 0.1, _truth().w, _truth().V)
    truth.save(tmp_path)
    model = serve.handler().model_fn(str(tmp_path))
    X = _rows(4, 7)
    buf = io.BytesIO()
    write_sparse(buf, X)
    sparse = serve.handler().predict_fn(serve.handler().input_fn(buf.getvalue(), "application/x-recordio-protobuf"), model)
    dense = serve.handler().predict_fn(serve.handler().input_fn(json.dumps({"instances": X.toarray().tolist()}).encode(),
                                            "application/json"), model)
    assert [p["predicted_label"] for p in sparse] == [p["predicted_label"] for p in dense]
    for a, b, score in zip(sparse, dense, truth.scores(X)):
        assert a["score"] == pytest.approx(b["score"], rel=1e-5) == pytest.approx(score, rel=1e-5)
        assert set(a) == {"score", "predicted_label"} and a["predicted_label"] == int(score >= 0.5)
    assert json.loads(serve.handler().output_fn(sparse, "application/json"))["predictions"][0] == sparse[0]
    with pytest.raises(BadInput, match=f"{D} features"):
        serve.handler().predict_fn(np.zeros((1, 3), np.float32), model)
