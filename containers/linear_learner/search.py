"""The settings of the ``num_models`` models Linear Learner trains side by side.

Model 0 is trained with the hyperparameters as given (``auto`` resolved to
its default); the others with nearby ones, as SageMaker describes it: an
explicit value is varied within a factor of about three either way, an
``auto`` one is searched over a wider range (learning rate within a factor
of ten; ``wd`` and ``l1`` log-uniformly in [1e-7, 1e-2], some models
unregularized). ``positive_example_weight_mult=auto`` spreads the positive
weight from 1 to the balanced weight across the models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from containers.linear_learner.hyperparameters import LinearLearnerConfig


@dataclass(frozen=True)
class ModelSettings:
    """Per-model values, each of shape (num_models,)."""

    learning_rate: np.ndarray
    wd: np.ndarray
    l1: np.ndarray
    positive_weight: np.ndarray

    def describe(self, k: int) -> str:
        """One model's settings, for the log."""
        return (f"learning_rate={self.learning_rate[k]:.4g}, wd={self.wd[k]:.3g}, l1={self.l1[k]:.3g}, "
                f"positive_example_weight_mult={self.positive_weight[k]:.3g}")


def _around(value: float, models: int, spread: float, rng: np.random.Generator) -> np.ndarray:
    out = value * 10.0 ** rng.uniform(-spread, spread, size=models)
    out[0] = value
    return out


def _regularization(value: float | str, models: int, rng: np.random.Generator) -> np.ndarray:
    if value != "auto":
        return _around(float(value), models, 0.5, rng)
    out = 10.0 ** rng.uniform(-7, -2, size=models)
    out[::2] = 0.0  # model 0 and every other model: no regularization of this kind
    return out


def _positive_weights(value: float | str, models: int, y: np.ndarray) -> np.ndarray:
    positives = float((y > 0.5).sum())
    balanced = (len(y) - positives) / positives if positives else 1.0
    if value == "balanced":
        return np.full(models, balanced)
    if value == "auto":
        return np.geomspace(1.0, balanced, models) if models > 1 else np.array([balanced])
    return np.full(models, float(value))


def model_settings(cfg: LinearLearnerConfig, y: np.ndarray, rng: np.random.Generator) -> ModelSettings:
    """Settings of every model for training labels ``y``."""
    k = cfg.num_models
    binary = cfg.predictor_type == "binary_classifier"
    lr_spread = 1.0 if cfg.values["learning_rate"] == "auto" else 0.5
    return ModelSettings(
        learning_rate=_around(cfg.learning_rate, k, lr_spread, rng),
        wd=_regularization(cfg.wd, k, rng),
        l1=_regularization(cfg.l1, k, rng),
        positive_weight=_positive_weights(cfg.positive_example_weight_mult, k, y) if binary else np.ones(k),
    )
