"""Linear Learner's loss functions, batched over models (torch).

Every function takes raw outputs ``z`` of shape (models, rows, outputs) and
labels ``y`` of shape (rows,) and returns the per-row loss (models, rows).
Parameters (``margin``, ``loss_insensitivity``, ``quantile``,
``huber_delta``) come from the hyperparameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor, Mapping[str, Any]], torch.Tensor]


def _logistic(z: torch.Tensor, y: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    z = z[..., 0]
    return F.binary_cross_entropy_with_logits(z, y.expand_as(z), reduction="none")


def _hinge(z: torch.Tensor, y: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    return torch.clamp(p["margin"] - (2 * y - 1) * z[..., 0], min=0)


def _softmax(z: torch.Tensor, y: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    models, rows, classes = z.shape
    target = y.long().repeat(models)
    return F.cross_entropy(z.reshape(models * rows, classes), target, reduction="none").view(models, rows)


def _residual(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return z[..., 0] - y


def _squared(z: torch.Tensor, y: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    return _residual(z, y) ** 2


def _absolute(z: torch.Tensor, y: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    return _residual(z, y).abs()


def _eps_squared(z: torch.Tensor, y: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    return torch.clamp(_residual(z, y).abs() - p["loss_insensitivity"], min=0) ** 2


def _eps_absolute(z: torch.Tensor, y: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    return torch.clamp(_residual(z, y).abs() - p["loss_insensitivity"], min=0)


def _quantile(z: torch.Tensor, y: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    r = y - z[..., 0]  # under-prediction costs q, over-prediction 1 - q
    q = p["quantile"]
    return torch.maximum(q * r, (q - 1) * r)


def _huber(z: torch.Tensor, y: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    r = _residual(z, y).abs()
    delta = max(p["huber_delta"], 1e-12)
    return torch.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta))


LOSS_FUNCTIONS: dict[str, LossFn] = {
    "logistic": _logistic, "hinge_loss": _hinge, "softmax_loss": _softmax, "squared_loss": _squared,
    "absolute_loss": _absolute, "eps_insensitive_squared_loss": _eps_squared,
    "eps_insensitive_absolute_loss": _eps_absolute, "quantile_loss": _quantile, "huber_loss": _huber,
}


def per_row_loss(name: str, z: torch.Tensor, y: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """The loss ``name`` of every model on every row: (models, rows)."""
    return LOSS_FUNCTIONS[name](z, y, params)
