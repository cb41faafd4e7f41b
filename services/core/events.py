"""Publishing state changes: what a service needs to emit an event, and the ``detail`` it carries.

Every resource publishes its state changes as SageMaker does: ``detail-type``
as SageMaker's ("SageMaker Training Job State Change", ...) and ``detail``
the Describe* response. :class:`Publisher` is what a service holds; the
EventBridge adapter (:class:`services.aws.events.EventPublisher`) is one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Anything that can publish an event (``services.aws.events.EventPublisher``)."""

    async def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str: ...


def event_detail(doc: dict[str, Any]) -> dict[str, Any]:
    """A Describe* response as an event ``detail``: timestamps in epoch
    milliseconds, as SageMaker's own state-change events carry them."""

    def conv(v: Any) -> Any:
        if isinstance(v, datetime):
            return int(v.timestamp() * 1000)
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return conv(doc)


async def publish_state_change(publisher: Publisher, detail_type: str, doc: dict[str, Any], resources: list[str],
                               subject: str) -> None:
    """Publish ``doc`` (a Describe* response) as a state change of ``subject``.

    The store is the source of truth and the event a notification of it: a
    publish that fails is logged, never raised into the change that caused it.
    """
    try:
        await publisher.publish(detail_type, event_detail(doc), resources)
    except Exception:  # noqa: BLE001 - any publish failure must not fail the change
        log.exception("could not publish the state change of %s", subject)
