"""The clock that fires monitoring schedules and settles their executions."""

from __future__ import annotations

import asyncio

from services.core.ticks import run_every
from services.monitoring.service import MonitoringService


class MonitoringScheduler:
    """Every ``tick`` seconds: fire due schedules, then settle finished executions."""

    def __init__(self, service: MonitoringService, tick: float = 2.0) -> None:
        self.service = service
        self.tick = tick

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        await run_every(self.tick, stop, self._tick, "monitoring scheduler")

    async def _tick(self) -> None:
        await self.service.fire_due()
        await self.service.reconcile()
