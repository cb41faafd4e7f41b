"""CloudWatch metrics as files: the container never talks to AWS.

When ``publish_cloudwatch_metrics`` is ``Enabled`` the analyzer writes
``<base>/output/metrics/cloudwatch/<stem>.jsonl`` (the location SageMaker's
contract gives), one JSON object per line in the documented schema, which is
CloudWatch's ``MetricDatum``::

    {"MetricName": "feature_baseline_drift_x", "Timestamp": "2024-01-01T01:00:00Z",
     "Dimensions": [{"Name": "Endpoint", "Value": "ep"},
                    {"Name": "MonitoringSchedule", "Value": "sched"}],
     "Value": 0.42, "Unit": "None"}

The file's stem names the namespace the platform publishes it under:
``data-metrics`` -> ``aws/sagemaker/Endpoints/data-metrics`` (data quality),
``model-metrics`` -> ``aws/sagemaker/Endpoints/model-metrics`` (model quality).
The platform reads every ``*.jsonl`` there after the job and calls
``PutMetricData(Namespace=..., MetricData=[<line>, ...])`` in batches.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from containers.model_monitor import params


def metric_data(
    metrics: list[tuple[str, float]], timestamp: datetime | None, endpoint: str | None, schedule: str | None
) -> list[dict[str, object]]:
    """MetricDatum objects for finite values (CloudWatch rejects NaN)."""
    moment = (timestamp or datetime.now(timezone.utc)).astimezone(timezone.utc)
    dimensions = [{"Name": "Endpoint", "Value": endpoint}] if endpoint else []
    if schedule:
        dimensions.append({"Name": "MonitoringSchedule", "Value": schedule})
    return [
        {
            "MetricName": name,
            "Timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Dimensions": dimensions,
            "Value": float(value),
            "Unit": "None",
        }
        for name, value in metrics
        if math.isfinite(value)
    ]


def write_metrics(stem: str, data: list[dict[str, object]]) -> Path:
    """Write the metric file for one namespace; returns its path."""
    folder = params.cloudwatch_metrics_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.jsonl"
    path.write_text("".join(json.dumps(d, sort_keys=True) + "\n" for d in data), encoding="utf-8")
    return path
