"""Model quality: predictions merged with ground truth, metrics, constraints.

Baselining reads a dataset whose columns hold the prediction
(``inference_attribute``), optionally the probability
(``probability_attribute``) and the label (``ground_truth_attribute``); a
CSV without header names them by position (``0``, ``1``...). Monitoring reads
the window's captured predictions and the ground-truth files merged by
``eventMetadata.eventId``, in SageMaker's format::

    {"groundTruthData": {"data": "1", "encoding": "CSV"},
     "eventMetadata": {"eventId": "..."}, "eventVersion": "0"}

Constraints are SageMaker's: ``<problem>_constraints`` of ``{metric:
{"threshold", "comparison_operator"}}``, the threshold suggested at the
baseline's value, ``GreaterThanThreshold`` for error metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from containers.model_monitor.errors import LineErrors, MonitorInputError
from containers.model_monitor.quality_metrics import BINARY, MULTICLASS, PROBLEM_TYPES, REGRESSION, compute_metrics
from containers.model_monitor.records import PayloadError, csv_rows
from containers.shared.capture import CapturedEvent, CaptureLineError, decode_payload

LESS = "LessThanThreshold"
GREATER = "GreaterThanThreshold"
_KEYS = {BINARY: "binary_classification", MULTICLASS: "multiclass_classification", REGRESSION: "regression"}
_SUGGESTED = {
    BINARY: {
        "recall": LESS, "precision": LESS, "accuracy": LESS, "true_positive_rate": LESS,
        "true_negative_rate": LESS, "false_positive_rate": GREATER, "false_negative_rate": GREATER,
        "auc": LESS, "f0_5": LESS, "f1": LESS, "f2": LESS,
    },
    MULTICLASS: {
        "accuracy": LESS, "weighted_recall": LESS, "weighted_precision": LESS,
        "weighted_f0_5": LESS, "weighted_f1": LESS, "weighted_f2": LESS,
    },
    REGRESSION: {"mae": GREATER, "mse": GREATER, "rmse": GREATER, "r2": LESS},
}


def check_problem_type(problem_type: str | None) -> str:
    """The problem type, or a clear error."""
    if problem_type not in PROBLEM_TYPES:
        raise MonitorInputError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, not {problem_type!r}")
    return problem_type


def label_text(value: Any) -> str:
    """A class label as text (``1``, ``1.0`` and ``true`` are the same class)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return "1" if text.lower() == "true" else "0"
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def pick(data: str, content_type: str, attribute: str | None) -> Any:
    """One value of a prediction or label payload: a CSV index or a JSON path."""
    kind = content_type.lower()
    if "json" in kind or data.lstrip().startswith(("{", "[")):
        document = json.loads(data)
        if attribute is None:
            while isinstance(document, list) and len(document) == 1:
                document = document[0]
            if isinstance(document, dict) and len(document) == 1:
                document = next(iter(document.values()))
            while isinstance(document, list) and len(document) == 1:
                document = document[0]
            return document
        node: Any = document
        for part in attribute.removeprefix("$.").replace("[", ".").replace("]", "").split("."):
            if part == "":
                continue
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node
    rows = csv_rows(data)
    if len(rows) != 1:
        raise PayloadError(f"expected one CSV record, found {len(rows)}")
    return rows[0][int(attribute) if attribute is not None else 0]


@dataclass
class Predictions:
    """Aligned ground truth, predicted labels and (optional) scores."""

    truth: list[Any] = field(default_factory=list)
    predicted: list[Any] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def add(self, truth: Any, predicted: Any, score: float | None) -> None:
        """Add one example."""
        self.truth.append(truth)
        self.predicted.append(predicted)
        if score is not None:
            self.scores.append(score)


@dataclass(frozen=True)
class QualitySpec:
    """Which attribute holds what, and how to turn a probability into a label."""

    problem_type: str
    inference_attribute: str | None
    probability_attribute: str | None
    ground_truth_attribute: str | None
    probability_threshold: float


def prediction_of(raw_label: Any, raw_score: Any, spec: QualitySpec) -> tuple[Any, float | None]:
    """The predicted label (from the label or the thresholded score) and score."""
    score = float(raw_score) if raw_score is not None and str(raw_score).strip() != "" else None
    if spec.problem_type == REGRESSION:
        return float(raw_label if raw_label is not None else raw_score), None
    if raw_label is None and score is not None:
        return ("1" if score >= spec.probability_threshold else "0"), score
    if raw_label is None:
        raise PayloadError("no prediction found (set inference_attribute or probability_attribute)")
    if spec.problem_type == BINARY and score is None and spec.inference_attribute is None:
        # A lone fractional output in [0, 1] of a binary model is its probability.
        try:
            value = float(raw_label)
        except (TypeError, ValueError):
            value = None
        if value is not None and 0.0 <= value <= 1.0 and not value.is_integer():
            return ("1" if value >= spec.probability_threshold else "0"), value
    return label_text(raw_label), score


