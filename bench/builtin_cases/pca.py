"""PCA beside numpy's SVD used directly and scikit-learn's PCA.

20,000 x 50 dense records with a rank-10 structure plus noise; 5,000 held
out. Our ``regular`` mode (covariance accumulated over 500-row
mini-batches) against one SVD of the whole centered matrix. Quality is the
fraction of the held-out variance the 10 components capture.
"""

from __future__ import annotations

import io
import json
import time

import numpy as np
from sklearn.decomposition import PCA as SkPCA

from bench.builtin_cases import Case
from containers.pca import algorithm, serve
from containers.pca.hyperparameters import parse_hyperparameters

ROWS, DIM, RANK = 20_000, 50, 10


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(DIM, RANK)))[0].T
    scores = rng.normal(size=(ROWS + 5_000, RANK)) * np.linspace(10, 1, RANK)
    X = (scores @ basis + 0.3 * rng.normal(size=(ROWS + 5_000, DIM)) + 3).astype(np.float32)
    return X[:ROWS], X[ROWS:]


def _captured(components: np.ndarray, mean: np.ndarray, X: np.ndarray) -> float:
    """Share of ``X``'s variance (about ``mean``) inside the span of ``components`` (columns, orthonormal)."""
    centered = X.astype(np.float64) - mean
    return float(((centered @ components) ** 2).sum() / (centered ** 2).sum())


def run_case() -> Case:
    """Time and score our PCA, numpy's SVD and scikit-learn's PCA on the same split."""
    train, test = _data(0)
    cfg = parse_hyperparameters({"feature_dim": str(DIM), "mini_batch_size": "500", "num_components": str(RANK)})
    t0 = time.perf_counter()
    model = algorithm.fit(train, cfg)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    mean = train.astype(np.float64).mean(0)
    _, _, vt = np.linalg.svd(train.astype(np.float64) - mean, full_matrices=False)
    baseline_train_s = time.perf_counter() - t0
    batch = test[:1_000]
    buf = io.StringIO()
    np.savetxt(buf, batch, delimiter=",", fmt="%.6f")
    body = buf.getvalue().encode()
    t0 = time.perf_counter()
    answer = serve.output_fn(serve.predict_fn(serve.input_fn(body, serve.CSV), model), serve.JSON)
    infer_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    (batch.astype(np.float64) - mean) @ vt[:RANK].T
    baseline_infer_s = time.perf_counter() - t0
    assert len(json.loads(answer)["projections"]) == len(batch)
    sk = SkPCA(RANK).fit(train)
    return Case(algorithm="PCA (regular)", dataset=f"{ROWS:,} x {DIM} dense, rank {RANK} + noise; 5,000 held out",
                train_s=train_s, baseline_train_s=baseline_train_s, baseline="numpy SVD of the centered matrix",
                infer_s=infer_s, baseline_infer_s=baseline_infer_s, metric="held-out variance captured",
                quality=_captured(model.v.astype(np.float64), model.mean, test), sklearn="PCA",
                sklearn_quality=_captured(sk.components_.T, sk.mean_, test))
