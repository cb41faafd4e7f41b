"""A narrow, typed surface over SQS: long-polling, visibility, dead-letters."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from services.core.queues import QueueMessage

# SQS's longest ReceiveMessage wait.
LONG_POLL_SECONDS = 20


@dataclass(frozen=True)
class ConsumerPolls:
    """How a queue consumer (handler poller, worker slot) polls.

    A long poll returns as soon as a message arrives, so its length costs no
    latency; what it saves is a receive per queue per second (against the
    embedded emulator, a new TCP connection and a request parsed in the
    node's own process each time). A long poll must be abandoned at stop to
    stop promptly, and that is safe only where the queue service stops with
    us: a service that outlives the consumer may still hand a message to the
    abandoned poll, and it comes back only after its visibility timeout with
    its receive count raised (a worker counts attempts by it). So consumers
    long-poll against the emulator their node embeds, and elsewhere poll for
    ``short_wait`` seconds and let the last poll run out at stop.
    """

    wait_seconds: int
    abandon_on_stop: bool

    @classmethod
    def choose(cls, short_wait: int, emulator_embedded: bool) -> ConsumerPolls:
        """Long, abandoned polls against an embedded emulator; short, finished ones elsewhere."""
        if emulator_embedded:
            return cls(LONG_POLL_SECONDS, True)
        return cls(short_wait, False)


class SqsAdapter:
    """SQS operations over an injected aiobotocore client; queue URLs cached."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._urls: dict[str, str] = {}

    async def queue_url(self, name: str) -> str:
        """The URL of queue ``name`` (looked up once)."""
        if name not in self._urls:
            resp = await self.client.get_queue_url(QueueName=name)
            self._urls[name] = resp["QueueUrl"]
        return self._urls[name]

    async def receive(self, queue: str, *, max_messages: int = 10, wait_seconds: int = 1,
                      visibility_timeout: int | None = None, stop: asyncio.Event | None = None
                      ) -> list[QueueMessage]:
        """Long-poll up to ``max_messages`` messages.

        With ``stop``, the poll is abandoned (nothing returned) as soon as it is
        set (see :class:`ConsumerPolls` for when that is safe).
        """
        if stop is None:
            return await self._receive(queue, max_messages, wait_seconds, visibility_timeout)
        if stop.is_set():
            return []
        poll = asyncio.ensure_future(self._receive(queue, max_messages, wait_seconds, visibility_timeout))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((poll, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (poll, stopped):
                if not waiter.done():
                    waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopped
        if not poll.done():
            with contextlib.suppress(asyncio.CancelledError):
                await poll
            return []
        return poll.result()

    async def _receive(self, queue: str, max_messages: int, wait_seconds: int,
                       visibility_timeout: int | None) -> list[QueueMessage]:
        kwargs: dict[str, Any] = {}
        if visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = visibility_timeout
        resp = await self.client.receive_message(
            QueueUrl=await self.queue_url(queue),
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            **kwargs,
        )
        out = []
        for m in resp.get("Messages", []):
            attrs = m.get("Attributes", {})
            out.append(QueueMessage(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                body=m["Body"],
                receive_count=int(attrs.get("ApproximateReceiveCount", "1")),
                attributes=attrs,
                message_attributes={k: v.get("StringValue", "") for k, v in m.get("MessageAttributes", {}).items()},
            ))
        return out

    async def send(self, queue: str, body: Any, attributes: dict[str, str] | None = None,
                   delay_seconds: int = 0) -> str:
        """Send ``body`` (JSON-encoded unless already a string), visible after ``delay_seconds``; return the
        message id."""
        text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"), default=str)
        kwargs: dict[str, Any] = {"DelaySeconds": delay_seconds} if delay_seconds else {}
        if attributes:
            kwargs["MessageAttributes"] = {
                k: {"DataType": "String", "StringValue": v[:4096] or "-"} for k, v in attributes.items()
            }
        resp = await self.client.send_message(QueueUrl=await self.queue_url(queue), MessageBody=text, **kwargs)
        return str(resp["MessageId"])

    async def delete(self, queue: str, receipt_handle: str) -> None:
        """Acknowledge a message."""
        await self.client.delete_message(QueueUrl=await self.queue_url(queue), ReceiptHandle=receipt_handle)

    async def change_visibility(self, queue: str, receipt_handle: str, seconds: int) -> None:
        """Extend (heartbeat) or shorten (retry back-off) a message's invisibility."""
        await self.client.change_message_visibility(
            QueueUrl=await self.queue_url(queue), ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )

    async def approximate_depth(self, queue: str) -> int:
        """Visible plus in-flight messages (for status displays and tests)."""
        resp = await self.client.get_queue_attributes(
            QueueUrl=await self.queue_url(queue),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        a = resp["Attributes"]
        return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