def from_dataset(records: list[dict[str, Any]], spec: QualitySpec) -> Predictions:
    """Baselining: every record carries its prediction and its label."""
    if spec.ground_truth_attribute is None:
        raise MonitorInputError("ground_truth_attribute is required to baseline model quality")
    out = Predictions()
    for number, record in enumerate(records, start=1):
        def get(attribute: str | None) -> Any:
            if attribute is None:
                return None
            key = attribute if attribute in record else f"_c{attribute}"
            if key not in record:
                raise MonitorInputError(f"record {number} has no column {attribute!r} (columns: {sorted(record)})")
            return record[key]

        label, score = prediction_of(get(spec.inference_attribute), get(spec.probability_attribute), spec)
        truth = get(spec.ground_truth_attribute)
        out.add(float(truth) if spec.problem_type == REGRESSION else label_text(truth), label, score)
    return out


def read_ground_truth(source: Path, attribute: str | None, errors: LineErrors) -> dict[str, Any]:
    """eventId -> label from every ground-truth file under ``source``."""
    labels: dict[str, Any] = {}
    if not source.exists():
        raise MonitorInputError(f"ground truth folder {source} does not exist")
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    document = json.loads(line)
                    event_id = (document.get("eventMetadata") or {}).get("eventId")
                    if not event_id:
                        raise CaptureLineError("no eventMetadata.eventId")
                    payload = decode_payload(document.get("groundTruthData"), "groundTruthData")
                    if payload is None:
                        raise CaptureLineError("no groundTruthData")
                    labels[str(event_id)] = pick(payload.data, payload.observed_content_type, attribute)
                except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                    errors.add(str(path), number, f"unusable ground truth: {exc}")
    return labels


def from_capture(events: list[CapturedEvent], labels: dict[str, Any], spec: QualitySpec, errors: LineErrors) -> Predictions:
    """Monitoring: captured predictions that have a ground-truth label."""
    out = Predictions()
    for event in events:
        # The caller's inferenceId when the capture has one, else the generated eventId (SageMaker's rule).
        truth = labels.get(str(event.inference_id or event.event_id))
        if truth is None or event.endpoint_output is None:
            continue
        output = event.endpoint_output
        try:
            raw_label = pick(output.data, output.observed_content_type, spec.inference_attribute) if (
                spec.inference_attribute is not None or spec.probability_attribute is None
            ) else None
            raw_score = (
                pick(output.data, output.observed_content_type, spec.probability_attribute)
                if spec.probability_attribute is not None
                else None
            )
            label, score = prediction_of(raw_label, raw_score, spec)
            out.add(float(truth) if spec.problem_type == REGRESSION else label_text(truth), label, score)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            errors.add(event.path, event.line, f"unusable prediction: {exc}")
    return out


def statistics(predictions: Predictions, spec: QualitySpec, evaluation_time: str) -> dict[str, Any]:
    """The model-quality statistics document."""
    if not predictions.truth:
        raise MonitorInputError("no prediction could be matched with a ground-truth label")
    if spec.problem_type == REGRESSION:
        truth, predicted = np.asarray(predictions.truth, float), np.asarray(predictions.predicted, float)
        scores = None
    else:
        truth = np.asarray(predictions.truth, dtype=object)
        predicted = np.asarray(predictions.predicted, dtype=object)
        complete = len(predictions.scores) == len(predictions.truth)
        scores = np.asarray(predictions.scores, float) if complete else None
    document = {"version": 0.0, "dataset": {"item_count": len(truth), "evaluation_time": evaluation_time}}
    document.update(compute_metrics(spec.problem_type, truth, predicted, scores))
    return document


def suggest_constraints(stats: dict[str, Any], problem_type: str) -> dict[str, Any]:
    """Constraints at the baseline's values."""
    metrics = stats[f"{_KEYS[problem_type]}_metrics"]
    suggested = {
        name: {"threshold": metrics[name]["value"], "comparison_operator": op}
        for name, op in _SUGGESTED[problem_type].items()
        if name in metrics and isinstance(metrics[name]["value"], float)
    }
    return {"version": 0.0, f"{_KEYS[problem_type]}_constraints": suggested}


def evaluate(stats: dict[str, Any], constraints: dict[str, Any]) -> list[dict[str, str]]:
    """Violations of a window's metrics against the constraints."""
    violations = []
    for key in _KEYS.values():
        bounds = constraints.get(f"{key}_constraints") or {}
        metrics = stats.get(f"{key}_metrics") or {}
        for name, bound in bounds.items():
            value = (metrics.get(name) or {}).get("value")
            if not isinstance(value, float):
                continue
            op, threshold = bound.get("comparison_operator", LESS), float(bound["threshold"])
            broken = value < threshold if op == LESS else value > threshold
            if broken:
                std = metrics[name].get("standard_deviation")
                spread = f" +/- {std}" if isinstance(std, float) else ""
                violations.append(
                    {
                        "metric_name": name,
                        "constraint_check_type": op,
                        "description": f"Metric {name} with {value}{spread} was {op} '{threshold}'",
                    }
                )
    return violations


def scalar_metrics(stats: dict[str, Any]) -> list[tuple[str, float]]:
    """(name, value) of every scalar metric, for CloudWatch."""
    out = []
    for key in _KEYS.values():
        for name, metric in (stats.get(f"{key}_metrics") or {}).items():
            if isinstance(metric, dict) and isinstance(metric.get("value"), float):
                out.append((name, metric["value"]))
    return out
