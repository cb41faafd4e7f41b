"""SageMaker's PCA: principal components from mini-batch summaries, numpy only.

* ``regular``: every mini-batch adds to ``sum x_i`` and ``sum x_i^T x_i``;
  the covariance ``sum x_i^T x_i - (1/n) (sum x_i)^T (sum x_i)`` (without
  the mean term when ``subtract_mean`` is false) is decomposed exactly.
* ``randomized``: every mini-batch ``X_t`` (``b x d``) is multiplied by a
  fresh Gaussian ``(num_components + extra_components) x b`` matrix and the
  products are summed into one sketch; the sketch's right singular vectors
  span the approximate top subspace. A second pass rotates inside that
  subspace (Rayleigh-Ritz) so components and singular values are those of
  the data restricted to it. The mean is subtracted exactly: the sketch of
  centered data is ``sum Omega_t X_t - (sum Omega_t 1) mean``.

The model holds what SageMaker's does: ``v`` (``feature_dim x
num_components``), ``s`` (singular values) and ``mean``, components in
ascending order of singular value (the most significant last), each
component's sign fixed so its largest-magnitude entry is positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from containers.pca.hyperparameters import PCAConfig


@dataclass(frozen=True)
class PCAModel:
    """Principal components ``v`` (columns), singular values ``s``, and the training mean."""

    v: np.ndarray
    s: np.ndarray
    mean: np.ndarray

    def project(self, X: np.ndarray) -> np.ndarray:
        """Each row's coordinates on the components (``mean`` subtracted; zero when not subtracting)."""
        return (np.asarray(X, dtype=np.float64) - self.mean) @ self.v


def _batches(X: np.ndarray, size: int):  # noqa: ANN202 - a generator of row blocks
    for start in range(0, len(X), size):
        yield np.asarray(X[start:start + size], dtype=np.float64)


def _finish(v: np.ndarray, s: np.ndarray, mean: np.ndarray) -> PCAModel:
    order = np.argsort(s)  # ascending, as SageMaker stores them
    v, s = v[:, order], s[order]
    signs = np.sign(v[np.abs(v).argmax(0), np.arange(v.shape[1])])
    v = v * np.where(signs == 0, 1, signs)
    return PCAModel(v=v.astype(np.float32), s=s.astype(np.float32), mean=mean.astype(np.float32))


def fit_regular(X: np.ndarray, cfg: PCAConfig) -> PCAModel:
    """Exact components of the covariance accumulated over mini-batches."""
    d = X.shape[1]
    total, gram, n = np.zeros(d), np.zeros((d, d)), 0
    for batch in _batches(X, cfg.mini_batch_size):
        total += batch.sum(0)
        gram += batch.T @ batch
        n += len(batch)
    mean = total / n if cfg.subtract_mean else np.zeros(d)
    cov = gram - np.outer(total, total) / n if cfg.subtract_mean else gram
    eigvals, eigvecs = np.linalg.eigh((cov + cov.T) / 2)
    top = np.argsort(eigvals)[::-1][:cfg.num_components]
    return _finish(eigvecs[:, top], np.sqrt(np.maximum(eigvals[top], 0)), mean)


def fit_randomized(X: np.ndarray, cfg: PCAConfig, seed: int = 0) -> PCAModel:
    """Approximate components from a summed Gaussian sketch of the mini-batches."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    m = min(cfg.num_components + cfg.extra_components, d)
    sketch, omega_sums, total, n = np.zeros((m, d)), np.zeros(m), np.zeros(d), 0
    for batch in _batches(X, cfg.mini_batch_size):
        omega = rng.standard_normal((m, len(batch)))
        sketch += omega @ batch
        omega_sums += omega.sum(1)
        total += batch.sum(0)
        n += len(batch)
    mean = total / n if cfg.subtract_mean else np.zeros(d)
    sketch -= np.outer(omega_sums, mean)
    _, _, vt = np.linalg.svd(sketch, full_matrices=False)
    basis = vt.T  # d x m, orthonormal
    small = np.zeros((basis.shape[1], basis.shape[1]))
    for batch in _batches(X, cfg.mini_batch_size):  # Rayleigh-Ritz inside the sketched subspace
        proj = (batch - mean) @ basis
        small += proj.T @ proj
    eigvals, rot = np.linalg.eigh(small)
    top = np.argsort(eigvals)[::-1][:cfg.num_components]
    return _finish(basis @ rot[:, top], np.sqrt(np.maximum(eigvals[top], 0)), mean)


def fit(X: np.ndarray, cfg: PCAConfig, seed: int = 0) -> PCAModel:
    """The model of ``X`` in ``cfg.algorithm_mode``."""
    return fit_randomized(X, cfg, seed) if cfg.algorithm_mode == "randomized" else fit_regular(X, cfg)
