"""The clock that fires monitoring schedules and settles their executions."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.monitoring.service import MonitoringService

log = logging.getLogger(__name__)


class MonitoringScheduler:
    """Every ``tick`` seconds: fire due schedules, then settle finished executions."""

    def __init__(self, service: MonitoringService, tick: float = 2.0) -> None:
        self.service = service
        self.tick = tick

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.service.fire_due()
                await self.service.reconcile()
            except Exception:  # noqa: BLE001 - the next tick tries again
                log.exception("monitoring scheduler tick failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tick)
