"""k-NN beside scikit-learn's brute-force KNeighborsClassifier (the same exact search).

10,000 x 20 dense records in 5 overlapping classes, 2,000 held out;
``k=10``, ``sample_size`` = all records, ``faiss.Flat`` with L2. Training is
our reservoir sample plus index; inference is one 1,000-row CSV batch
through the serve hooks (decode -> search -> vote -> JSON) beside
``predict`` on the same rows.
"""

from __future__ import annotations

import io
import json
import time

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from bench.builtin_cases import Case
from containers.knn import algorithm, serve
from containers.knn.hyperparameters import parse_hyperparameters

ROWS, DIM, CLASSES, K = 10_000, 20, 5, 10


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, ROWS + 2_000)
    centers = rng.normal(scale=1.2, size=(CLASSES, DIM))
    return (centers[y] + rng.normal(size=(len(y), DIM))).astype(np.float32), y.astype(np.float32)


def run_case() -> Case:
    """Time and score our index and scikit-learn's on the same split."""
    X, y = _data(0)
    train, test, y_train, y_test = X[:ROWS], X[ROWS:], y[:ROWS], y[ROWS:]
    cfg = parse_hyperparameters({"feature_dim": str(DIM), "k": str(K), "predictor_type": "classifier",
                                 "sample_size": str(ROWS)})
    t0 = time.perf_counter()
    index = algorithm.fit(train, y_train, cfg)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sk = KNeighborsClassifier(K, algorithm="brute").fit(train, y_train)
    baseline_train_s = time.perf_counter() - t0
    batch = test[:1_000]
    buf = io.StringIO()
    np.savetxt(buf, batch, delimiter=",", fmt="%.6f")
    body = buf.getvalue().encode()
    t0 = time.perf_counter()
    answer, _ = serve.output_fn(serve.predict_fn(serve.input_fn(body, serve.CSV), index), serve.JSON)
    infer_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sk.predict(batch)
    baseline_infer_s = time.perf_counter() - t0
    assert len(json.loads(answer)["predictions"]) == len(batch)
    ours = algorithm.predict(index, test)[0]
    return Case(algorithm="k-NN (classifier)", dataset=f"{ROWS:,} x {DIM} dense, {CLASSES} classes; 2,000 held out",
                train_s=train_s, baseline_train_s=baseline_train_s, baseline="sklearn KNeighborsClassifier brute",
                infer_s=infer_s, baseline_infer_s=baseline_infer_s, metric="accuracy",
                quality=float((ours == y_test).mean()), sklearn="KNeighborsClassifier",
                sklearn_quality=float((sk.predict(test) == y_test).mean()))
