"""Lambda's CloudWatch metrics for functions: ``AWS/Lambda`` ``Invocations``, ``Errors``, ``Throttles``,
``Duration`` and ``ConcurrentExecutions``, with the ``FunctionName`` dimension, as Lambda publishes them.

An invocation only adds to counters in memory (no I/O on its path); a loop
puts what gathered every ``flush_seconds`` with one ``PutMetricData`` call a
namespace batch, so invoking stays as fast with metrics as without. The
counts of one flush are one data point each (their ``Sum`` is what Lambda's
console shows); each duration is a data point of its own, so ``Average``,
``Maximum`` and ``SampleCount`` mean what they mean on Lambda. Points not yet
put when the node stops are put at close; a failed put is logged and its
points dropped (metrics are not worth retrying over the invocations).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from datetime import datetime, timezone

from services.aws.cloudwatch import CloudWatchAdapter

log = logging.getLogger(__name__)

NAMESPACE = "AWS/Lambda"
# Durations held between flushes, at most, a function: beyond it the oldest go (the loop is stalled anyway).
_MAX_DURATIONS = 10_000


class FunctionMetrics:
    """Counts invocations as they happen and puts them to CloudWatch in batches."""

    def __init__(self, cloudwatch: CloudWatchAdapter | None, flush_seconds: float = 1.0) -> None:
        self.cloudwatch = cloudwatch
        self.flush_seconds = flush_seconds
        self._counts: dict[str, Counter[str]] = {}
        self._durations: dict[str, list[float]] = {}
        self._concurrency: dict[str, int] = {}

    def invoked(self, name: str, concurrent: int) -> None:
        """An invocation of ``name`` was admitted with ``concurrent`` of them running, itself included."""
        self._counts.setdefault(name, Counter())["Invocations"] += 1
        self._concurrency[name] = max(self._concurrency.get(name, 0), concurrent)

    def throttled(self, name: str) -> None:
        """An invocation of ``name`` was refused past its concurrency."""
        self._counts.setdefault(name, Counter())["Throttles"] += 1

    def finished(self, name: str, duration_ms: float, failed: bool) -> None:
        """An admitted invocation ended after ``duration_ms``, failed or not."""
        counts = self._counts.setdefault(name, Counter())
        counts["Errors"] += int(failed)
        durations = self._durations.setdefault(name, [])
        durations.append(duration_ms)
        del durations[:-_MAX_DURATIONS]

    def take(self, now: datetime) -> list[dict[str, object]]:
        """The ``MetricDatum`` dicts gathered since the last take, timestamped ``now``; the counters restart."""
        counts, durations, concurrency = self._counts, self._durations, self._concurrency
        self._counts, self._durations, self._concurrency = {}, {}, {}
        data: list[dict[str, object]] = []

        def datum(name: str, metric: str, value: float, unit: str) -> dict[str, object]:
            return {"MetricName": metric, "Value": value, "Unit": unit, "Timestamp": now,
                    "Dimensions": [{"Name": "FunctionName", "Value": name}]}

        for name, counter in counts.items():
            for metric in ("Invocations", "Errors", "Throttles"):
                # Lambda reports Errors as 0 for a minute with invocations and none failed: keep that.
                if counter[metric] or (metric == "Errors" and counter["Invocations"]):
                    data.append(datum(name, metric, float(counter[metric]), "Count"))
        for name, values in durations.items():
            data += [datum(name, "Duration", value, "Milliseconds") for value in values]
        for name, peak in concurrency.items():
            data.append(datum(name, "ConcurrentExecutions", float(peak), "Count"))
        return data

    async def flush(self) -> None:
        """Put what gathered (nothing without a CloudWatch client)."""
        data = self.take(datetime.now(timezone.utc))
        if not data or self.cloudwatch is None:
            return
        try:
            await self.cloudwatch.put_data(NAMESPACE, data)
        except Exception as err:  # noqa: BLE001 - a metrics outage must not stop the functions
            log.warning("could not put %d Lambda metric points: %s", len(data), err)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``flush_seconds`` until ``stop`` is set, then once more."""
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.flush_seconds)
            await self.flush()
