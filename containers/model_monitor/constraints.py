"""constraints.json: the constraints a baseline suggests, and their settings.

Format (SageMaker's "Schema for Constraints")::

    {"version": 0.0,
     "features": [{"name", "inferred_type", "completeness",
                   "num_constraints": {"is_non_negative"},
                   "string_constraints": {"domains": [...]},
                   "monitoringConfigOverrides": {...}}],
     "monitoring_config": {"evaluate_constraints", "emit_metrics",
        "datatype_check_threshold", "domain_content_threshold",
        "distribution_constraints": {"perform_comparison", "comparison_threshold",
           "comparison_method", "categorical_comparison_threshold",
           "categorical_drift_method"}}}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from containers.model_monitor.profile import NUMERIC_TYPES, STRING, ColumnProfile

# A String feature gets a domain when it has at most this many distinct values.
MAX_DOMAIN_SIZE = 20

DEFAULT_MONITORING_CONFIG: dict[str, Any] = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


def suggest_constraints(profiles: list[ColumnProfile], categorical_drift_method: str | None) -> dict[str, Any]:
    """The constraints a baseline dataset suggests."""
    features = []
    for profile in profiles:
        kind = profile.inferred_type
        feature: dict[str, Any] = {"name": profile.name, "inferred_type": kind, "completeness": profile.completeness}
        if kind in NUMERIC_TYPES:
            feature["num_constraints"] = {"is_non_negative": bool(min(profile.numbers) >= 0)}
        elif kind == STRING and len(profile.categories) <= MAX_DOMAIN_SIZE:
            feature["string_constraints"] = {"domains": sorted(profile.categories)}
        features.append(feature)
    config = {**DEFAULT_MONITORING_CONFIG}
    config["distribution_constraints"] = dict(DEFAULT_MONITORING_CONFIG["distribution_constraints"])
    if categorical_drift_method:
        config["distribution_constraints"]["categorical_drift_method"] = categorical_drift_method
    return {"version": 0.0, "features": features, "monitoring_config": config}


@dataclass(frozen=True)
class FeatureSettings:
    """The monitoring settings in force for one feature (global + its overrides)."""

    evaluate_constraints: bool
    emit_metrics: bool
    datatype_check_threshold: float
    domain_content_threshold: float
    perform_comparison: bool
    comparison_threshold: float
    comparison_method: str
    categorical_comparison_threshold: float
    categorical_drift_method: str


def _enabled(value: Any) -> bool:
    return str(value).lower() != "disabled"


def feature_settings(constraints: dict[str, Any], feature: dict[str, Any] | None, drift_method: str | None) -> FeatureSettings:
    """Merge ``monitoring_config`` with a feature's ``monitoringConfigOverrides``.

    ``categorical_drift_method`` from the job's environment wins over the file,
    as it does for SageMaker's ``monitoring_config_override``.
    """
    merged: dict[str, Any] = {**DEFAULT_MONITORING_CONFIG, **(constraints.get("monitoring_config") or {})}
    distribution = {
        **DEFAULT_MONITORING_CONFIG["distribution_constraints"],
        **(merged.get("distribution_constraints") or {}),
    }
    # The schema says monitoringConfigOverrides; the SDK's set_monitoring()
    # writes monitoring_config_overrides: honour both.
    feature = feature or {}
    overrides = feature.get("monitoringConfigOverrides") or feature.get("monitoring_config_overrides") or {}
    merged.update({k: v for k, v in overrides.items() if k != "distribution_constraints"})
    distribution.update(overrides.get("distribution_constraints") or {})
    # The schema's older revision spells it "comparion_method".
    method = distribution.get("comparison_method") or distribution.get("comparion_method") or "Robust"
    return FeatureSettings(
        evaluate_constraints=_enabled(merged.get("evaluate_constraints")),
        emit_metrics=_enabled(merged.get("emit_metrics")),
        datatype_check_threshold=float(merged.get("datatype_check_threshold", 1.0)),
        domain_content_threshold=float(merged.get("domain_content_threshold", 1.0)),
        perform_comparison=_enabled(distribution.get("perform_comparison")),
        comparison_threshold=float(distribution.get("comparison_threshold", 0.1)),
        comparison_method="Simple" if str(method).lower() == "simple" else "Robust",
        categorical_comparison_threshold=float(distribution.get("categorical_comparison_threshold", 0.1)),
        categorical_drift_method=drift_method or distribution.get("categorical_drift_method") or "LInfinity",
    )
