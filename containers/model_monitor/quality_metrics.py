"""Model quality metrics in SageMaker's model-quality statistics format.

Each scalar metric is ``{"value": v, "standard_deviation": s}``; as SageMaker
documents, the standard deviation is given only from 200 samples on, as the
spread of the metric over five random 80% subsamples (else ``"NaN"``).
``*_best_constant_classifier`` metrics are those of always predicting the
most frequent ground-truth class (the mean, for regression).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

BINARY = "BinaryClassification"
MULTICLASS = "MulticlassClassification"
REGRESSION = "Regression"
PROBLEM_TYPES = (BINARY, MULTICLASS, REGRESSION)

_MIN_FOR_STD = 200
_SUBSAMPLES = 5
_CURVE_POINTS = 100


def _f_beta(precision: float, recall: float, beta: float) -> float:
    b2 = beta * beta
    denominator = b2 * precision + recall
    return (1 + b2) * precision * recall / denominator if denominator else 0.0


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def binary_scalars(y_true: np.ndarray, y_pred: np.ndarray, positive: str) -> dict[str, float]:
    """Scalar binary metrics of string labels against the positive label."""
    t, p = y_true == positive, y_pred == positive
    tp, fp = float(np.sum(t & p)), float(np.sum(~t & p))
    fn, tn = float(np.sum(t & ~p)), float(np.sum(~t & ~p))
    precision, recall = _div(tp, tp + fp), _div(tp, tp + fn)
    return {
        "recall": recall,
        "precision": precision,
        "accuracy": _div(tp + tn, len(y_true)),
        "true_positive_rate": recall,
        "true_negative_rate": _div(tn, tn + fp),
        "false_positive_rate": _div(fp, fp + tn),
        "false_negative_rate": _div(fn, fn + tp),
        "f0_5": _f_beta(precision, recall, 0.5),
        "f1": _f_beta(precision, recall, 1.0),
        "f2": _f_beta(precision, recall, 2.0),
    }


def auc(y_true_positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    positives = int(y_true_positive.sum())
    negatives = len(y_true_positive) - positives
    if not positives or not negatives:
        return math.nan
    ranks = stats.rankdata(scores)
    return float((ranks[y_true_positive].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _curves(y_true_positive: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    order = np.argsort(-scores, kind="stable")
    hits = y_true_positive[order].astype(float)
    tp, fp = np.cumsum(hits), np.cumsum(1 - hits)
    positives, negatives = max(tp[-1], 1.0), max(fp[-1], 1.0)
    step = max(1, len(order) // _CURVE_POINTS)
    idx = np.unique(np.concatenate([np.arange(0, len(order), step), [len(order) - 1]]))
    return {
        "receiver_operating_characteristic_curve": {
            "false_positive_rates": [float(v) for v in fp[idx] / negatives],
            "true_positive_rates": [float(v) for v in tp[idx] / positives],
        },
        "precision_recall_curve": {
            "precisions": [float(v) for v in tp[idx] / (tp[idx] + fp[idx])],
            "recalls": [float(v) for v in tp[idx] / positives],
        },
    }


def multiclass_scalars(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and support-weighted recall / precision / F-scores."""
    support = Counter(y_true.tolist())
    total = len(y_true)
    out = {"accuracy": _div(float(np.sum(y_true == y_pred)), total)}
    weighted = {"weighted_recall": 0.0, "weighted_precision": 0.0, "weighted_f0_5": 0.0, "weighted_f1": 0.0, "weighted_f2": 0.0}
    for label, count in support.items():
        s = binary_scalars(y_true, y_pred, label)
        w = count / total
        weighted["weighted_recall"] += w * s["recall"]
        weighted["weighted_precision"] += w * s["precision"]
        weighted["weighted_f0_5"] += w * s["f0_5"]
        weighted["weighted_f1"] += w * s["f1"]
        weighted["weighted_f2"] += w * s["f2"]
    out.update(weighted)
    return out


def regression_scalars(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, MSE, RMSE and R^2."""
    error = y_pred - y_true
    mse = float(np.mean(error**2))
    variance = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(error))),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "r2": 1.0 - float(np.sum(error**2)) / variance if variance else math.nan,
    }


def _with_std(compute: Callable[[np.ndarray], dict[str, float]], n: int) -> dict[str, dict[str, Any]]:
    values = compute(np.arange(n))
    spreads: dict[str, list[float]] = {k: [] for k in values}
    if n >= _MIN_FOR_STD:
        rng = np.random.default_rng(0)
        for _ in range(_SUBSAMPLES):
            sample = compute(rng.choice(n, size=int(0.8 * n), replace=False))
            for k, v in sample.items():
                spreads[k].append(v)
    return {
        k: {"value": _json_float(v), "standard_deviation": _json_float(float(np.std(spreads[k])) if spreads[k] else math.nan)}
        for k, v in values.items()
    }


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else "NaN"


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, dict[str, int]]:
    """``{actual: {predicted: count}}`` over every label seen."""
    labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    return {a: {p: int(np.sum((y_true == a) & (y_pred == p))) for p in labels} for a in labels}


def compute_metrics(
    problem_type: str, y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None, positive: str = "1"
) -> dict[str, Any]:
    """The ``<problem>_metrics`` object of a model-quality statistics file."""
    n = len(y_true)
    if problem_type == REGRESSION:
        constant = np.full(n, float(np.mean(y_true)))
        metrics = _with_std(lambda i: regression_scalars(y_true[i], y_pred[i]), n)
        for k, v in regression_scalars(y_true, constant).items():
            metrics[f"{k}_best_constant_classifier"] = {"value": _json_float(v), "standard_deviation": "NaN"}
        return {"regression_metrics": metrics}
    majority = Counter(y_true.tolist()).most_common(1)[0][0]
    constant = np.full(n, majority, dtype=object)
    if problem_type == BINARY:

        def scalars(i: np.ndarray) -> dict[str, float]:
            out = binary_scalars(y_true[i], y_pred[i], positive)
            if scores is not None:
                out["auc"] = auc(y_true[i] == positive, scores[i])
            return out

        metrics: dict[str, Any] = {"confusion_matrix": confusion_matrix(y_true, y_pred)}
        metrics.update(_with_std(scalars, n))
        base = binary_scalars(y_true, constant, positive)
        for k in ("recall", "precision", "accuracy", "f0_5", "f1", "f2"):
            metrics[f"{k}_best_constant_classifier"] = {"value": base[k], "standard_deviation": "NaN"}
        if scores is not None:
            metrics.update(_curves(y_true == positive, scores))
        return {"binary_classification_metrics": metrics}
    metrics = {"confusion_matrix": confusion_matrix(y_true, y_pred)}
    metrics.update(_with_std(lambda i: multiclass_scalars(y_true[i], y_pred[i]), n))
    for k, v in multiclass_scalars(y_true, constant).items():
        metrics[f"{k}_best_constant_classifier"] = {"value": v, "standard_deviation": "NaN"}
    return {"multiclass_classification_metrics": metrics}
