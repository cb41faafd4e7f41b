"""The retraining watchdog at rest: no reading of the policies while no run holds an endpoint, awake as soon as
one does."""

from __future__ import annotations

import asyncio

from services.core.store import DocumentStore, MemoryBackend
from services.retraining.models import RetrainingPolicy, RetrainingRun
from services.retraining.service import RetrainingService, run_name_for
from services.retraining.watchdog import RetrainingWatchdog
from tests.unit.test_retraining_service import Clock, Recorder, _policy


class ListingBackend(MemoryBackend):
    """Counts the listings of the policies and signals each one."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0
        self.listed = asyncio.Event()

    async def listing(self, prefix: str) -> list[tuple[str, str | None]]:
        self.listings += 1
        self.listed.set()
        return await super().listing(prefix)


async def test_with_no_run_in_flight_the_watchdog_waits_for_a_claim_not_a_timer() -> None:
    backend = ListingBackend()
    service = RetrainingService(DocumentStore(backend, "p", RetrainingPolicy, "Retraining policy"),
                                DocumentStore(MemoryBackend(), "r", RetrainingRun, "Retraining run"), Recorder(),
                                clock=Clock())
    await service.put_policy(_policy())
    watchdog = RetrainingWatchdog(service, tick=3600)  # a timer would not fire within the test
    stop = asyncio.Event()
    task = asyncio.create_task(watchdog.run(stop))
    await asyncio.wait_for(backend.listed.wait(), 10)  # the sweep at start
    assert watchdog.next_wake() is None  # a policy, but no run holds its endpoint: no timer at all

    backend.listed.clear()
    assert (await service.claim("ep", run_name_for("ep", "drift-1"))).started
    await asyncio.wait_for(backend.listed.wait(), 10)  # the claim, not a timer, woke the watchdog
    while watchdog.next_wake() is None:  # the sweep that listed goes on to see the run holding the lock
        await asyncio.sleep(0)
    assert watchdog.next_wake() == 3600  # a run in flight: its deadline is watched on the clock again
    stop.set()
    await asyncio.wait_for(task, 10)
    assert backend.listings == 2
