"""K-Means beside numpy Lloyd iterations used directly and scikit-learn's KMeans.

20,000 x 16 dense records from 8 Gaussian blobs; 5,000 held out. Our
mini-batch K-Means (k-means++ seeding, ``extra_center_factor`` centers
reduced by local Lloyd) against plain Lloyd in numpy from the same
k-means++-style start. Quality is the adjusted Rand index of the held-out
assignments against the generating blobs.
"""

from __future__ import annotations

import io
import json
import time

import numpy as np
from sklearn.cluster import KMeans as SkKMeans
from sklearn.metrics import adjusted_rand_score

from bench.builtin_cases import Case
from containers.common.decoders import CSV, JSON
from containers.kmeans import algorithm, serve
from containers.kmeans.hyperparameters import parse_hyperparameters

ROWS, DIM, K = 20_000, 16, 8


def _data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=6.0, size=(K, DIM))
    labels = rng.integers(0, K, ROWS + 5_000)
    X = (centers[labels] + rng.normal(size=(ROWS + 5_000, DIM))).astype(np.float32)
    return X[:ROWS], labels[:ROWS], X[ROWS:], labels[ROWS:]


def _lloyd(X: np.ndarray, iterations: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = X[rng.choice(len(X), K, replace=False)].astype(np.float64)
    for _ in range(iterations):
        closest = ((X[:, None, :] - centers[None]) ** 2).sum(2).argmin(1)
        centers = np.stack([X[closest == c].mean(0) if (closest == c).any() else centers[c] for c in range(K)])
    return centers


def run_case() -> Case:
    """Time and score our K-Means, numpy Lloyd and scikit-learn's KMeans on the same split."""
    train, _, test, truth = _data(0)
    cfg = parse_hyperparameters({"feature_dim": str(DIM), "k": str(K), "init_method": "kmeans++",
                                 "mini_batch_size": "1000", "epochs": "2"})
    t0 = time.perf_counter()
    centers = algorithm.fit(train, cfg)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lloyd = _lloyd(train)
    baseline_train_s = time.perf_counter() - t0
    batch = test[:1_000]
    buf = io.StringIO()
    np.savetxt(buf, batch, delimiter=",", fmt="%.6f")
    body = buf.getvalue().encode()
    hooks = serve.handler()
    t0 = time.perf_counter()
    answer = hooks.output_fn(hooks.predict_fn(hooks.input_fn(body, CSV), centers), JSON)
    infer_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ((batch[:, None, :] - lloyd[None]) ** 2).sum(2).argmin(1)
    baseline_infer_s = time.perf_counter() - t0
    assert len(json.loads(answer)["predictions"]) == len(batch)
    ours = algorithm.assign(test, centers)[0]
    sk = SkKMeans(K, n_init=1, random_state=0).fit(train)
    return Case(algorithm="K-Means", dataset=f"{ROWS:,} x {DIM} dense, {K} blobs; 5,000 held out",
                train_s=train_s, baseline_train_s=baseline_train_s, baseline="numpy Lloyd, 20 iterations",
                infer_s=infer_s, baseline_infer_s=baseline_infer_s, metric="held-out ARI",
                quality=adjusted_rand_score(truth, ours), sklearn="KMeans",
                sklearn_quality=adjusted_rand_score(truth, sk.predict(test)))
