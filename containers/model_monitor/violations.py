"""Evaluating a window's profiles against the baseline's constraints.

Produces ``constraint_violations.json`` entries (``feature_name``,
``constraint_check_type``, ``description``) of SageMaker's six data-quality
checks, the per-feature drift figures (SageMaker's distance and the others,
side by side) and the per-feature CloudWatch metric values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from containers.model_monitor import drift
from containers.model_monitor.constraints import FeatureSettings, feature_settings
from containers.model_monitor.kll import KllSketch
from containers.model_monitor.profile import NUMERIC_TYPES, STRING, ColumnProfile

DATA_TYPE = "data_type_check"
COMPLETENESS = "completeness_check"
BASELINE_DRIFT = "baseline_drift_check"
MISSING_COLUMN = "missing_column_check"
EXTRA_COLUMN = "extra_column_check"
CATEGORICAL_VALUES = "categorical_values_check"


@dataclass
class Evaluation:
    """What one monitoring window found."""

    violations: list[dict[str, str]] = field(default_factory=list)
    drift: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: list[tuple[str, float]] = field(default_factory=list)

    def add(self, feature: str, check: str, description: str) -> None:
        """Record a violation."""
        self.violations.append({"feature_name": feature, "constraint_check_type": check, "description": description})


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _baseline_features(constraints: dict[str, Any], statistics: dict[str, Any] | None) -> list[dict[str, Any]]:
    features = constraints.get("features")
    if features is None and statistics:
        features = [{"name": f["name"], "inferred_type": f.get("inferred_type")} for f in statistics.get("features", [])]
    return list(features or [])


def evaluate(
    constraints: dict[str, Any],
    statistics: dict[str, Any] | None,
    current: list[ColumnProfile],
    sketches: dict[str, KllSketch],
    drift_method: str | None = None,
) -> Evaluation:
    """Check every constraint; compute drift wherever the baseline has a distribution."""
    out = Evaluation()
    baseline = _baseline_features(constraints, statistics)
    stats_by_name = {f["name"]: f for f in (statistics or {}).get("features", [])}
    by_name = {p.name: p for p in current}
    global_settings = feature_settings(constraints, None, drift_method)
    evaluate_all = global_settings.evaluate_constraints
    base_names = [f["name"] for f in baseline]
    known = set(base_names)
    for feature in baseline:
        name = feature["name"]
        settings = feature_settings(constraints, feature, drift_method)
        check = evaluate_all and settings.evaluate_constraints
        profile = by_name.get(name)
        if profile is None:
            if check:
                out.add(
                    name,
                    MISSING_COLUMN,
                    f"There are missing columns in current dataset: {name!r} is absent. Number of columns in "
                    f"current dataset: {len(current)}, Number of columns in baseline constraints: {len(baseline)}",
                )
            continue
        if check:
            _check_feature(feature, profile, settings, out)
        _check_drift(feature, stats_by_name.get(name), profile, sketches.get(name), settings, check, out)
    for profile in current:
        if profile.name not in known and evaluate_all:
            out.add(
                profile.name,
                EXTRA_COLUMN,
                f"There are extra columns in current dataset: {profile.name!r} is not in the baseline. Number of "
                f"columns in current dataset: {len(current)}, Number of columns in baseline constraints: {len(baseline)}",
            )
    return out


def _check_feature(feature: dict[str, Any], profile: ColumnProfile, settings: FeatureSettings, out: Evaluation) -> None:
    name, kind = feature["name"], feature.get("inferred_type")
    if kind in (*NUMERIC_TYPES, STRING) and profile.num_present:
        share = profile.share_of(kind)
        if share < settings.datatype_check_threshold:
            out.add(
                name,
                DATA_TYPE,
                f"Data type match requirement is not met. Expected data type: {kind}, Expected match: "
                f"{_pct(settings.datatype_check_threshold)}. Observed: Only {_pct(share)} of data is {kind}.",
            )
    expected = feature.get("completeness")
    if expected is not None and profile.completeness + 1e-12 < float(expected):
        out.add(
            name,
            COMPLETENESS,
            f"Data completeness requirement is not met. Expected: {_pct(float(expected))} of data is complete. "
            f"Observed: Only {_pct(profile.completeness)} of data is complete.",
        )
    domains = ((feature.get("string_constraints") or {}).get("domains")) or None
    if domains is not None and profile.num_present:
        allowed = set(map(str, domains))
        inside = sum(c for v, c in profile.categories.items() if v in allowed)
        share = inside / profile.num_present
        if share < settings.domain_content_threshold:
            unknown = sorted(v for v in profile.categories if v not in allowed)[:5]
            out.add(
                name,
                CATEGORICAL_VALUES,
                f"Categorical value match requirement is not met. Expected: {_pct(settings.domain_content_threshold)} "
                f"of data in the baseline domain. Observed: Only {_pct(share)} of data is in it; "
                f"unknown values include {unknown}.",
            )


@dataclass(frozen=True)
class _Drift:
    """One feature's drift against its baseline: the figure compared, the verdict, the report."""

    distance: float
    threshold: float
    drifted: bool
    # What ``headwater_drift`` holds for the feature in statistics.json.
    report: dict[str, Any]
    # PSI and the test statistic quoted beside the distance in a violation.
    side: str
    # The compared figure is a chi-square p-value (drift below the threshold),
    # not a distance (drift above it).
    is_p_value: bool = False


