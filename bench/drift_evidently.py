"""Evidently's data drift report on the benchmark's windows (runs in Evidently's own virtualenv).

Usage: drift_evidently.py <windows.npz> <count> <out.json>. Reads the
reference columns (``ref_<col>``) and each window's (``w<i>_<col>``), runs
Evidently's DataDriftPreset with its default per-column tests, and writes, per
window, which columns it found drifted, the tests it chose and the seconds
the report took.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

try:  # Evidently 0.7 keeps the column-level drift table in its legacy API.
    from evidently.legacy.metric_preset import DataDriftPreset
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report
except ImportError:  # older releases
    from evidently import ColumnMapping
    from evidently.metric_preset import DataDriftPreset
    from evidently.report import Report

COLUMNS = ["x1", "x2", "x3", "color"]


def frame(data: Any, prefix: str) -> pd.DataFrame:
    """One window (or the reference) as a DataFrame."""
    return pd.DataFrame({c: data[f"{prefix}_{c}"] for c in COLUMNS})


def drift_table(node: Any) -> dict[str, Any] | None:
    """Find ``drift_by_columns`` anywhere in the report's dict."""
    if isinstance(node, dict):
        if "drift_by_columns" in node:
            return node["drift_by_columns"]
        for value in node.values():
            found = drift_table(value)
            if found is not None:
                return found
    if isinstance(node, list):
        for value in node:
            found = drift_table(value)
            if found is not None:
                return found
    return None


def main() -> None:
    data = np.load(sys.argv[1], allow_pickle=False)
    count, out = int(sys.argv[2]), sys.argv[3]
    reference = frame(data, "ref")
    mapping = ColumnMapping(numerical_features=["x1", "x2", "x3"], categorical_features=["color"])
    results = []
    for i in range(count):
        current = frame(data, f"w{i}")
        started = time.perf_counter()
        report = Report(metrics=[DataDriftPreset()])
        report.run(reference_data=reference, current_data=current, column_mapping=mapping)
        table = drift_table(report.as_dict()) or {}
        seconds = time.perf_counter() - started
        results.append({
            "drifted": {c: bool(table[c]["drift_detected"]) for c in COLUMNS},
            "methods": {c: table[c].get("stattest_name") for c in COLUMNS},
            "seconds": seconds,
        })
    with open(out, "w") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()
