"""The XGBoost container's dense predictor gives ``inplace_predict``'s predictions, bit for bit."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import xgboost as xgb

from containers.xgboost import dense_predict
from containers.xgboost.dense_predict import predict_dense

FEATURES = 6


def _booster(objective: str, **extra: Any) -> xgb.Booster:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, FEATURES)).astype(np.float32)
    if objective == "multi:softprob":
        y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    elif objective == "reg:squarederror":
        y = X[:, 0] * 2 + X[:, 2]
    else:
        y = (X[:, 0] + X[:, 3] > 0).astype(int)
    booster = xgb.train({"objective": objective, "max_depth": 4, "nthread": 1, **extra},
                        xgb.DMatrix(X, label=y), 20)
    return booster


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    X = np.random.default_rng(9).normal(size=(257, FEATURES)).astype(np.float32)
    X[5, 2] = np.nan  # a missing value
    return X


@pytest.mark.parametrize("objective, extra", [
    ("binary:logistic", {}), ("reg:squarederror", {}), ("multi:softprob", {"num_class": 3}),
])
def test_predictions_and_shapes_are_inplace_predicts_own(objective: str, extra: dict[str, Any],
                                                         rows: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    booster = _booster(objective, **extra)
    batches = (rows[:1], rows[:2], rows)
    expectations = [booster.inplace_predict(batch) for batch in batches]

    def not_here(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a dense float32 batch must not take inplace_predict's path")

    monkeypatch.setattr(xgb.Booster, "inplace_predict", not_here)
    for batch, expected in zip(batches, expectations):
        got = predict_dense(booster, batch)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        assert np.array_equal(got, expected, equal_nan=True)


def test_the_result_is_a_copy_that_the_next_prediction_leaves_alone(rows: np.ndarray) -> None:
    booster = _booster("binary:logistic")
    first = predict_dense(booster, rows[:3])
    kept = first.copy()
    predict_dense(booster, rows[10:13])
    assert np.array_equal(first, kept)


@pytest.mark.parametrize("kind", ["float64", "fortran", "strided", "sparse", "empty"])
def test_other_inputs_go_to_inplace_predict_and_agree(kind: str, rows: np.ndarray,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    booster = _booster("binary:logistic")
    data: Any = {"float64": rows.astype(np.float64), "fortran": np.asfortranarray(rows),
                 "strided": rows[:, ::1][::2], "sparse": sp.csr_matrix(np.nan_to_num(rows)),
                 "empty": rows[:0]}[kind]
    calls = []
    original = xgb.Booster.inplace_predict

    def spy(self: xgb.Booster, d: Any, **kw: Any) -> np.ndarray:
        calls.append(d)
        return original(self, d, **kw)

    monkeypatch.setattr(xgb.Booster, "inplace_predict", spy)
    got = predict_dense(booster, data)
    assert len(calls) == 1
    assert np.array_equal(got, original(booster, data), equal_nan=True)


def test_a_feature_count_mismatch_is_xgboosts_error(rows: np.ndarray) -> None:
    booster = _booster("binary:logistic")
    with pytest.raises(xgb.core.XGBoostError):
        predict_dense(booster, np.ascontiguousarray(rows[:, :FEATURES - 1]))
    assert np.array_equal(predict_dense(booster, rows[:4]), booster.inplace_predict(rows[:4]))  # still fine after


def test_threads_predicting_at_once_each_get_their_own_answers(rows: np.ndarray) -> None:
    boosters = [_booster("binary:logistic"), _booster("multi:softprob", num_class=3)]
    batches = [rows[i:i + 1 + i % 7] for i in range(40)]
    expected = [[b.inplace_predict(x) for x in batches] for b in boosters]
    wrong: list[tuple[int, int]] = []
    start = threading.Barrier(4)

    def work(n: int) -> None:
        booster = boosters[n % 2]
        start.wait()
        for _ in range(25):
            for i, x in enumerate(batches):
                if not np.array_equal(predict_dense(booster, x), expected[n % 2][i]):
                    wrong.append((n, i))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
    assert dense_predict._STATE is not None  # the fast path ran (this XGBoost has the internals)
