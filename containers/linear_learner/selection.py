"""Picking the one model Linear Learner keeps, and the metrics it reports for a channel.

Binary classifiers: each model gets the threshold that maximizes
``binary_classifier_model_selection_criteria`` on up to
``num_calibration_samples`` rows of the validation channel (train when
absent); the model with the best value wins, its loss breaking ties
(``loss_function`` / ``cross_entropy_loss``: lowest loss). Multiclass
classifiers and regressors: lowest objective loss.
"""

from __future__ import annotations

import numpy as np
import torch

from containers.linear_learner import evaluation
from containers.linear_learner.algorithm import TrainedModels
from containers.linear_learner.hyperparameters import LinearLearnerConfig
from containers.linear_learner.losses import per_row_loss
from containers.linear_learner.model import LinearModel, scores_from_raw
from containers.linear_learner.scaling import Matrix

# ``auto`` calibration sample: every row up to this many.
MAX_CALIBRATION_ROWS = 1_000_000


def objective_loss(raw: np.ndarray, y: np.ndarray, cfg: LinearLearnerConfig) -> np.ndarray:
    """Mean objective loss of raw outputs (models, rows, outputs) against ``y``: (models,)."""
    z = torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float64))
    rows = per_row_loss(cfg.loss, z, torch.from_numpy(y.astype(np.float64)), cfg.values)
    return rows.mean(dim=1).numpy()


def _natural_threshold(cfg: LinearLearnerConfig) -> float:
    return 0.5 if cfg.loss == "logistic" else 0.0


def select(models: TrainedModels, X: Matrix, y: np.ndarray, cfg: LinearLearnerConfig,
           rng: np.random.Generator) -> tuple[LinearModel, int, float]:
    """``(model, its index, its criterion value)`` chosen on (``X``, ``y``)."""
    limit = MAX_CALIBRATION_ROWS if cfg.num_calibration_samples == "auto" else cfg.num_calibration_samples
    if len(y) > limit:
        rows = np.sort(rng.choice(len(y), size=limit, replace=False))
        X, y = X[rows], y[rows]
    raw = np.stack([np.asarray(X @ w) + b for w, b in zip(models.weights, models.bias)])
    losses = objective_loss(raw, y, cfg)
    thresholds = np.full(len(losses), _natural_threshold(cfg))
    criterion = cfg.binary_classifier_model_selection_criteria
    if cfg.predictor_type == "binary_classifier" and criterion not in ("loss_function", "cross_entropy_loss"):
        values = np.empty(len(losses))
        for k, r in enumerate(raw):
            thresholds[k], values[k] = evaluation.choose_threshold(
                scores_from_raw(r, cfg.predictor_type, cfg.loss), y, criterion, beta=cfg.f_beta,
                target_precision=cfg.target_precision, target_recall=cfg.target_recall,
                natural=_natural_threshold(cfg))
        best = int(np.lexsort((losses, -values))[0])  # highest value, then lowest loss
        value = float(values[best])
    else:
        best = int(np.argmin(losses))
        value = float(losses[best])
    model = LinearModel(predictor_type=cfg.predictor_type, loss=cfg.loss, weights=models.weights[best],
                        bias=models.bias[best], threshold=float(thresholds[best]))
    return model, best, value


def channel_metrics(model: LinearModel, X: Matrix, y: np.ndarray, cfg: LinearLearnerConfig) -> dict[str, float]:
    """The metrics SageMaker's Linear Learner reports for a channel, ``objective_loss`` first."""
    raw = model.raw(X)
    metrics = {"objective_loss": float(objective_loss(raw[None], y, cfg)[0])}
    scores = scores_from_raw(raw, cfg.predictor_type, cfg.loss)
    if cfg.predictor_type == "binary_classifier":
        metrics.update(evaluation.binary_metrics(scores, y, model.threshold, cfg.f_beta))
    elif cfg.predictor_type == "multiclass_classifier":
        metrics.update(evaluation.multiclass_metrics(scores, y, cfg.accuracy_top_k, cfg.f_beta))
    else:
        metrics.update(evaluation.regression_metrics(scores, y))
    return metrics
