"""Intermediate objective values of running children, read from their CloudWatch log streams.

A child may run on any worker, so the orchestrator reads what every worker
publishes: the child's log stream (``/aws/sagemaker/TrainingJobs``, named on
the job document), applying the same metric definitions the executor uses.
Reading is incremental (``nextForwardToken``); a new stream (a restarted
child) starts its curve over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from services.aws.logs import LogsAdapter
from services.core.times import utcnow
from services.execution.log_shipper import TRAINING_LOG_GROUP
from services.runners.images import resolve_image
from services.training.metrics import MetricsCollector, definitions_for
from services.training.models import TrainingJob

# A running child writes a few lines a second; this many pages a poll always catches up.
_MAX_PAGES = 50


class IntermediateSource(Protocol):
    """Where the orchestrator gets a child's intermediate objective values."""

    async def read(self, child: TrainingJob, metric: str) -> tuple[bool, list[tuple[int, float]]]:
        """New ``(step, value)`` points of ``metric``; the flag says the curve restarted."""

    def forget(self, child: str) -> None:
        """Drop what is kept about a finished child."""


@dataclass
class _Cursor:
    stream: str
    collector: MetricsCollector
    token: str | None = None
    seen: dict[str, int] = field(default_factory=dict)


class LogIntermediateSource:
    """Reads objective observations from the children's CloudWatch log streams."""

    def __init__(self, logs: LogsAdapter) -> None:
        self.logs = logs
        self._cursors: dict[str, _Cursor] = {}

    async def read(self, child: TrainingJob, metric: str) -> tuple[bool, list[tuple[int, float]]]:
        stream = child.headwater.log_stream
        if not stream:
            return False, []
        name = child.training_job_name
        cursor = self._cursors.get(name)
        restarted = cursor is not None and cursor.stream != stream
        if cursor is None or restarted:
            spec = child.algorithm_specification
            image = resolve_image(spec.training_image or spec.algorithm_name or "")
            cursor = _Cursor(stream, MetricsCollector(definitions_for(image.name if image else None,
                                                                      spec.metric_definitions)))
            self._cursors[name] = cursor
        points: list[tuple[int, float]] = []
        for _ in range(_MAX_PAGES):
            kwargs = {"logGroupName": TRAINING_LOG_GROUP, "logStreamName": stream, "startFromHead": True}
            if cursor.token:
                kwargs["nextToken"] = cursor.token
            try:
                resp = await self.logs.client.get_log_events(**kwargs)
            except Exception:  # noqa: BLE001 - the stream may not exist yet; try at the next poll
                break
            events = resp.get("events", [])
            for ev in events:
                for obs in await cursor.collector.observe(str(ev["message"]), utcnow()):
                    if obs.name != metric:
                        continue
                    ordinal = cursor.seen.get(obs.name, 0)
                    cursor.seen[obs.name] = ordinal + 1
                    points.append((obs.step if obs.step is not None else ordinal, obs.value))
            new_token = resp.get("nextForwardToken")
            if not events or new_token == cursor.token:
                cursor.token = new_token or cursor.token
                break
            cursor.token = new_token
        return restarted, points

    def forget(self, child: str) -> None:
        self._cursors.pop(child, None)
