"""SageMaker's K-Means: streaming mini-batch k-means over extra centers, then local Lloyd.

Training streams the data in mini-batches over ``epochs``, keeping
``k * extra_center_factor`` centers updated with per-center learning rates
(Sculley's web-scale k-means; ``half_life_time_size`` decays old counts).
A final local Lloyd's pass clusters those weighted centers down to ``k``
(``local_lloyd_*``: init, iterations, tolerance, best of several trials).
"""

from __future__ import annotations

import numpy as np

from containers.kmeans.hyperparameters import KMeansConfig


def squared_distances(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """(rows, centers) squared Euclidean distances."""
    d = (X * X).sum(1)[:, None] - 2 * X @ centers.T + (centers * centers).sum(1)[None, :]
    return np.maximum(d, 0)


def kmeans_pp(X: np.ndarray, k: int, rng: np.random.Generator, weights: np.ndarray | None = None) -> np.ndarray:
    """k-means++ seeding (weighted when ``weights`` is given)."""
    w = np.ones(len(X)) if weights is None else weights.astype(np.float64)
    centers = [X[rng.choice(len(X), p=w / w.sum())]]
    closest = squared_distances(X, centers[0][None, :])[:, 0]
    for _ in range(1, k):
        p = w * closest
        idx = rng.choice(len(X), p=p / p.sum()) if p.sum() > 0 else rng.integers(len(X))
        centers.append(X[idx])
        closest = np.minimum(closest, squared_distances(X, X[idx][None, :])[:, 0])
    return np.asarray(centers, dtype=np.float64)


def _init(X: np.ndarray, k: int, method: str, rng: np.random.Generator, weights: np.ndarray | None = None) -> np.ndarray:
    if method == "kmeans++":
        return kmeans_pp(X, k, rng, weights)
    return X[rng.choice(len(X), size=k, replace=len(X) < k)].astype(np.float64)


def local_lloyd(points: np.ndarray, weights: np.ndarray, cfg: KMeansConfig, rng: np.random.Generator) -> np.ndarray:
    """Weighted Lloyd's from ``local_lloyd_num_trials`` seedings; the lowest weighted SSD wins."""
    best, best_cost = None, np.inf
    for _ in range(cfg.local_lloyd_num_trials):
        centers = _init(points, cfg.k, cfg.local_lloyd_init_method, rng, weights)
        for _ in range(cfg.local_lloyd_max_iter):
            assign = squared_distances(points, centers).argmin(1)
            moved = centers.copy()
            for c in range(cfg.k):
                member = assign == c
                if weights[member].sum() > 0:
                    moved[c] = np.average(points[member], axis=0, weights=weights[member])
            shift = np.abs(moved - centers).max()
            centers = moved
            if shift <= cfg.local_lloyd_tol:
                break
        cost = float((weights * squared_distances(points, centers).min(1)).sum())
        if cost < best_cost:
            best, best_cost = centers, cost
    assert best is not None
    return best


def fit(X: np.ndarray, cfg: KMeansConfig, seed: int = 0, on_epoch=None) -> np.ndarray:  # noqa: ANN001
    """The ``k`` cluster centers of ``X`` (float32, shape (k, feature_dim))."""
    rng = np.random.default_rng(seed)
    n_centers = min(len(X), cfg.k * cfg.extra_center_factor)
    batch = min(cfg.mini_batch_size, len(X))
    centers = _init(X[rng.choice(len(X), size=batch, replace=False)], n_centers, cfg.init_method, rng)
    counts = np.zeros(n_centers)
    decay = 0.5 ** (batch / cfg.half_life_time_size) if cfg.half_life_time_size else 1.0
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch):
            rows = X[order[start:start + batch]].astype(np.float64)
            assign = squared_distances(rows, centers).argmin(1)
            counts *= decay
            for c in np.unique(assign):
                member = rows[assign == c]
                counts[c] += len(member)
                rate = len(member) / counts[c]  # per-center learning rate 1/count, batched
                centers[c] += rate * (member.mean(0) - centers[c])
        if on_epoch:
            on_epoch(epoch + 1)
    if n_centers > cfg.k:
        used = counts > 0
        centers = local_lloyd(centers[used], counts[used], cfg, rng)
    return centers.astype(np.float32)


def assign(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``closest_cluster`` and ``distance_to_cluster`` (Euclidean) of each row."""
    d = squared_distances(np.asarray(X, dtype=np.float64), centers.astype(np.float64))
    closest = d.argmin(1)
    return closest, np.sqrt(d[np.arange(len(d)), closest])