def _check_drift(
    feature: dict[str, Any],
    stats: dict[str, Any] | None,
    profile: ColumnProfile,
    sketch: KllSketch | None,
    settings: FeatureSettings,
    check: bool,
    out: Evaluation,
) -> None:
    """Record a feature's non-null and drift metrics, its drift report and any baseline_drift_check violation."""
    name = feature["name"]
    if profile.num_present:
        out.metrics.append((f"feature_non_null_{name}", profile.completeness))
    if stats is None:
        return
    found = _measure_drift(stats, profile, sketch, settings)
    if found is None:
        return
    out.drift[name] = found.report
    out.metrics.append((f"feature_baseline_drift_{name}", float(found.distance)))
    if check and settings.perform_comparison and found.drifted:
        out.add(name, BASELINE_DRIFT, _drift_description(found, settings))


def _measure_drift(
    stats: dict[str, Any], profile: ColumnProfile, sketch: KllSketch | None, settings: FeatureSettings
) -> _Drift | None:
    """The drift of whichever distribution the baseline has and the window can match; None if neither."""
    numeric = (stats.get("numerical_statistics") or {}).get("distribution", {}).get("kll", {}).get("sketch")
    categorical = (stats.get("string_statistics") or {}).get("distribution", {}).get("categorical", {}).get("buckets")
    if numeric is not None and sketch is not None and sketch.n:
        return _numeric_drift(numeric, sketch, settings)
    if categorical is not None and profile.categories and (stats.get("inferred_type") == STRING):
        return _categorical_drift(categorical, profile, settings)
    return None


def _linf(d: drift.NumericDrift | drift.CategoricalDrift, settings: FeatureSettings) -> float:
    """The L-infinity distance ``comparison_method`` asks for."""
    return d.linf_simple if settings.comparison_method == drift.SIMPLE else d.linf_robust


def _numeric_drift(baseline: dict[str, Any], sketch: KllSketch, settings: FeatureSettings) -> _Drift:
    """Drift of the window's sketch from the baseline's KLL sketch (its JSON form)."""
    d = drift.numeric_drift(KllSketch.from_json(baseline), sketch)
    distance = _linf(d, settings)
    threshold = settings.comparison_threshold
    drifted = distance > threshold
    report = {
        "baseline_drift_check": {
            "distance": distance,
            "threshold": threshold,
            "comparison_method": settings.comparison_method,
            "linf_simple": d.linf_simple,
            "linf_robust": d.linf_robust,
            "violation": drifted,
        },
        "psi": d.psi,
        "ks": {"statistic": d.ks_statistic, "p_value": d.ks_p_value},
        "n_baseline": d.n_baseline,
        "n_current": d.n_current,
    }
    side = f"PSI {d.psi:.4f}, KS D={d.ks_statistic:.4f} p={d.ks_p_value:.3g}"
    return _Drift(distance, threshold, drifted, report, side)


def _categorical_verdict(d: drift.CategoricalDrift, settings: FeatureSettings) -> tuple[float, float, bool]:
    """(figure compared, threshold, drifted) under ``categorical_drift_method``."""
    threshold = settings.categorical_comparison_threshold
    if settings.categorical_drift_method == "ChiSquared":
        # The p-value is the reported value: drift when it falls below the threshold.
        # A NaN p-value (no test possible) never counts as drift.
        p_value = d.chi_square_p_value
        return p_value, threshold, p_value == p_value and p_value < threshold
    distance = _linf(d, settings)
    return distance, threshold, distance > threshold


def _categorical_drift(buckets: list[dict[str, Any]], profile: ColumnProfile, settings: FeatureSettings) -> _Drift:
    """Drift of the window's category counts from the baseline's buckets."""
    base_counts = {str(b["value"]): int(b["count"]) for b in buckets}
    d = drift.categorical_drift(base_counts, profile.categories)
    distance, threshold, drifted = _categorical_verdict(d, settings)
    report = {
        "baseline_drift_check": {
            "distance": distance,
            "threshold": threshold,
            "comparison_method": settings.comparison_method,
            "categorical_drift_method": settings.categorical_drift_method,
            "linf_simple": d.linf_simple,
            "linf_robust": d.linf_robust,
            "violation": drifted,
        },
        "psi": d.psi,
        "chi_square": {"statistic": d.chi_square_statistic, "p_value": d.chi_square_p_value},
        "n_baseline": d.n_baseline,
        "n_current": d.n_current,
    }
    side = f"PSI {d.psi:.4f}, chi-square {d.chi_square_statistic:.4g} p={d.chi_square_p_value:.3g}"
    chi_squared = settings.categorical_drift_method == "ChiSquared"
    return _Drift(distance, threshold, drifted, report, side, is_p_value=chi_squared)


def _drift_description(found: _Drift, settings: FeatureSettings) -> str:
    """The ``baseline_drift_check`` violation's text."""
    if found.is_p_value:
        lead = f"Chi-square p-value: {found.distance:.6g} is below threshold: {found.threshold}"
    else:
        lead = f"Baseline drift distance: {found.distance:.6g} exceeds threshold: {found.threshold}"
    return f"{lead} ({settings.comparison_method}; side by side: {found.side})."
