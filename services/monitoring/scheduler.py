"""The clock that fires monitoring schedules and settles their executions."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.monitoring.service import MonitoringService

log = logging.getLogger(__name__)


class MonitoringScheduler:
    """Every ``tick`` seconds while there is work: fire due schedules, then settle finished executions.

    With no ``Scheduled`` schedule and no execution to settle, it lists nothing and does not wake: it
    waits for the service's :attr:`MonitoringService.changed` (a schedule created, started or deleted
    through this node, an on-demand run), or the stop. A schedule created through another node sharing
    the state bucket is fired by that node's clock (and by this one after its next change or start).
    """

    def __init__(self, service: MonitoringService, tick: float = 2.0) -> None:
        self.service = service
        self.tick = tick

    def next_wake(self) -> float | None:
        """Seconds until the next pass, or ``None``: only a change wakes the clock."""
        return self.tick if self.service.has_work else None

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        while not stop.is_set():
            self.service.changed.clear()  # a change during the pass makes another pass
            try:
                await self._tick()
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("monitoring scheduler tick failed")
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.service.changed.wait())]
            try:
                await asyncio.wait(waits, timeout=self.next_wake(), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiting

    async def _tick(self) -> None:
        await self.service.fire_due()
        await self.service.reconcile()
