"""The retraining chain's liveness guard: runs stuck past their step deadline are failed, on a clock.

A new trigger already takes an endpoint from a run past its deadline
(:meth:`RetrainingService.claim`); this loop fails such runs without one, so
a stuck run shows ``Failed`` with its reason and its endpoint is free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.retraining.service import RetrainingService

log = logging.getLogger(__name__)


class RetrainingWatchdog:
    """Calls :meth:`RetrainingService.expire_overdue_runs` every ``tick`` seconds until stopped."""

    def __init__(self, service: RetrainingService, tick: float = 60.0) -> None:
        self.service = service
        self.tick = tick

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.service.expire_overdue_runs()
            except Exception:  # noqa: BLE001 - the next tick tries again
                log.exception("retraining watchdog tick failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tick)
