"""The retraining chain's liveness guard: runs stuck past their step deadline are failed, on a clock.

A new trigger already takes an endpoint from a run past its deadline
(:meth:`RetrainingService.claim`); this loop fails such runs without one, so
a stuck run shows ``Failed`` with its reason and its endpoint is free. It
ticks only while a run holds an endpoint: with none, it reads nothing and
waits for a claim through this node (a run claimed through another node is
watched by that node's watchdog, and failed at the latest by the next
trigger's claim).
"""

from __future__ import annotations

import asyncio
import logging

from services.core.ticks import rest
from services.retraining.service import RetrainingService

log = logging.getLogger(__name__)


class RetrainingWatchdog:
    """Calls :meth:`RetrainingService.expire_overdue_runs` every ``tick`` seconds while a run is in flight."""

    def __init__(self, service: RetrainingService, tick: float = 60.0) -> None:
        self.service = service
        self.tick = tick

    def next_wake(self) -> float | None:
        """Seconds until the next sweep, or ``None``: with no run in flight only a claim wakes the watchdog."""
        return self.tick if self.service.has_active_runs else None

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        while not stop.is_set():
            self.service.changed.clear()  # a claim during the sweep makes another one
            try:
                await self.service.expire_overdue_runs()
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.exception("retraining watchdog tick failed")
            await rest(stop, self.service.changed, timeout=self.next_wake())
