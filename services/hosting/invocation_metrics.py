"""Invocation counts per variant, in metric periods: SageMaker's ``Invocations`` and ``InvocationsPerInstance``.

The runtime records every request it routes to a production variant; a
period's datapoint is the number of requests in it and the number of
instances the variant had then, so ``InvocationsPerInstance`` is the count
normalized by the fleet that served it, as SageMaker publishes it. The
autoscaler reads complete periods only; counts older than ``keep`` periods
are dropped, so memory stays bounded however long a node runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True)
class Datapoint:
    """One complete metric period of one variant."""

    start: float  # epoch seconds
    invocations: int
    instances: int

    def per_instance_per_minute(self, period: float) -> float:
        """``InvocationsPerInstance`` as a per-minute rate, whatever the period's length."""
        return self.invocations / max(1, self.instances) * (SECONDS_PER_MINUTE / period)


class InvocationMetrics:
    """Counts requests per (endpoint, variant) in periods of ``period`` seconds."""

    def __init__(self, period: float = 60.0, keep: int = 60, clock: Callable[[], float] = time.time) -> None:
        if period <= 0:
            raise ValueError("the metric period must be positive")
        self.period = period
        self.keep = keep
        self.clock = clock
        # (endpoint, variant) -> period index -> [invocations, instances]
        self._counts: dict[tuple[str, str], dict[int, list[int]]] = {}

    def record(self, endpoint: str, variant: str, instances: int) -> None:
        """Count one request routed to ``variant`` while it had ``instances`` instances."""
        index = int(self.clock() // self.period)
        buckets = self._counts.setdefault((endpoint, variant), {})
        bucket = buckets.get(index)
        if bucket is None:
            bucket = buckets[index] = [0, instances]
            for old in [i for i in buckets if i <= index - self.keep]:
                del buckets[old]
        bucket[0] += 1
        bucket[1] = instances

    def datapoints(self, endpoint: str, variant: str, periods: int, instances: int,
                   since: float | None = None) -> list[Datapoint]:
        """The last ``periods`` complete periods, oldest first, none starting before ``since``.

        A period without requests is a zero datapoint with the variant's
        current ``instances`` (a quiet endpoint is quiet, not unknown).
        """
        current = int(self.clock() // self.period)
        first = current - min(periods, self.keep)
        if since is not None:
            first = max(first, int(-(-since // self.period)))  # the first period starting at or after `since`
        buckets = self._counts.get((endpoint, variant), {})
        out = []
        for index in range(first, current):
            count, seen = buckets.get(index, (0, instances))
            out.append(Datapoint(index * self.period, count, seen if count else instances))
        return out

    def forget(self, endpoint: str) -> None:
        """Drop an endpoint's counts (it was deleted)."""
        for key in [k for k in self._counts if k[0] == endpoint]:
            del self._counts[key]
