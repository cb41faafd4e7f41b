"""The analyzer's job, read once from its environment contract."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from containers.model_monitor import params
from containers.model_monitor.errors import MonitorInputError
from containers.shared.capture import parse_instant

CAPTURE_FORMAT = "sagemakerCaptureJson"
_DEFAULT_CAPTURE_INDEXES = ("endpointInput", "endpointOutput")


@dataclass(frozen=True)
class DatasetFormat:
    """``dataset_format``: csv (header, output position), json lines, or capture JSON."""

    kind: str  # "csv" | "json" | "capture"
    header: bool = False
    output_columns_position: str = "START"
    capture_indexes: tuple[str, ...] = _DEFAULT_CAPTURE_INDEXES

    @classmethod
    def parse(cls, raw: str | None) -> DatasetFormat:
        """Parse the JSON the SDK (``DatasetFormat.csv()`` ...) or the platform sends."""
        if not raw:
            return cls(kind="capture")
        try:
            spec = json.loads(raw)
        except ValueError as exc:
            raise MonitorInputError(f"dataset_format is not JSON: {raw!r} ({exc})") from None
        if not isinstance(spec, dict) or len(spec) != 1:
            raise MonitorInputError(f"dataset_format must name exactly one format: {raw!r}")
        (name, options), = spec.items()
        options = options if isinstance(options, dict) else {}
        lowered = {k.lower(): v for k, v in options.items()}
        key = name.lower()
        if key == "csv":
            return cls(
                kind="csv",
                header=_truthy(lowered.get("header", False)),
                output_columns_position=str(lowered.get("output_columns_position", "START")).upper(),
            )
        if key == "json":
            lines = lowered.get("lines", lowered.get("line", True))
            if not _truthy(lines):
                return cls(kind="json_document")
            return cls(kind="json")
        if key == CAPTURE_FORMAT.lower():
            indexes = options.get("captureIndexNames") or list(_DEFAULT_CAPTURE_INDEXES)
            return cls(
                kind="capture",
                capture_indexes=tuple(indexes),
                output_columns_position=str(lowered.get("output_columns_position", "START")).upper(),
            )
        raise MonitorInputError(
            f"dataset_format {name!r} is not supported; use csv, json or sagemakerCaptureJson"
        )


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, list):  # the docs show {"header": ["true","false"]} as a choice list
        value = value[0] if value else False
    return str(value).strip().lower() in ("true", "1", "yes")


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO-8601 instant from the contract (the docs' examples carry stray spaces)."""
    try:
        return parse_instant(value)
    except ValueError:
        raise MonitorInputError(f"{name} is not an ISO-8601 time: {value!r}") from None


@dataclass(frozen=True)
class AnalyzerConfig:
    """Everything one analyzer run is asked to do."""

    dataset_format: DatasetFormat
    dataset_source: Path
    output_path: Path
    baseline_constraints: Path | None
    baseline_statistics: Path | None
    publish_metrics: bool
    model_quality: bool
    categorical_drift_method: str | None
    record_preprocessor: Path | None
    post_processor: Path | None
    start_time: datetime | None
    end_time: datetime | None
    metric_time: datetime | None
    endpoint_name: str | None
    schedule_name: str | None
    problem_type: str | None
    inference_attribute: str | None
    probability_attribute: str | None
    probability_threshold: float
    ground_truth_attribute: str | None
    ground_truth_source: Path

    @property
    def is_monitoring(self) -> bool:
        """Monitoring evaluates a baseline; baselining suggests one."""
        return self.baseline_constraints is not None or self.baseline_statistics is not None

    @classmethod
    def read(cls, env: Mapping[str, str] | None = None) -> AnalyzerConfig:
        """Read the contract from ``env`` (``os.environ`` by default)."""
        env = os.environ if env is None else env

        def path(name: str, default: Path | None = None) -> Path | None:
            value = env.get(name)
            return params.resolve(value) if value else default

        threshold = env.get(params.PROBABILITY_THRESHOLD_ATTRIBUTE) or "0.5"
        try:
            probability_threshold = float(threshold)
        except ValueError:
            raise MonitorInputError(f"probability_threshold_attribute is not a number: {threshold!r}") from None
        method = env.get(params.CATEGORICAL_DRIFT_METHOD) or None
        if method not in (None, "LInfinity", "ChiSquared"):
            raise MonitorInputError(f"categorical_drift_method must be LInfinity or ChiSquared, not {method!r}")
        return cls(
            dataset_format=DatasetFormat.parse(env.get(params.DATASET_FORMAT)),
            dataset_source=path(params.DATASET_SOURCE, params.default_dataset_source()),
            output_path=path(params.OUTPUT_PATH, params.default_output_path()),
            baseline_constraints=path(params.BASELINE_CONSTRAINTS),
            baseline_statistics=path(params.BASELINE_STATISTICS),
            publish_metrics=(env.get(params.PUBLISH_CLOUDWATCH_METRICS) or "").lower() == "enabled",
            model_quality=(env.get(params.ANALYSIS_TYPE) or "").upper() == params.MODEL_QUALITY,
            categorical_drift_method=method,
            record_preprocessor=path(params.RECORD_PREPROCESSOR_SCRIPT),
            post_processor=path(params.POST_ANALYTICS_PROCESSOR_SCRIPT),
            start_time=parse_time(env.get(params.START_TIME), params.START_TIME),
            end_time=parse_time(env.get(params.END_TIME), params.END_TIME),
            metric_time=parse_time(env.get(params.METRIC_TIME), params.METRIC_TIME),
            endpoint_name=env.get(params.ENDPOINT_NAME) or None,
            schedule_name=env.get(params.MONITORING_SCHEDULE_NAME) or None,
            problem_type=env.get(params.PROBLEM_TYPE) or None,
            inference_attribute=env.get(params.INFERENCE_ATTRIBUTE) or None,
            probability_attribute=env.get(params.PROBABILITY_ATTRIBUTE) or None,
            probability_threshold=probability_threshold,
            ground_truth_attribute=env.get(params.GROUND_TRUTH_ATTRIBUTE) or None,
            ground_truth_source=path(params.GROUND_TRUTH_SOURCE, params.default_ground_truth_source()),
        )
