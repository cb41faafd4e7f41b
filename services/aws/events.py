"""Publishing Headwater's own events to the EventBridge bus."""

from __future__ import annotations

import json
import logging
from typing import Any

from services.core.exceptions import PlatformError

log = logging.getLogger(__name__)


class EventPublisher:
    """Puts events with Headwater's ``source`` on its bus.

    Real EventBridge rejects ``aws.*`` sources from PutEvents, so state
    changes carry ``headwater.sagemaker`` with SageMaker's ``detail-type``.
    """

    def __init__(self, client: Any, bus: str, source: str) -> None:
        self.client = client
        self.bus = bus
        self.source = source

    async def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
        """Publish one event; return its id, raising if EventBridge refused it."""
        resp = await self.client.put_events(Entries=[{
            "Source": self.source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, default=str),
            "Resources": resources or [],
            "EventBusName": self.bus,
        }])
        entry = resp["Entries"][0]
        if resp.get("FailedEntryCount") or "EventId" not in entry:
            raise PlatformError(f"PutEvents refused {detail_type}: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}")
        return str(entry["EventId"])
