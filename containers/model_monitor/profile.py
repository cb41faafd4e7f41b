"""Column profiles and the statistics.json document SageMaker's analyzer writes.

Each value is classified the way Deequ's DataType analyzer does: missing
(null or empty), Integral, Fractional or String; a column is String when any
present value is, else Fractional when any is, else Integral, and Unknown
when nothing is present.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from containers.model_monitor.kll import KllSketch

INTEGRAL = "Integral"
FRACTIONAL = "Fractional"
STRING = "String"
UNKNOWN = "Unknown"
NUMERIC_TYPES = (INTEGRAL, FRACTIONAL)

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
# statistics.json materialises numeric distributions in 10 buckets.
_BUCKETS = 10
# Categorical buckets kept per feature (most frequent first).
_MAX_CATEGORIES = 1000


def classify(value: Any) -> tuple[str | None, Any]:
    """(type, normalised value) of one raw value; type None means missing."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return STRING, str(value).lower()
    if isinstance(value, int):
        return INTEGRAL, float(value)
    if isinstance(value, float):
        return (FRACTIONAL, value) if math.isfinite(value) else (STRING, str(value))
    if isinstance(value, (dict, list)):
        return STRING, str(value)
    text = str(value).strip()
    if not text:
        return None, None
    if _INT.match(text):
        return INTEGRAL, float(text)
    if _FLOAT.match(text):
        return FRACTIONAL, float(text)
    return STRING, text


@dataclass
class ColumnProfile:
    """What one column of a dataset holds."""

    name: str
    num_missing: int = 0
    type_counts: Counter[str] = field(default_factory=Counter)
    numbers: list[float] = field(default_factory=list)
    categories: Counter[str] = field(default_factory=Counter)

    @property
    def num_present(self) -> int:
        """Values that are neither null nor empty."""
        return sum(self.type_counts.values())

    @property
    def completeness(self) -> float:
        """Share of values present."""
        total = self.num_present + self.num_missing
        return self.num_present / total if total else 0.0

    @property
    def inferred_type(self) -> str:
        """The column's type (see the module docstring)."""
        if not self.num_present:
            return UNKNOWN
        if self.type_counts[STRING]:
            return STRING
        return FRACTIONAL if self.type_counts[FRACTIONAL] else INTEGRAL

    def share_of(self, expected: str) -> float:
        """Share of present values compatible with ``expected`` (Integral fits Fractional)."""
        if not self.num_present:
            return 1.0
        if expected == INTEGRAL:
            match = self.type_counts[INTEGRAL]
        elif expected == FRACTIONAL:
            match = self.type_counts[INTEGRAL] + self.type_counts[FRACTIONAL]
        else:
            match = self.num_present
        return match / self.num_present

    def number_array(self) -> np.ndarray:
        """The column's numeric values."""
        return np.asarray(self.numbers, dtype=float)

    def sketch(self) -> KllSketch:
        """A KLL sketch of the numeric values."""
        return KllSketch().update(self.number_array())


def profile_columns(records: list[dict[str, Any]], names: list[str]) -> list[ColumnProfile]:
    """Profile every named column over every record (absent keys count as missing)."""
    profiles = [ColumnProfile(name) for name in names]
    for profile in profiles:
        name = profile.name
        for record in records:
            kind, value = classify(record.get(name))
            if kind is None:
                profile.num_missing += 1
                continue
            profile.type_counts[kind] += 1
            if kind == STRING:
                profile.categories[value] += 1
            else:
                profile.numbers.append(value)
                # Numbers count as categories too, should the column turn out String.
                profile.categories[_number_text(value, kind)] += 1
    return profiles


def _number_text(value: float, kind: str) -> str:
    return str(int(value)) if kind == INTEGRAL else repr(value)


def _common(profile: ColumnProfile) -> dict[str, int]:
    return {"num_present": profile.num_present, "num_missing": profile.num_missing}


def _kll_buckets(values: np.ndarray) -> list[dict[str, float]]:
    lo, hi = float(values.min()), float(values.max())
    edges = np.linspace(lo, hi, _BUCKETS + 1) if hi > lo else np.array([lo] * (_BUCKETS + 1))
    counts = np.histogram(values, bins=_BUCKETS, range=(lo, hi if hi > lo else lo + 1))[0]
    return [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])}
        for i in range(_BUCKETS)
    ]


def feature_statistics(profile: ColumnProfile, sketch: KllSketch | None = None) -> dict[str, Any]:
    """One ``features[]`` entry of statistics.json."""
    kind = profile.inferred_type
    entry: dict[str, Any] = {"name": profile.name, "inferred_type": kind}
    if kind in NUMERIC_TYPES:
        values = profile.number_array()
        sketch = sketch or profile.sketch()
        entry["numerical_statistics"] = {
            "common": _common(profile),
            "mean": float(values.mean()),
            "sum": float(values.sum()),
            "std_dev": float(values.std()),
            "min": float(values.min()),
            "max": float(values.max()),
            "distribution": {"kll": {"buckets": _kll_buckets(values), "sketch": sketch.to_json()}},
        }
    else:
        buckets = [{"value": v, "count": c} for v, c in profile.categories.most_common(_MAX_CATEGORIES)]
        entry["string_statistics"] = {
            "common": _common(profile),
            "distinct_count": float(len(profile.categories)),
            "distribution": {"categorical": {"buckets": buckets}},
        }
    return entry


def statistics_document(profiles: list[ColumnProfile], item_count: int) -> dict[str, Any]:
    """statistics.json for a dataset (baseline) or a monitoring window."""
    return {
        "version": 0.0,
        "dataset": {"item_count": item_count},
        "features": [feature_statistics(p) for p in profiles],
    }
