"""SQS event source mappings at rest: no re-reading of the mappings on a short timer, long polls that a change
or the stop ends at once."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from services.aws.sqs import ConsumerPolls
from services.core.queues import QueueMessage
from services.core.store import DocumentStore, MemoryBackend
from services.functions import event_sources
from services.functions.event_sources import EventSourceMapping, SqsEventSources

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:esm-idle"


class ListingBackend(MemoryBackend):
    """Counts the listings of the mappings."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0

    async def listing(self, prefix: str) -> list[tuple[str, str | None]]:
        self.listings += 1
        return await super().listing(prefix)


class LongPollingSqs:
    """A queue that never has a message: a receive lasts its whole wait, unless its ``stop`` is set."""

    def __init__(self) -> None:
        self.waits: list[int] = []
        self.polling = asyncio.Event()
        self.ended = asyncio.Event()

    async def queue_url(self, name: str) -> str:
        return f"http://sqs/{name}"

    async def receive(self, queue: str, *, max_messages: int = 10, wait_seconds: int = 1,
                      visibility_timeout: int | None = None, stop: asyncio.Event | None = None) -> list[QueueMessage]:
        self.waits.append(wait_seconds)
        self.ended.clear()
        self.polling.set()
        try:
            if stop is None:
                await asyncio.sleep(wait_seconds)  # the fake queue's own wait, as SQS would
            else:
                await asyncio.wait_for(stop.wait(), wait_seconds)
        except asyncio.TimeoutError:
            pass
        finally:
            self.polling.clear()
            self.ended.set()
        return []


def _invoker() -> Any:
    async def resolve(ref: Any) -> tuple[Any, Any, Any]:
        return SimpleNamespace(function_name=ref.name), None, None

    functions = SimpleNamespace(resolve=resolve, arn=lambda name, q=None: f"arn:aws:lambda:us-east-1:1:function:{name}")
    return SimpleNamespace(functions=functions)


async def test_a_change_wakes_the_mappings_at_once_and_a_disabled_mapping_ends_its_long_poll(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_sources, "_RECONCILE_SECONDS", 3600.0)  # a timer would not fire within the test
    backend = ListingBackend()
    sqs = LongPollingSqs()
    sources = SqsEventSources(DocumentStore(backend, "m", EventSourceMapping, "Event source mapping"), _invoker(),
                              sqs, region="us-east-1", account_id="123456789012",  # type: ignore[arg-type]
                              polls=ConsumerPolls(20, True))
    stop = asyncio.Event()
    task = asyncio.create_task(sources.run(stop))
    while backend.listings < 1:  # the first reading, at start
        await asyncio.sleep(0)

    created = await sources.create({"EventSourceArn": QUEUE_ARN, "FunctionName": "f"})
    await asyncio.wait_for(sqs.polling.wait(), 10)  # the change, not the timer, started the poller
    assert sqs.waits == [20]  # a long poll

    await sources.update(created["UUID"], {"Enabled": False})
    await asyncio.wait_for(sqs.ended.wait(), 10)  # the disabled mapping's poll ends at once, not after 20 s
    while sources._pollers:
        await asyncio.sleep(0)
    assert sqs.waits == [20]

    await sources.update(created["UUID"], {"Enabled": True})
    await asyncio.wait_for(sqs.polling.wait(), 10)
    stop.set()
    await asyncio.wait_for(task, 10)  # the stop ends the long poll too
    assert backend.listings == 4  # at start and after each of the three changes: nothing on a timer
