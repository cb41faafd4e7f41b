"""The trained Linear Learner model: weights in the raw feature space, and its scores.

Training folds normalization into the weights, so serving needs no scaler:
``raw = X @ weights + bias``. Scores are what SageMaker returns: the
probability for a logistic binary classifier (the raw margin for hinge
loss), class probabilities (softmax) for multiclass, the prediction for a
regressor. Saved as ``model_algo-1`` (NumPy ``.npz``). NumPy only, so that
the serving container does not import torch.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

MODEL_FILE = "model_algo-1"


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return np.exp(-np.logaddexp(0, -z))


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of the last axis."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def scores_from_raw(raw: np.ndarray, predictor_type: str, loss: str) -> np.ndarray:
    """Scores from raw outputs (..., C): (...) for binary and regressor, (..., C) for multiclass."""
    if predictor_type == "multiclass_classifier":
        return softmax(raw)
    if predictor_type == "binary_classifier" and loss == "logistic":
        return sigmoid(raw[..., 0])
    return raw[..., 0]


@dataclass(frozen=True)
class LinearModel:
    """One linear model, ready to score raw features."""

    predictor_type: str
    loss: str
    weights: np.ndarray  # (feature_dim, outputs), float64
    bias: np.ndarray  # (outputs,)
    threshold: float  # binary_classifier: predicted_label = score >= threshold

    @property
    def feature_dim(self) -> int:
        """Number of input features."""
        return int(self.weights.shape[0])

    def raw(self, X: np.ndarray | sp.csr_matrix) -> np.ndarray:
        """Raw outputs (rows, outputs)."""
        return np.asarray(X @ self.weights) + self.bias

    def scores(self, X: np.ndarray | sp.csr_matrix) -> np.ndarray:
        """Scores of each row (see :func:`scores_from_raw`)."""
        return scores_from_raw(self.raw(X), self.predictor_type, self.loss)

    def predictions(self, X: np.ndarray | sp.csr_matrix) -> list[dict[str, Any]]:
        """SageMaker's per-record predictions: ``score`` (and ``predicted_label`` for classifiers)."""
        scores = self.scores(X)
        if self.predictor_type == "regressor":
            return [{"score": float(s)} for s in scores]
        if self.predictor_type == "binary_classifier":
            return [{"score": float(s), "predicted_label": int(s >= self.threshold)} for s in scores]
        labels = scores.argmax(axis=1)
        return [{"score": [float(p) for p in row], "predicted_label": int(label)} for row, label in zip(scores, labels)]

    def save(self, model_dir: Path) -> Path:
        """Write ``model_algo-1`` under ``model_dir``; return its path."""
        model_dir.mkdir(parents=True, exist_ok=True)
        meta = {"predictor_type": self.predictor_type, "loss": self.loss, "threshold": self.threshold}
        buf = io.BytesIO()
        np.savez(buf, weights=self.weights, bias=self.bias, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
        path = model_dir / MODEL_FILE
        path.write_bytes(buf.getvalue())
        return path

    @classmethod
    def load(cls, model_dir: Path) -> LinearModel:
        """Read ``model_algo-1`` from ``model_dir``."""
        with np.load(model_dir / MODEL_FILE) as data:
            meta = json.loads(data["meta"].tobytes().decode())
            return cls(predictor_type=meta["predictor_type"], loss=meta["loss"], weights=data["weights"],
                       bias=data["bias"], threshold=float(meta["threshold"]))
