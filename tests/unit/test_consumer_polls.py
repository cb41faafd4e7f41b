"""Queue consumers: long polls against the embedded emulator, abandoned at stop; short ones elsewhere."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.aws.sqs import LONG_POLL_SECONDS, ConsumerPolls, SqsAdapter


class HangingSqs:
    """A receive_message that waits as long as it is told to, or until cancelled."""

    def __init__(self, messages: list[dict[str, Any]] | None = None, hang: bool = True) -> None:
        self.messages = messages or []
        self.hang = hang
        self.calls: list[dict[str, Any]] = []
        self.cancelled = 0

    async def get_queue_url(self, QueueName: str) -> dict[str, str]:  # noqa: N803 - botocore's names
        return {"QueueUrl": f"http://sqs/{QueueName}"}

    async def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.hang:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return {"Messages": self.messages}


def test_consumers_long_poll_only_against_the_emulator_their_node_embeds() -> None:
    assert ConsumerPolls.choose(1, emulator_embedded=True) == ConsumerPolls(LONG_POLL_SECONDS, True)
    assert ConsumerPolls.choose(1, emulator_embedded=False) == ConsumerPolls(1, False)
    assert LONG_POLL_SECONDS == 20  # SQS's maximum WaitTimeSeconds


@pytest.mark.asyncio
async def test_a_stop_abandons_a_long_poll_in_flight() -> None:
    client = HangingSqs()
    sqs = SqsAdapter(client)
    stop = asyncio.Event()
    poll = asyncio.create_task(sqs.receive("q", wait_seconds=20, stop=stop))
    while not client.calls:
        await asyncio.sleep(0.01)
    stop.set()
    # The fake would hang for an hour: returning at all means the poll was abandoned.
    assert await asyncio.wait_for(poll, 30) == []
    assert client.cancelled == 1
    assert client.calls[0]["WaitTimeSeconds"] == 20


@pytest.mark.asyncio
async def test_a_poll_after_stop_is_not_sent() -> None:
    client = HangingSqs()
    stop = asyncio.Event()
    stop.set()
    assert await SqsAdapter(client).receive("q", stop=stop) == []
    assert client.calls == []


@pytest.mark.asyncio
async def test_messages_received_before_a_stop_are_returned() -> None:
    message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "{}", "Attributes": {"ApproximateReceiveCount": "2"}}
    client = HangingSqs([message], hang=False)
    got = await SqsAdapter(client).receive("q", stop=asyncio.Event())
    assert [(m.message_id, m.receive_count) for m in got] == [("m1", 2)]
