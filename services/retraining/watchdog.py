"""The retraining chain's liveness guard: runs stuck past their step deadline are failed, on a clock.

A new trigger already takes an endpoint from a run past its deadline
(:meth:`RetrainingService.claim`); this loop fails such runs without one, so
a stuck run shows ``Failed`` with its reason and its endpoint is free.
"""

from __future__ import annotations

import asyncio

from services.core.ticks import run_every
from services.retraining.service import RetrainingService


class RetrainingWatchdog:
    """Calls :meth:`RetrainingService.expire_overdue_runs` every ``tick`` seconds until stopped."""

    def __init__(self, service: RetrainingService, tick: float = 60.0) -> None:
        self.service = service
        self.tick = tick

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        await run_every(self.tick, stop, self.service.expire_overdue_runs, "retraining watchdog")
