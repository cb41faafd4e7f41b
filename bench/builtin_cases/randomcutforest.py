"""Random Cut Forest beside scikit-learn's IsolationForest (the closest random-partition forest).

8-dimensional Gaussian records; the held-out split has 2 % anomalies on a
shell of radius 6. Quality is the AUC of the anomaly score. The baseline
is IsolationForest with the same trees and sample size: a different
algorithm on the same random-partitioning idea, so the ratio says what
exact CoDisp scoring costs beside path-length scoring.
"""

from __future__ import annotations

import io
import time

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from bench.builtin_cases import Case
from containers.randomcutforest import algorithm, serve

TREES, SAMPLES, DIM = 100, 256, 8


def _data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(10_000, DIM)).astype(np.float32)
    normal = rng.normal(size=(980, DIM))
    shell = rng.normal(size=(20, DIM))
    held_out = np.concatenate([normal, 6 * shell / np.linalg.norm(shell, axis=1, keepdims=True)]).astype(np.float32)
    return train, held_out, np.r_[np.zeros(980), np.ones(20)]


def run_case() -> Case:
    """Time and score both forests on the same split."""
    train, test, labels = _data(0)
    t0 = time.perf_counter()
    forest = algorithm.fit(train, TREES, SAMPLES)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    iso = IsolationForest(n_estimators=TREES, max_samples=SAMPLES, random_state=0).fit(train)
    baseline_train_s = time.perf_counter() - t0
    buf = io.StringIO()
    np.savetxt(buf, test, delimiter=",", fmt="%.6f")
    body = buf.getvalue().encode()
    t0 = time.perf_counter()
    answer = serve.output_fn(serve.predict_fn(serve.input_fn(body, serve.CSV), forest), serve.JSON)
    infer_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    iso_scores = -iso.score_samples(test)
    baseline_infer_s = time.perf_counter() - t0
    import json

    ours = np.array([s["score"] for s in json.loads(answer)["scores"]])
    return Case(algorithm="Random Cut Forest", dataset=f"10,000 x {DIM} dense; 1,000 held out, 2 % anomalies",
                train_s=train_s, baseline_train_s=baseline_train_s,
                baseline=f"sklearn IsolationForest, {TREES} trees x {SAMPLES}", infer_s=infer_s,
                baseline_infer_s=baseline_infer_s, metric="AUC", quality=float(roc_auc_score(labels, ours)),
                sklearn="IsolationForest", sklearn_quality=float(roc_auc_score(labels, iso_scores)))
