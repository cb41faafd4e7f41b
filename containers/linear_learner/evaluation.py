"""Choosing a binary classifier's threshold, and the metrics Linear Learner reports (NumPy).

The threshold is chosen the way SageMaker describes it: on (score, label)
pairs from the validation channel (or train), the cut that maximizes the
``binary_classifier_model_selection_criteria``: accuracy, F-beta,
precision subject to recall >= ``target_recall``, or recall subject to
precision >= ``target_precision``. ``loss_function`` keeps the loss's
natural cut (probability 0.5, or margin 0 for hinge loss).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def _f_beta(precision: np.ndarray, recall: np.ndarray, beta: float) -> np.ndarray:
    b2 = beta * beta
    denom = b2 * precision + recall
    return np.where(denom > 0, (1 + b2) * precision * recall / np.where(denom > 0, denom, 1), 0.0)


def choose_threshold(scores: np.ndarray, y: np.ndarray, criterion: str, *, beta: float = 1.0,
                     target_precision: float = 0.8, target_recall: float = 0.8,
                     natural: float = 0.5) -> tuple[float, float]:
    """``(threshold, criterion value)``; predicted positive when ``score >= threshold``.

    A target that no cut reaches scores ``-1`` (worse than any reachable one),
    and the cut closest to the target is kept.
    """
    if criterion in ("loss_function", "cross_entropy_loss"):
        return natural, 0.0
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], y[order] > 0.5
    # Cuts only where the score changes: tied scores get the same label.
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    tp = np.cumsum(t)[ends].astype(np.float64)
    predicted = ends + 1.0
    positives, n = float(t.sum()), float(len(t))
    precision = tp / predicted
    recall = tp / positives if positives else np.zeros_like(tp)
    if criterion == "accuracy":
        value = (tp + (n - positives) - (predicted - tp)) / n
    elif criterion in ("f_beta", "f1"):
        value = _f_beta(precision, recall, 1.0 if criterion == "f1" else beta)
    elif criterion == "precision_at_target_recall":
        value = np.where(recall >= target_recall, precision, recall - 1 - 1e-9 * precision)
    elif criterion == "recall_at_target_precision":
        value = np.where(precision >= target_precision, recall, precision - 1 - 1e-9 * recall)
    else:
        raise ValueError(f"unknown criterion {criterion!r}")
    best = int(np.argmax(value))
    return float(s[ends[best]]), float(value[best])


def binary_metrics(scores: np.ndarray, y: np.ndarray, threshold: float, beta: float) -> dict[str, float]:
    """Accuracy, precision, recall, F-beta and ROC AUC at ``threshold``."""
    truth = y > 0.5
    predicted = scores >= threshold
    tp = float((truth & predicted).sum())
    precision = tp / predicted.sum() if predicted.sum() else 0.0
    recall = tp / truth.sum() if truth.sum() else 0.0
    return {"binary_classification_accuracy": float((truth == predicted).mean()),
            "precision": float(precision), "recall": float(recall),
            "binary_f_beta": float(_f_beta(np.array(precision), np.array(recall), beta)),
            "roc_auc_score": roc_auc(scores, truth)}


def roc_auc(scores: np.ndarray, truth: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); 0.5 when one class is absent."""
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if not positives or not negatives:
        return 0.5
    ranks = rankdata(scores)
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def multiclass_metrics(probs: np.ndarray, y: np.ndarray, top_k: int, beta: float) -> dict[str, float]:
    """Accuracy, top-k accuracy, macro precision / recall / F-beta and DCG of the true class."""
    labels = y.astype(np.int64)
    classes = probs.shape[1]
    predicted = probs.argmax(axis=1)
    # rank of the true class among the scores (0 = best)
    rank = (probs > probs[np.arange(len(labels)), labels][:, None]).sum(axis=1)
    precision, recall = np.zeros(classes), np.zeros(classes)
    for c in range(classes):
        tp = float(((predicted == c) & (labels == c)).sum())
        precision[c] = tp / max((predicted == c).sum(), 1)
        recall[c] = tp / max((labels == c).sum(), 1)
    return {"multiclass_accuracy": float((predicted == labels).mean()),
            "multiclass_top_k_accuracy": float((rank < top_k).mean()),
            "macro_precision": float(precision.mean()), "macro_recall": float(recall.mean()),
            "macro_f_beta": float(_f_beta(precision, recall, beta).mean()),
            "dcg": float((1.0 / np.log2(rank + 2.0)).mean())}


def regression_metrics(predictions: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Mean squared error, its root, and mean absolute error."""
    err = predictions.astype(np.float64) - y
    mse = float((err**2).mean())
    return {"mse": mse, "rmse": float(np.sqrt(mse)), "absolute_loss": float(np.abs(err).mean())}
