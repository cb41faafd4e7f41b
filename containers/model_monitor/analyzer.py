"""The analyzer's four jobs: data/model quality x baselining/monitoring.

Every job writes its reports to ``output_path`` before it reports the bad
input lines it skipped, so that nothing read successfully is lost.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from containers.model_monitor import cloudwatch, model_quality, params
from containers.model_monitor.capture import read_capture
from containers.model_monitor.config import AnalyzerConfig
from containers.model_monitor.constraints import feature_settings, suggest_constraints
from containers.model_monitor.datasets import read_dataset
from containers.model_monitor.errors import LineErrors, MonitorInputError
from containers.model_monitor.kll import KllSketch
from containers.model_monitor.profile import NUMERIC_TYPES, ColumnProfile, feature_statistics, profile_columns
from containers.model_monitor.records import PayloadError, Record, combine, name_record, payload_records
from containers.model_monitor.scripts import RecordPreprocessor, run_post_processor
from containers.model_monitor.violations import evaluate
from containers.shared.capture import CapturedEvent

LOG = logging.getLogger("model_monitor")
# The Headwater-specific key added to each feature of a window's statistics.
DRIFT_KEY = "headwater_drift"


def write_json(folder: Path, name: str, document: dict[str, Any]) -> Path:
    """Write one report file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def load_json(path: Path, what: str) -> dict[str, Any]:
    """Read a baseline file or fail with the reason."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MonitorInputError(f"{what} {path} does not exist") from None
    except ValueError as exc:
        raise MonitorInputError(f"{what} {path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MonitorInputError(f"{what} {path} is not a JSON object")
    return document


def _sketches(profiles: list[ColumnProfile], numeric: set[str] | None = None) -> dict[str, KllSketch]:
    return {
        p.name: p.sketch()
        for p in profiles
        if p.numbers and (p.inferred_type in NUMERIC_TYPES or (numeric is not None and p.name in numeric))
    }


def _statistics(profiles: list[ColumnProfile], sketches: dict[str, KllSketch], count: int) -> dict[str, Any]:
    return {
        "version": 0.0,
        "dataset": {"item_count": count},
        "features": [feature_statistics(p, sketches.get(p.name)) for p in profiles],
    }


def _finish(config: AnalyzerConfig, errors: LineErrors, what: str) -> None:
    if config.post_processor is not None:
        run_post_processor(config.post_processor)
    if errors:
        raise errors.to_error(what)


def baseline_data_quality(config: AnalyzerConfig) -> None:
    """Dataset -> statistics.json + constraints.json."""
    dataset = read_dataset(config.dataset_source, config.dataset_format)
    if not dataset.records:
        raise (dataset.errors.to_error("dataset") if dataset.errors else MonitorInputError(
            f"the dataset under {config.dataset_source} holds no records"))
    profiles = profile_columns(dataset.records, dataset.names)
    sketches = _sketches(profiles)
    write_json(config.output_path, params.STATISTICS_FILE, _statistics(profiles, sketches, len(dataset.records)))
    constraints = suggest_constraints(profiles, config.categorical_drift_method)
    write_json(config.output_path, params.CONSTRAINTS_FILE, constraints)
    LOG.info("baselined %d records, %d features", len(dataset.records), len(profiles))
    _finish(config, dataset.errors, "dataset")


def captured_records(events: list[CapturedEvent], config: AnalyzerConfig, errors: LineErrors) -> list[Record]:
    """The monitored records of the captured events (user preprocessor or SageMaker's rules)."""
    preprocess = RecordPreprocessor(config.record_preprocessor) if config.record_preprocessor else None
    indexes = set(config.dataset_format.capture_indexes)
    output_first = config.dataset_format.output_columns_position != "END"
    records: list[Record] = []
    for event in events:
        try:
            if preprocess is not None:
                records.extend(preprocess(event))
                continue
            inputs = outputs = None
            if "endpointInput" in indexes and event.endpoint_input is not None:
                inputs = payload_records(event.endpoint_input.data, event.endpoint_input.observed_content_type)
            if "endpointOutput" in indexes and event.endpoint_output is not None:
                outputs = payload_records(event.endpoint_output.data, event.endpoint_output.observed_content_type)
            if inputs is not None and outputs is not None and len(inputs) != len(outputs):
                raise PayloadError(f"endpointInput holds {len(inputs)} records but endpointOutput {len(outputs)}")
            count = len(inputs if inputs is not None else outputs or [])
            for i in range(count):
                records.append(
                    combine(inputs[i] if inputs is not None else None, outputs[i] if outputs is not None else None, output_first)
                )
        except (PayloadError, ValueError, TypeError, KeyError) as exc:
            errors.add(event.path, event.line, f"unusable capture record: {exc}")
    return records


def _window_events(config: AnalyzerConfig, errors: LineErrors) -> list[CapturedEvent]:
    events = read_capture(config.dataset_source, config.endpoint_name, config.start_time, config.end_time, errors)
    if not events and not errors:
        raise MonitorInputError(
            f"no captured data under {config.dataset_source} between {config.start_time} and {config.end_time}"
        )
    return events


def monitor_data_quality(config: AnalyzerConfig) -> None:
    """Captured window -> statistics.json + constraint_violations.json (+ metrics)."""
    constraints = load_json(config.baseline_constraints, "baseline_constraints") if config.baseline_constraints else {}
    statistics = load_json(config.baseline_statistics, "baseline_statistics") if config.baseline_statistics else None
    errors = LineErrors()
    events = _window_events(config, errors)
    records = captured_records(events, config, errors)
    base_features = constraints.get("features") or (statistics or {}).get("features") or []
    base_names = [f["name"] for f in base_features]
    named = [name_record(r, base_names) for r in records]
    names: list[str] = []
    seen: set[str] = set()
    for record in named:
        for key in record:
            if key not in seen:
                seen.add(key)
                names.append(key)
    profiles = profile_columns(named, names)
    numeric = {f["name"] for f in base_features if f.get("inferred_type") in NUMERIC_TYPES}
    sketches = _sketches(profiles, numeric)
    evaluation = evaluate(constraints, statistics, profiles, sketches, config.categorical_drift_method)
    window = _statistics(profiles, sketches, len(named))
    for feature in window["features"]:
        if feature["name"] in evaluation.drift:
            feature[DRIFT_KEY] = evaluation.drift[feature["name"]]
    write_json(config.output_path, params.STATISTICS_FILE, window)
    write_json(config.output_path, params.VIOLATIONS_FILE, {"violations": evaluation.violations})
    if config.publish_metrics and feature_settings(constraints, None, None).emit_metrics:
        data = cloudwatch.metric_data(evaluation.metrics, _metric_time(config), config.endpoint_name, config.schedule_name)
        cloudwatch.write_metrics(params.DATA_METRICS, data)
    LOG.info("monitored %d records: %d violations", len(named), len(evaluation.violations))
    _finish(config, errors, "capture")


def _metric_time(config: AnalyzerConfig) -> datetime:
    return config.metric_time or config.end_time or datetime.now(timezone.utc)


def _spec(config: AnalyzerConfig) -> model_quality.QualitySpec:
    return model_quality.QualitySpec(
        problem_type=model_quality.check_problem_type(config.problem_type),
        inference_attribute=config.inference_attribute,
        probability_attribute=config.probability_attribute,
        ground_truth_attribute=config.ground_truth_attribute,
        probability_threshold=config.probability_threshold,
    )


def baseline_model_quality(config: AnalyzerConfig) -> None:
    """Labelled predictions -> model-quality statistics.json + constraints.json."""
    spec = _spec(config)
    dataset = read_dataset(config.dataset_source, config.dataset_format)
    predictions = model_quality.from_dataset(dataset.records, spec)
    stats = model_quality.statistics(predictions, spec, _metric_time(config).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    write_json(config.output_path, params.STATISTICS_FILE, stats)
    write_json(config.output_path, params.CONSTRAINTS_FILE, model_quality.suggest_constraints(stats, spec.problem_type))
    _finish(config, dataset.errors, "dataset")


def monitor_model_quality(config: AnalyzerConfig) -> None:
    """Captured predictions + ground truth -> statistics + violations (+ metrics)."""
    spec = _spec(config)
    constraints = load_json(config.baseline_constraints, "baseline_constraints") if config.baseline_constraints else {}
    errors = LineErrors()
    events = _window_events(config, errors)
    labels = model_quality.read_ground_truth(config.ground_truth_source, config.ground_truth_attribute, errors)
    predictions = model_quality.from_capture(events, labels, spec, errors)
    stats = model_quality.statistics(predictions, spec, _metric_time(config).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    write_json(config.output_path, params.STATISTICS_FILE, stats)
    write_json(config.output_path, params.VIOLATIONS_FILE, {"violations": model_quality.evaluate(stats, constraints)})
    if config.publish_metrics:
        data = cloudwatch.metric_data(
            model_quality.scalar_metrics(stats), _metric_time(config), config.endpoint_name, config.schedule_name
        )
        cloudwatch.write_metrics(params.MODEL_METRICS, data)
    _finish(config, errors, "capture or ground-truth")


def analyze(config: AnalyzerConfig) -> None:
    """Run the job the environment describes."""
    if config.model_quality:
        (monitor_model_quality if config.is_monitoring else baseline_model_quality)(config)
    else:
        (monitor_data_quality if config.is_monitoring else baseline_data_quality)(config)
