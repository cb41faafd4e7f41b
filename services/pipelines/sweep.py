"""The backstop of the event chain: every unfinished execution is advanced at start and on a slow clock.

Executions move on events (their own status changes, their jobs' state
changes). This sweep catches what no event will bring: a node that stopped
mid-execution (its first tick, at start, resumes the executions), a start
whose claim outlived its round, a trigger that was dead-lettered.
"""

from __future__ import annotations

import asyncio

from services.core.ticks import run_every
from services.pipelines.service import PipelineService


class PipelineSweep:
    """Calls :meth:`PipelineService.advance_unfinished` now and every ``tick`` seconds until stopped."""

    def __init__(self, service: PipelineService, tick: float = 30.0) -> None:
        self.service = service
        self.tick = tick

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        await run_every(self.tick, stop, self.service.advance_unfinished, "pipeline sweep")
