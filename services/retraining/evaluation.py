"""Scoring a model's batch-transform output against holdout labels.

The report has the shape of SageMaker Model Monitor's model-quality
statistics (``binary_classification_metrics`` / ``regression_metrics``,
each metric ``{"value": ..., "standard_deviation": ...}``), so the same
reader shows it in ``headwater models`` and as a package's ``ModelMetrics``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, mean_absolute_error, mean_squared_error, r2_score, roc_auc_score

from services.retraining.models import OBJECTIVES


class EvaluationError(ValueError):
    """Predictions that cannot be scored (wrong count, not numbers)."""


def parse_predictions(text: str, expected: int, where: str) -> np.ndarray:
    """One number per line (the first CSV cell), as built-in containers answer ``text/csv``."""
    values = []
    for number, line in enumerate((l for l in text.splitlines() if l.strip()), start=1):
        cell = line.split(",", 1)[0].strip()
        try:
            values.append(float(cell))
        except ValueError:
            raise EvaluationError(f"{where} line {number}: prediction {cell[:40]!r} is not a number") from None
    if len(values) != expected:
        raise EvaluationError(f"{where}: {len(values)} predictions for {expected} holdout records")
    return np.asarray(values, dtype=np.float64)


def _metric(value: float) -> dict[str, Any]:
    return {"value": float(value), "standard_deviation": "NaN"}


def score(problem_type: str, labels: list[str], predictions: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """The model-quality statistics of ``predictions`` against ``labels``."""
    try:
        y = np.asarray([float(v) for v in labels], dtype=np.float64)
    except ValueError as err:
        raise EvaluationError(f"holdout labels must be numbers: {err}") from None
    if problem_type == "Regression":
        mse = mean_squared_error(y, predictions)
        return {"version": 0.0, "dataset": {"item_count": len(y)}, "regression_metrics": {
            "mse": _metric(mse), "rmse": _metric(math.sqrt(mse)), "mae": _metric(mean_absolute_error(y, predictions)),
            "r2": _metric(r2_score(y, predictions))}}
    predicted = (predictions >= threshold).astype(np.float64)
    auc = roc_auc_score(y, predictions) if len(set(y.tolist())) == 2 else float("nan")
    return {"version": 0.0, "dataset": {"item_count": len(y)}, "binary_classification_metrics": {
        "accuracy": _metric(float((predicted == y).mean())), "auc": _metric(auc),
        "f1": _metric(f1_score(y, predicted, zero_division=0.0))}}


def objective_value(report: dict[str, Any], objective: str) -> float:
    """The objective's value in a report."""
    for section in ("binary_classification_metrics", "regression_metrics"):
        if objective in report.get(section, {}):
            return float(report[section][objective]["value"])
    raise EvaluationError(f"the evaluation report has no {objective!r}")


def improvement(objective: str, candidate: float, serving: float) -> float:
    """How much better the candidate is (positive = better), whichever direction the objective goes."""
    return candidate - serving if OBJECTIVES[objective] else serving - candidate
