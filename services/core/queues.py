"""A message queue as the platform sees it: received messages, and the operations on a queue.

:class:`services.aws.sqs.SqsAdapter` is the queue every node uses; the task
queue (:mod:`services.core.tasks`) and the handler runtime are written
against this surface.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class QueueMessage:
    """One received message."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    attributes: dict[str, str] = field(default_factory=dict)
    message_attributes: dict[str, str] = field(default_factory=dict)


class MessageQueue(Protocol):
    """The operations on named queues the platform uses (SQS's, by name)."""

    async def send(self, queue: str, body: Any, attributes: dict[str, str] | None = None) -> str:
        """Send ``body`` (JSON-encoded unless a string); return the message id."""
        ...

    async def receive(self, queue: str, *, max_messages: int = 10, wait_seconds: int = 1,
                      visibility_timeout: int | None = None, stop: asyncio.Event | None = None
                      ) -> list[QueueMessage]:
        """Up to ``max_messages`` messages, waiting up to ``wait_seconds``; none once ``stop`` is set."""
        ...

    async def delete(self, queue: str, receipt_handle: str) -> None:
        """Acknowledge a received message."""
        ...

    async def change_visibility(self, queue: str, receipt_handle: str, seconds: int) -> None:
        """Keep a received message invisible for another ``seconds``."""
        ...
