"""SageMaker's k-NN: a reservoir sample of the training data, an index over it, k-nearest-neighbor votes.

Training keeps a uniform reservoir sample of ``sample_size`` records
(Algorithm R, streamed over mini-batches), optionally projects it to
``dimension_reduction_target`` dimensions and stores it as the index.

* ``sign``: a random projection with entries ``+-1/sqrt(target)``;
* ``fjlt``: the fast Johnson-Lindenstrauss transform: random signs, a
  normalized Walsh-Hadamard transform (features zero-padded to a power of
  two), then ``target`` sampled coordinates, scaled to preserve norms.

Search is exact brute force for every ``index_type``: FAISS's
``faiss.IVFFlat`` / ``faiss.IVFPQ`` are approximations of exactly this
search, so their results here are what the approximate index aims for
(``faiss_index_ivf_nlists`` and ``faiss_index_pq_m`` are accepted and have
no effect). ``index_metric``: ``L2`` ranks by Euclidean distance (the
reported distance), ``INNER_PRODUCT`` by inner product and ``COSINE`` by
cosine similarity (the reported value is the similarity, largest first).
A classifier predicts the most frequent label among the ``k`` neighbors
(a tie goes to the label of the nearest tied neighbor); a regressor
predicts their mean label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import hadamard

from containers.knn.hyperparameters import KNNConfig

# Rows scored at once: bounds the (rows x samples) distance block in memory.
_QUERY_BLOCK = 1024


@dataclass(frozen=True)
class KNNIndex:
    """The sampled (and projected) records, their labels, and how to search them."""

    samples: np.ndarray  # (n, reduced dim) float32
    labels: np.ndarray  # (n,) float32
    projection: np.ndarray | None  # (feature_dim, reduced dim) or None
    k: int
    predictor_type: str
    index_metric: str

    @property
    def feature_dim(self) -> int:
        """Features a query record must have."""
        return int(self.projection.shape[0]) if self.projection is not None else int(self.samples.shape[1])


def reservoir_sample(num_rows: int, size: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a uniform sample of ``size`` rows, streamed ``batch`` rows at a time (Algorithm R)."""
    reservoir = np.arange(min(size, num_rows))
    for start in range(len(reservoir), num_rows, batch):
        seen = np.arange(start, min(start + batch, num_rows))
        slots = (rng.random(len(seen)) * (seen + 1)).astype(np.int64)  # uniform in [0, i]
        for row, slot in zip(seen[slots < size], slots[slots < size]):
            reservoir[slot] = row
    return np.sort(reservoir)


def projection_matrix(kind: str, dim: int, target: int, rng: np.random.Generator) -> np.ndarray:
    """The ``(dim, target)`` matrix of the ``sign`` or ``fjlt`` reduction."""
    if kind == "sign":
        return (rng.choice([-1.0, 1.0], size=(dim, target)) / np.sqrt(target)).astype(np.float32)
    padded = 1 << max(0, (dim - 1).bit_length())
    signs = rng.choice([-1.0, 1.0], size=dim)
    walsh = hadamard(padded)[:dim].astype(np.float64) / np.sqrt(padded)  # zero padding drops rows
    columns = rng.choice(padded, size=target, replace=False)
    return (signs[:, None] * walsh[:, columns] * np.sqrt(padded / target)).astype(np.float32)


def fit(X: np.ndarray, y: np.ndarray, cfg: KNNConfig, seed: int = 0) -> KNNIndex:
    """The index over a reservoir sample of ``(X, y)``."""
    rng = np.random.default_rng(seed)
    rows = reservoir_sample(len(X), cfg.sample_size, cfg.mini_batch_size, rng)
    samples = np.asarray(X[rows], dtype=np.float32)
    projection = None
    if cfg.dimension_reduction_type:
        assert cfg.dimension_reduction_target is not None
        projection = projection_matrix(cfg.dimension_reduction_type, X.shape[1], cfg.dimension_reduction_target, rng)
        samples = samples @ projection
    if cfg.index_metric == "COSINE":
        samples = _normalize(samples)
    return KNNIndex(samples=samples.astype(np.float32), labels=np.asarray(y[rows], dtype=np.float32),
                    projection=projection, k=min(cfg.k, len(rows)), predictor_type=cfg.predictor_type,
                    index_metric=cfg.index_metric)


def _normalize(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms == 0, 1, norms)


def search(index: KNNIndex, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(distances, neighbor rows)`` of each query, closest first, ``k`` each."""
    Q = np.asarray(X, dtype=np.float32)
    if index.projection is not None:
        Q = Q @ index.projection
    if index.index_metric == "COSINE":
        Q = _normalize(Q)
    S = np.asarray(index.samples, dtype=np.float32)
    sample_norms = (S.astype(np.float64) ** 2).sum(1).astype(np.float32)
    k = index.k
    out_d, out_i = [], []
    for start in range(0, len(Q), _QUERY_BLOCK):
        q = Q[start:start + _QUERY_BLOCK]
        # Rank in float32 (one BLAS product); the k chosen get exact float64 values below.
        scores = sample_norms[None, :] - 2 * (q @ S.T) if index.index_metric == "L2" else -(q @ S.T)
        part = np.argpartition(scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else \
            np.tile(np.arange(scores.shape[1]), (len(q), 1))
        chosen = S[part].astype(np.float64)  # (rows, k, dim)
        q64 = q.astype(np.float64)[:, None, :]
        if index.index_metric == "L2":
            exact = np.sqrt(((chosen - q64) ** 2).sum(2))
            order = np.argsort(exact, axis=1, kind="stable")
        else:
            exact = (chosen * q64).sum(2)
            order = np.argsort(-exact, axis=1, kind="stable")
        out_i.append(np.take_along_axis(part, order, 1))
        out_d.append(np.take_along_axis(exact, order, 1))
    return np.concatenate(out_d), np.concatenate(out_i)


def vote(labels: np.ndarray, predictor_type: str) -> np.ndarray:
    """Predicted label of each row of neighbor ``labels`` (closest first)."""
    if predictor_type == "regressor":
        return labels.astype(np.float64).mean(1)
    values, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(labels.shape)
    rows = np.repeat(np.arange(len(labels)), labels.shape[1])
    counts = np.zeros((len(labels), len(values)), dtype=np.int64)
    np.add.at(counts, (rows, codes.ravel()), 1)
    first = np.full(counts.shape, labels.shape[1], dtype=np.int64)  # where each label first appears
    np.minimum.at(first, (rows, codes.ravel()), np.tile(np.arange(labels.shape[1]), len(labels)))
    tied = counts == counts.max(1, keepdims=True)
    return values[np.where(tied, first, labels.shape[1] + 1).argmin(1)].astype(np.float64)


def predict(index: KNNIndex, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(predicted_label, neighbor distances, neighbor labels)`` of each row."""
    distances, rows = search(index, X)
    labels = index.labels[rows]
    return vote(labels, index.predictor_type), distances, labels
