"""An idle node's monitoring clock: no listing while nothing is scheduled, awake as soon as a schedule is."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from services.core.store import DocumentStore, MemoryBackend
from services.monitoring.models import JobDefinition, MonitoringExecution, MonitoringSchedule
from services.monitoring.scheduler import MonitoringScheduler
from services.monitoring.service import MonitoringService
from tests.unit.test_monitoring_firing import _schedule

NOW = datetime(2026, 3, 1, 12, 0, 5, tzinfo=timezone.utc)


class ListingBackend(MemoryBackend):
    """Counts the listings of the schedules and signals each one."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0
        self.listed = asyncio.Event()

    async def listing(self, prefix: str) -> list[tuple[str, str | None]]:
        if prefix.startswith("s/"):
            self.listings += 1
            self.listed.set()
        return await super().listing(prefix)


def _service(backend: ListingBackend) -> MonitoringService:
    return MonitoringService(DocumentStore(MemoryBackend(), "d", JobDefinition, "Job definition"),
                             DocumentStore(backend, "s", MonitoringSchedule, "Monitoring schedule"),
                             DocumentStore(MemoryBackend(), "e", MonitoringExecution, "Monitoring execution"),
                             None, None, None, None, region="us-east-1", account_id="123456789012",  # type: ignore[arg-type]
                             clock=lambda: NOW)


async def test_with_nothing_scheduled_the_clock_waits_for_a_change_not_a_timer() -> None:
    backend = ListingBackend()
    service = _service(backend)
    fired: list[str] = []

    async def run_execution(name: str, scheduled: datetime | None = None, **_: Any) -> Any:
        fired.append(name)
        return name

    service.run_execution = run_execution  # type: ignore[method-assign]
    scheduler = MonitoringScheduler(service, tick=3600)  # a timer would not fire within the test
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    await asyncio.wait_for(backend.listed.wait(), 10)  # the first pass, at start
    assert scheduler.next_wake() is None  # nothing scheduled, nothing to settle: no timer at all

    backend.listed.clear()
    await service.schedules.create("due", _schedule("due"))  # written as the API would, then announced
    service.changed.set()
    await asyncio.wait_for(backend.listed.wait(), 10)
    while not fired:  # the pass that listed goes on to fire the due schedule
        await asyncio.sleep(0)
    assert fired == ["due"] and scheduler.next_wake() == 3600  # a schedule: the clock ticks again
    stop.set()
    await asyncio.wait_for(task, 10)
    assert backend.listings == 2
