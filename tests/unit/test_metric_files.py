"""Metric files a container writes, read for publishing."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from services.execution.metric_files import read_metric_files


def test_metric_files_by_namespace_with_bad_lines_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "output/metrics/cloudwatch"
    folder.mkdir(parents=True)
    datum = {"MetricName": "feature_baseline_drift_x", "Timestamp": "2026-11-22T10:00:00Z",
             "Dimensions": [{"Name": "Endpoint", "Value": "ep"}], "Value": 0.42, "Unit": "None"}
    (folder / "data-metrics.jsonl").write_text(json.dumps(datum) + "\n{not json\n\n" + json.dumps(
        {**datum, "MetricName": "feature_non_null_x", "Value": "1"}) + "\n")
    (folder / "model-metrics.jsonl").write_text(json.dumps({"MetricName": "auc", "Value": 0.9}) + "\n")
    (folder / "notes.txt").write_text("ignored")
    found = read_metric_files(tmp_path)
    assert set(found) == {"aws/sagemaker/Endpoints/data-metrics", "aws/sagemaker/Endpoints/model-metrics"}
    data = found["aws/sagemaker/Endpoints/data-metrics"]
    assert [d["MetricName"] for d in data] == ["feature_baseline_drift_x", "feature_non_null_x"]
    assert data[0]["Timestamp"] == datetime(2026, 11, 22, 10, tzinfo=timezone.utc) and data[1]["Value"] == 1.0
    assert read_metric_files(tmp_path / "nothing-here") == {}
