"""Training metrics read from the log, as SageMaker reads them.

``MetricDefinitions`` (a name and a regex whose first group is the value)
are applied to every log line in the form CloudWatch shows it (tabs as
``#011``), so regexes written for SageMaker match. Built-in algorithms
bring their own definitions, as SageMaker's do. The collector keeps each
metric's series (for tuning's early stopping and CloudWatch) and its last
value (``FinalMetricDataList``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.training.models import MetricData, MetricDefinition

_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_XGB_METRICS = ("rmse", "mae", "logloss", "error", "auc", "aucpr", "merror", "mlogloss", "map", "ndcg",
                "poisson-nloglik", "gamma-nloglik", "cox-nloglik", "gamma-deviance", "tweedie-nloglik",
                "mape", "mphe", "rmsle")


def _xgboost_definitions() -> list[MetricDefinition]:
    out = []
    for channel in ("train", "validation"):
        for metric in _XGB_METRICS:
            regex = rf".*\[[0-9]+\].*#011{channel}-{re.escape(metric)}:{_NUMBER}.*"
            out.append(MetricDefinition(name=f"{channel}:{metric}", regex=regex))
    return out


def _first_party_definitions(channels: tuple[str, ...], metrics: tuple[str, ...]) -> list[MetricDefinition]:
    """SageMaker's first-party algorithms print ``#quality_metric: host=algo-1, test msd <loss>=1.25``."""
    return [MetricDefinition(name=f"{channel}:{metric}",
                             # Per-epoch lines (Linear Learner, Factorization Machines) carry "epoch=3, " first.
                             regex=rf"#quality_metric: host=\S+, (?:(?:epoch|batch)=\S+, )*{channel} "
                                   rf"{re.escape(metric)} <\w+>={_NUMBER}")
            for channel in channels for metric in metrics]


# Linear Learner's metrics (binary, multiclass and regression), as SageMaker's tuning documentation lists them.
_LINEAR_LEARNER_METRICS = ("objective_loss", "binary_classification_accuracy", "binary_f_beta", "precision", "recall",
                           "roc_auc_score", "multiclass_accuracy", "multiclass_top_k_accuracy", "macro_precision",
                           "macro_recall", "macro_f_beta", "dcg", "mse", "rmse", "absolute_loss")


#: Definitions a built-in container emits without being asked (by container name).
BUILTIN_METRICS: dict[str, list[MetricDefinition]] = {
    "xgboost": _xgboost_definitions(),
    "kmeans": _first_party_definitions(("train", "test"), ("msd", "ssd")),
    "linear_learner": _first_party_definitions(("train", "validation", "test"), _LINEAR_LEARNER_METRICS),
    "factorization_machines": _first_party_definitions(("train", "test"), (
        "rmse", "binary_classification_accuracy", "binary_classification_cross_entropy", "binary_f_beta")),
    "knn": _first_party_definitions(("test",), ("accuracy", "mse")),
    "lda": _first_party_definitions(("test",), ("pwll",)),
    "randomcutforest": _first_party_definitions(("test",), ("accuracy", "precision", "recall", "f1", "negative_precision",
                                                            "negative_recall", "negative_f1")),
    "ipinsights": _first_party_definitions(("train", "validation"), ("binary_classification_cross_entropy", "discriminator_auc", "auc")),
}

# xgboost's evaluation lines carry their round: "[12]#011train-rmse:..."
_STEP = re.compile(r"^\s*\[(\d+)\]")


@dataclass
class Observation:
    """One value of one metric at one time (and round, when the line has one)."""

    name: str
    value: float
    timestamp: datetime
    step: int | None = None


@dataclass
class MetricsCollector:
    """Applies definitions to log lines; keeps series and last values."""

    definitions: list[MetricDefinition]
    series: dict[str, list[Observation]] = field(default_factory=dict)
    listeners: list[Callable[[Observation], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._compiled = []
        for d in self.definitions:
            try:
                self._compiled.append((d.name, re.compile(d.regex)))
            except re.error:
                continue  # CreateTrainingJob validated the pattern's syntax; a Java-only regex is skipped

    def feed(self, line: str, when: datetime) -> list[Observation]:
        """Observations in one (CloudWatch-form) log line."""
        found = []
        step_match = _STEP.match(line)
        step = int(step_match.group(1)) if step_match else None
        for name, regex in self._compiled:
            m = regex.search(line)
            if not m or not m.groups():
                continue
            try:
                value = float(m.group(1))
            except (TypeError, ValueError):
                continue
            obs = Observation(name, value, when, step)
            self.series.setdefault(name, []).append(obs)
            found.append(obs)
            for listener in self.listeners:
                listener(obs)
        return found

    def final(self) -> list[MetricData]:
        """``FinalMetricDataList``: each metric's last value."""
        return [MetricData(metric_name=name, value=obs[-1].value, timestamp=obs[-1].timestamp)
                for name, obs in sorted(self.series.items()) if obs]


def definitions_for(container: str | None, requested: list[MetricDefinition] | None) -> list[MetricDefinition]:
    """The job's own definitions plus its built-in container's (the job's win on a name clash)."""
    own = list(requested or [])
    names = {d.name for d in own}
    return own + [d for d in BUILTIN_METRICS.get(container or "", []) if d.name not in names]
