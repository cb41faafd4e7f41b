"""SageMaker Experiments documents: experiments, trials, trial components and their metric summaries.

A trial component records which trials it belongs to (``Parents``), so one
write associates it; a trial's components are the ones naming it. Metrics
sent with ``BatchPutMetrics`` are kept as running summaries per metric name
(count, sum, sum of squares, min, max, the latest value by timestamp), what
``DescribeTrialComponent`` and ``Search`` return as ``Metrics``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import Field

from services.core.models import ApiModel

_PRIVATE = {"Tags", "Headwater"}


class Experiment(ApiModel):
    """An experiment document."""

    experiment_name: str
    experiment_arn: str
    display_name: str | None = None
    description: str | None = None
    source: dict[str, str] | None = None
    creation_time: datetime
    last_modified_time: datetime
    created_by: dict[str, Any] = Field(default_factory=dict)
    last_modified_by: dict[str, Any] = Field(default_factory=dict)
    tags: list[dict[str, str]] | None = None

    def describe(self) -> dict[str, Any]:
        """``DescribeExperiment``; SageMaker shows the name where no display name was given."""
        return {"DisplayName": self.experiment_name} | {k: v for k, v in self.to_api().items() if k not in _PRIVATE}

    def summary(self) -> dict[str, Any]:
        """An ``ExperimentSummary``."""
        d = self.describe()
        out = {k: d[k] for k in ("ExperimentArn", "ExperimentName", "DisplayName", "CreationTime",
                                 "LastModifiedTime") if k in d}
        if self.source:
            out["ExperimentSource"] = self.source
        return out

    def record(self) -> dict[str, Any]:
        """The ``Experiment`` search record."""
        return self.describe() | {"Tags": list(self.tags or [])}


class Trial(ApiModel):
    """A trial document."""

    trial_name: str
    trial_arn: str
    display_name: str | None = None
    experiment_name: str
    source: dict[str, str] | None = None
    creation_time: datetime
    last_modified_time: datetime
    created_by: dict[str, Any] = Field(default_factory=dict)
    last_modified_by: dict[str, Any] = Field(default_factory=dict)
    metadata_properties: dict[str, str] | None = None
    tags: list[dict[str, str]] | None = None

    def describe(self) -> dict[str, Any]:
        """``DescribeTrial``."""
        return {"DisplayName": self.trial_name} | {k: v for k, v in self.to_api().items() if k not in _PRIVATE}

    def summary(self) -> dict[str, Any]:
        """A ``TrialSummary``."""
        d = self.describe()
        out = {k: d[k] for k in ("TrialArn", "TrialName", "DisplayName", "CreationTime", "LastModifiedTime")}
        if self.source:
            out["TrialSource"] = self.source
        return out


class MetricStats(ApiModel):
    """Running summary of one metric's values."""

    count: int = 0
    total: float = 0.0
    squares: float = 0.0
    min: float | None = None
    max: float | None = None
    last: float = 0.0
    last_time: datetime | None = None

    def add(self, value: float, when: datetime) -> None:
        """Count one value measured at ``when``; the latest by time is ``Last`` (ties: the later sent)."""
        self.count += 1
        self.total += value
        self.squares += value * value
        self.min = value if self.min is None else min(self.min, value)
        self.max = value if self.max is None else max(self.max, value)
        if self.last_time is None or when >= self.last_time:
            self.last, self.last_time = value, when

    def summary(self, name: str, source_arn: str) -> dict[str, Any]:
        """A ``TrialComponentMetricSummary`` (``StdDev``: the sample standard deviation, 0 for one value)."""
        avg = self.total / self.count
        var = (self.squares - self.count * avg * avg) / (self.count - 1) if self.count > 1 else 0.0
        return {"MetricName": name, "SourceArn": source_arn, "TimeStamp": self.last_time, "Max": self.max,
                "Min": self.min, "Last": self.last, "Count": self.count, "Avg": avg,
                "StdDev": math.sqrt(max(var, 0.0))}


class TrialComponentBookkeeping(ApiModel):
    """Headwater's own fields on a trial component (never described)."""

    metrics: dict[str, MetricStats] = Field(default_factory=dict)
    # A job's trial component: the job's LastModifiedTime it was last written from (older events are stale).
    source_modified: datetime | None = None


class TrialComponent(ApiModel):
    """A trial component document (a run, or the record of a job)."""

    trial_component_name: str
    trial_component_arn: str
    display_name: str | None = None
    source: dict[str, str] | None = None
    status: dict[str, str] | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    creation_time: datetime
    last_modified_time: datetime
    created_by: dict[str, Any] = Field(default_factory=dict)
    last_modified_by: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    input_artifacts: dict[str, dict[str, str]] = Field(default_factory=dict)
    output_artifacts: dict[str, dict[str, str]] = Field(default_factory=dict)
    metadata_properties: dict[str, str] | None = None
    source_detail: dict[str, Any] | None = None
    run_name: str | None = None
    parents: list[dict[str, str]] = Field(default_factory=list)
    tags: list[dict[str, str]] | None = None
    headwater: TrialComponentBookkeeping = Field(default_factory=TrialComponentBookkeeping)

    def metrics(self) -> list[dict[str, Any]]:
        """The ``Metrics`` summaries, by name."""
        return [s.summary(name, self.trial_component_arn) for name, s in sorted(self.headwater.metrics.items())
                if s.count]

    def describe(self) -> dict[str, Any]:
        """``DescribeTrialComponent``."""
        doc = {k: v for k, v in self.to_api().items() if k not in _PRIVATE | {"SourceDetail", "RunName", "Parents"}}
        doc.setdefault("DisplayName", self.trial_component_name)
        doc["Metrics"] = self.metrics()
        if self.source:
            doc["Sources"] = [self.source]
        return doc

    def summary(self) -> dict[str, Any]:
        """A ``TrialComponentSummary``."""
        d = self.describe()
        out = {k: d[k] for k in ("TrialComponentName", "TrialComponentArn", "DisplayName", "Status", "StartTime",
                                 "EndTime", "CreationTime", "CreatedBy", "LastModifiedTime", "LastModifiedBy")
               if k in d}
        if self.source:
            out["TrialComponentSource"] = self.source
        return out

    def record(self) -> dict[str, Any]:
        """The ``TrialComponent`` search record: the description with its tags, parents, run and source."""
        doc = self.describe()
        doc.pop("Sources", None)
        extra = {"Tags": list(self.tags or []), "Parents": list(self.parents), "SourceDetail": self.source_detail,
                 "RunName": self.run_name}
        return doc | {k: v for k, v in extra.items() if v is not None}

    def simple_summary(self) -> dict[str, Any]:
        """A ``TrialComponentSimpleSummary`` (a trial's search record lists its components so)."""
        out: dict[str, Any] = {"TrialComponentName": self.trial_component_name,
                               "TrialComponentArn": self.trial_component_arn, "CreationTime": self.creation_time,
                               "CreatedBy": self.created_by}
        if self.source:
            out["TrialComponentSource"] = self.source
        return out
