"""The trained factorization machine and its scores (NumPy / SciPy, no torch).

``raw(x) = w0 + <w, x> + 1/2 * sum_f [(sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2]``:
Rendle's O(k * nnz) form of the pairwise interactions ``sum_{i<j} <v_i, v_j> x_i x_j``.
A binary classifier's score is ``sigmoid(raw)`` and its ``predicted_label``
is ``score >= 0.5``; a regressor's score is ``raw``. Saved as
``model_algo-1`` (NumPy ``.npz``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

MODEL_FILE = "model_algo-1"
THRESHOLD = 0.5


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return np.exp(-np.logaddexp(0, -z))


@dataclass(frozen=True)
class FactorizationMachine:
    """Global bias ``w0``, linear weights ``w`` (d,) and factors ``V`` (d, k)."""

    predictor_type: str
    w0: float
    w: np.ndarray
    V: np.ndarray

    @property
    def feature_dim(self) -> int:
        """Number of input features."""
        return int(self.w.shape[0])

    def raw(self, X: np.ndarray | sp.csr_matrix) -> np.ndarray:
        """Raw outputs (rows,); sparse input stays sparse."""
        squared = X.multiply(X) if sp.issparse(X) else X * X
        xv = np.asarray(X @ self.V)
        pairs = 0.5 * ((xv * xv).sum(axis=1) - np.asarray(squared @ (self.V * self.V)).sum(axis=1))
        return self.w0 + np.asarray(X @ self.w).ravel() + pairs

    def scores(self, X: np.ndarray | sp.csr_matrix) -> np.ndarray:
        """Probability of class 1 (binary classifier) or the prediction (regressor)."""
        raw = self.raw(X)
        return sigmoid(raw) if self.predictor_type == "binary_classifier" else raw

    def predictions(self, X: np.ndarray | sp.csr_matrix) -> list[dict[str, Any]]:
        """SageMaker's per-record predictions."""
        scores = self.scores(X)
        if self.predictor_type == "regressor":
            return [{"score": float(s)} for s in scores]
        return [{"score": float(s), "predicted_label": int(s >= THRESHOLD)} for s in scores]

    def save(self, model_dir: Path) -> Path:
        """Write ``model_algo-1`` under ``model_dir``; return its path."""
        model_dir.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, w0=np.float64(self.w0), w=self.w, V=self.V,
                 predictor_type=np.frombuffer(self.predictor_type.encode(), np.uint8))
        path = model_dir / MODEL_FILE
        path.write_bytes(buf.getvalue())
        return path

    @classmethod
    def load(cls, model_dir: Path) -> FactorizationMachine:
        """Read ``model_algo-1`` from ``model_dir``."""
        with np.load(model_dir / MODEL_FILE) as data:
            return cls(predictor_type=data["predictor_type"].tobytes().decode(), w0=float(data["w0"]),
                       w=data["w"], V=data["V"])
