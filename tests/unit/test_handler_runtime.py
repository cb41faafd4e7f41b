"""The handler runtime keeps every received message invisible until it is handled, waiting ones included."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from handlers.registry import HandlerSpec, OnEvent
from handlers.runtime import HandlerRuntime
from services.core.queues import QueueMessage
from services.core.settings import Settings

EVENT = {"version": "0", "id": "1", "detail-type": "SageMaker Training Job State Change",
         "source": "headwater.sagemaker", "account": "123456789012", "time": "2026-11-22T10:00:00Z",
         "region": "us-east-1", "resources": [], "detail": {"TrainingJobName": "j"}}


class RecordingSqs:
    """Records visibility changes and deletes, by receipt handle."""

    def __init__(self) -> None:
        self.extended: dict[str, int] = {}
        self.deleted: list[str] = []
        self.failing = False

    async def change_visibility(self, queue: str, receipt_handle: str, seconds: int) -> None:
        if self.failing:
            raise ConnectionError("SQS is not answering")
        self.extended[receipt_handle] = self.extended.get(receipt_handle, 0) + 1

    async def delete(self, queue: str, receipt_handle: str) -> None:
        self.deleted.append(receipt_handle)


def _message(handle: str) -> QueueMessage:
    return QueueMessage(message_id=handle, receipt_handle=handle, body=json.dumps(EVENT), receive_count=1)


async def _wait(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.05)


async def test_a_message_waiting_for_a_free_slot_stays_invisible() -> None:
    release = asyncio.Event()

    async def busy(event: Any, deps: Any) -> None:
        await release.wait()

    spec = HandlerSpec(name="busy", func=busy, trigger=OnEvent(detail_type=("SageMaker Training Job State Change",)))
    settings = Settings(handler_concurrency=1, visibility_timeout=2)
    sqs = RecordingSqs()
    runtime = HandlerRuntime(settings, sqs, None, {"busy": spec})  # type: ignore[arg-type]
    batch = asyncio.create_task(runtime.process_batch(spec, [_message("first"), _message("second")]))
    # "second" waits for the one slot "first" holds: its visibility must be kept up meanwhile.
    await asyncio.wait_for(_wait(lambda: sqs.extended.get("second")), timeout=10)
    assert not batch.done()
    release.set()
    result = await batch
    assert result.failed_ids == [] and sorted(sqs.deleted) == ["first", "second"]


async def test_a_visibility_that_cannot_be_extended_is_reported(caplog: Any) -> None:
    release = asyncio.Event()

    async def busy(event: Any, deps: Any) -> None:
        await release.wait()

    spec = HandlerSpec(name="busy", func=busy, trigger=OnEvent(detail_type=("SageMaker Training Job State Change",)))
    sqs = RecordingSqs()
    sqs.failing = True
    runtime = HandlerRuntime(Settings(visibility_timeout=2), sqs, None, {"busy": spec})  # type: ignore[arg-type]
    batch = asyncio.create_task(runtime.process_batch(spec, [_message("only")]))
    await asyncio.wait_for(_wait(lambda: "could not keep message only invisible" in caplog.text), timeout=10)
    release.set()
    await batch
