"""Linear Learner's preprocessing: feature and label shift/scale learned from a sample.

As SageMaker describes it: a sample of ``num_point_for_scaler`` rows gives
each feature's mean and standard deviation. ``normalize_data`` scales the
features to unit deviation; ``unbias_data`` (``auto``: when ``use_bias``
and the data is dense) shifts them to mean zero, never for sparse data,
whose zeros must stay zeros. Regression labels are scaled
(``normalize_label``, ``auto`` = on for regressors) and shifted
(``unbias_label``, ``auto`` = with ``use_bias``); classification labels never.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from containers.linear_learner.hyperparameters import LinearLearnerConfig

Matrix = np.ndarray | sp.csr_matrix


@dataclass(frozen=True)
class Scaling:
    """``x' = (x - x_shift) / x_scale`` and ``y' = (y - y_shift) / y_scale``."""

    x_shift: np.ndarray
    x_scale: np.ndarray
    y_shift: float = 0.0
    y_scale: float = 1.0

    def features(self, X: Matrix) -> np.ndarray:
        """Dense, transformed float32 rows (sparse input is densified one mini-batch at a time)."""
        dense = X.toarray() if sp.issparse(X) else np.asarray(X)
        return ((dense - self.x_shift) / self.x_scale).astype(np.float32)

    def labels(self, y: np.ndarray) -> np.ndarray:
        """Transformed labels."""
        return ((y - self.y_shift) / self.y_scale).astype(np.float32)

    def to_raw_space(self, weights: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fold the scaling into weights (..., d, C) and bias (..., C) so raw features need none."""
        w = weights / self.x_scale[:, None]
        b = bias - np.einsum("d,...dc->...c", self.x_shift, w)
        return w * self.y_scale, b * self.y_scale + self.y_shift


def _resolve(value: bool | str, auto: bool) -> bool:
    return auto if value == "auto" else bool(value)


def fit_scaling(X: Matrix, y: np.ndarray, cfg: LinearLearnerConfig, rng: np.random.Generator) -> Scaling:
    """The scaling for this job, from at most ``num_point_for_scaler`` sampled rows."""
    n, d = X.shape
    rows = rng.choice(n, size=min(n, cfg.num_point_for_scaler), replace=False)
    sample = X[rows]
    if sp.issparse(sample):
        mean = np.asarray(sample.mean(axis=0)).ravel()
        var = np.asarray(sample.multiply(sample).mean(axis=0)).ravel() - mean**2
    else:
        mean, var = sample.mean(axis=0, dtype=np.float64), sample.var(axis=0, dtype=np.float64)
    std = np.sqrt(np.maximum(var, 0))
    x_scale = np.where(std > 1e-12, std, 1.0) if _resolve(cfg.normalize_data, True) else np.ones(d)
    unbias = _resolve(cfg.unbias_data, cfg.use_bias and not sp.issparse(X))
    x_shift = mean if unbias and not sp.issparse(X) else np.zeros(d)
    if cfg.predictor_type != "regressor":
        return Scaling(x_shift, x_scale)
    ys = y[rows].astype(np.float64)
    y_scale = float(ys.std()) if _resolve(cfg.normalize_label, True) and ys.std() > 1e-12 else 1.0
    y_shift = float(ys.mean()) if _resolve(cfg.unbias_label, cfg.use_bias) else 0.0
    return Scaling(x_shift, x_scale, y_shift, y_scale)
