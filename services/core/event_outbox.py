"""Events kept until EventBridge has them: a state change's event is delivered at least once.

Every state change is written to the state store first, then published. A
publish that fails (EventBridge not answering, a refused entry) used to be
logged and lost, and whatever waited for the event (a rule, the retraining
chain) waited forever. :class:`EventOutbox` wraps the publisher: an event is
recorded in the store before it is put, and the record dropped once
EventBridge has it. The workers' sweep republishes every record older than a
grace period. An event may so arrive twice (consumers are idempotent: run
names, claims and conditional writes turn a repeat away) and out of order
with later ones (as EventBridge's own delivery may); it is not lost unless
the process dies between the store write of the change and the record of
its event, one round trip.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from services.core.events import Publisher
from services.core.models import ApiModel
from services.core.store import DocumentStore
from services.core.times import utcnow

log = logging.getLogger(__name__)


class PendingEvent(ApiModel):
    """An event owed to the bus since ``recorded_at``, named ``key`` in the outbox."""

    key: str
    detail_type: str
    detail: dict[str, Any]
    resources: list[str] = []
    recorded_at: datetime


class EventOutbox:
    """A :class:`Publisher` that records each event until the bus has it (see the module doc)."""

    def __init__(self, publisher: Publisher, store: DocumentStore[PendingEvent],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.publisher = publisher
        self.store = store
        self.clock = clock
        self.left = asyncio.Event()  # set when a publish here fails: the sweep wakes for its record
        self.recent = False  # whether the last sweep left a record not yet overdue, for a later one

    async def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
        """Record the event, put it, drop the record; a failed put raises and leaves the record to the sweep."""
        now = self.clock()
        key = f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}"  # sorts by time
        await self.store.create(key, PendingEvent(key=key, detail_type=detail_type, detail=detail,
                                                  resources=list(resources or []), recorded_at=now))
        try:
            event_id = await self.publisher.publish(detail_type, detail, resources)
        except BaseException:
            self.left.set()
            raise
        await self.store.delete(key)
        return event_id

    async def republish_overdue(self, grace: timedelta) -> int:
        """Put the events whose publish did not finish within ``grace``, oldest first; return how many.

        The first put that fails stops the round (the bus is down): the rest wait for the next one."""
        cutoff = self.clock() - grace
        sent = 0
        self.recent = False
        for pending in sorted(await self.store.list(), key=lambda p: p.key):
            if pending.recorded_at >= cutoff:
                self.recent = True
                break  # sorted by time: the rest are younger
            await self.publisher.publish(pending.detail_type, pending.detail, pending.resources)
            await self.store.delete(pending.key)
            sent += 1
            log.info("republished a %s event recorded at %s", pending.detail_type, pending.recorded_at.isoformat())
        return sent
