"""Training metrics read from the log, as SageMaker reads them.

``MetricDefinitions`` (a name and a regex whose first group is the value)
are applied to every log line in the form CloudWatch shows it (tabs as
``#011``), so regexes written for SageMaker match. Built-in algorithms
bring their own definitions, as SageMaker's do. The collector keeps each
metric's series (for tuning's early stopping and CloudWatch) and its last
value (``FinalMetricDataList``).

Every line of every job passes through these regexes in the node's process,
so matching is bounded: it runs on threads of its own, never the event loop
(the ``regex`` module lets go of the GIL while it matches), a regex gets at
most :data:`LINE_BUDGET_SECONDS` per line, and one that runs over (a
catastrophic backtracker) is turned off for the rest of the job with a note
for its log. A regex that does not compile is refused when the job is
created.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import regex

from services.core.exceptions import ValidationException
from services.training.models import MetricData, MetricDefinition

# The longest one definition may spend on one line before it is turned off.
LINE_BUDGET_SECONDS = 0.1
# Matching runs here: a few threads of its own, so no job's log competes with the node's event loop or the
# default executor's threads.
_MATCHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="metric-regex")

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


def compile_metric_regex(expression: str) -> regex.Pattern[str]:
    """A definition's regex, compiled as every line will be matched with it (``regex.error`` if it cannot be)."""
    return regex.compile(expression, regex.V0)


def check_metric_definitions(definitions: list[MetricDefinition] | None) -> None:
    """Refuse a request whose ``MetricDefinitions`` hold a regex that cannot compile."""
    for d in definitions or []:
        try:
            compile_metric_regex(d.regex)
        except regex.error as err:
            raise ValidationException(f"MetricDefinitions {d.name}: the regex '{d.regex}' is not valid: {err}") from err


@dataclass
class _Matcher:
    name: str
    pattern: regex.Pattern[str]
    # A pattern that starts with ".*" matches at the start of the line whenever it matches at all, with the same
    # groups: trying it at every position (search) only makes a long line quadratic.
    anchored: bool


@dataclass
class MetricsCollector:
    """Applies definitions to log lines; keeps series and last values."""

    definitions: list[MetricDefinition]
    series: dict[str, list[Observation]] = field(default_factory=dict)
    listeners: list[Callable[[Observation], None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the job's log: definitions turned off, and why

    def __post_init__(self) -> None:
        self._matchers: list[_Matcher] = []
        for d in self.definitions:
            try:
                pattern = compile_metric_regex(d.regex)
            except regex.error as err:  # a built-in's, or a job created before regexes were checked
                self.notes.append(f"metric definition {d.name} is not collected: its regex does not compile ({err})")
                continue
            self._matchers.append(_Matcher(d.name, pattern, d.regex.startswith(".*")))

    def feed(self, line: str, when: datetime) -> list[Observation]:
        """Observations in one (CloudWatch-form) log line."""
        return self._record(self._match(line), line, when)

    async def observe(self, line: str, when: datetime) -> list[Observation]:
        """:meth:`feed`, with the regexes run off the event loop."""
        matched = await asyncio.get_running_loop().run_in_executor(_MATCHING, self._match, line)
        return self._record(matched, line, when)

    def _match(self, line: str) -> list[tuple[str, float]]:
        found = []
        for matcher in list(self._matchers):
            find = matcher.pattern.match if matcher.anchored else matcher.pattern.search
            try:
                m = find(line, concurrent=True, timeout=LINE_BUDGET_SECONDS)
            except TimeoutError:
                self._matchers.remove(matcher)
                self.notes.append(f"metric definition {matcher.name} is turned off: its regex "
                                  f"'{matcher.pattern.pattern}' took over {LINE_BUDGET_SECONDS:g} s on one line "
                                  f"of {len(line)} characters")
                continue
            if not m or not m.groups():
                continue
            try:
                found.append((matcher.name, float(m.group(1))))
            except (TypeError, ValueError):
                continue
        return found

    def _record(self, matched: list[tuple[str, float]], line: str, when: datetime) -> list[Observation]:
        step_match = _STEP.match(line)
        step = int(step_match.group(1)) if step_match else None
        found = []
        for name, value in matched:
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
