"""CloudWatch metrics: the training metrics series, as SageMaker publishes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# PutMetricData takes at most 1000 data points a call.
_MAX_BATCH = 1000


class CloudWatchAdapter:
    """``PutMetricData`` over an injected aiobotocore client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def put_data(self, namespace: str, data: list[dict[str, Any]]) -> None:
        """Put ready ``MetricDatum`` dicts, in allowed batches."""
        for start in range(0, len(data), _MAX_BATCH):
            await self.client.put_metric_data(Namespace=namespace, MetricData=data[start:start + _MAX_BATCH])

    async def put(self, namespace: str, points: list[tuple[str, float, datetime, dict[str, str]]]) -> None:
        """Put ``(metric name, value, timestamp, dimensions)`` points."""
        for start in range(0, len(points), _MAX_BATCH):
            data = [{"MetricName": name, "Value": value, "Timestamp": ts,
                     "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]}
                    for name, value, ts, dims in points[start:start + _MAX_BATCH]]
            await self.client.put_metric_data(Namespace=namespace, MetricData=data)
