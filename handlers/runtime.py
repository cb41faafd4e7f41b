"""The local runtime: feeds handlers from their queues, as Lambda's SQS
event source mapping would.

Per handler it long-polls the queue, parses every message at the edge into
the handler's typed event, and runs handlers concurrently under one bound.
Each message succeeds or fails on its own (partial batch failure): a
success is deleted; a failure becomes visible again after a short back-off
and, on its last allowed receive, is moved to the dead-letter queue with the
error recorded as message attributes (SQS's own redrive is the backstop if
this process dies). Long handlers get their visibility extended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from handlers.deps import Deps
from handlers.envelopes import parse_body
from handlers.exceptions import HandlerTimeout
from handlers.registry import HandlerSpec
from services.aws.sqs import ConsumerPolls, SqsAdapter
from services.core.queues import QueueMessage
from services.core.settings import Settings

log = logging.getLogger(__name__)


async def run_record(spec: HandlerSpec, body: str | dict[str, Any], deps: Deps) -> int:
    """Parse one message and run the handler on each event in it; return how many ran."""
    events = parse_body(spec, body)
    for event in events:
        try:
            await asyncio.wait_for(spec.func(event, deps), timeout=spec.timeout_seconds)
        except asyncio.TimeoutError as err:
            raise HandlerTimeout(f"handler {spec.name} ran past its {spec.timeout_seconds:g} s timeout") from err
    return len(events)


def describe_error(err: BaseException) -> str:
    """``Type: message`` for records and DLQ attributes."""
    return f"{type(err).__name__}: {err}"


@dataclass
class BatchResult:
    """Which messages of a batch failed (SQS ``batchItemFailures``), and each one's error."""

    failed_ids: list[str]
    errors: dict[str, str] = field(default_factory=dict)  # message id -> "Type: message"

    def as_lambda_response(self) -> dict[str, Any]:
        """Lambda's partial batch response shape (the ids only: Lambda takes no other member)."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failed_ids]}


class HandlerRuntime:
    """Serves every registered handler from its queue until stopped."""

    def __init__(self, settings: Settings, sqs: SqsAdapter, deps: Deps, specs: dict[str, HandlerSpec], *,
                 emulator_embedded: bool = False) -> None:
        self.settings = settings
        self.polls = ConsumerPolls.choose(settings.poll_wait_seconds, emulator_embedded)
        self.sqs = sqs
        self.deps = deps
        self.specs = specs
        self.stats: dict[str, Counter[str]] = {name: Counter() for name in specs}
        self.last_errors: dict[str, str] = {}
        self._bound = asyncio.Semaphore(settings.handler_concurrency)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every handler's queue until ``stop`` is set; in-flight handlers finish."""
        pollers = [asyncio.create_task(self._poll(spec, stop), name=f"poll-{spec.name}")
                   for spec in self.specs.values()]
        await asyncio.gather(*pollers)

    async def _poll(self, spec: HandlerSpec, stop: asyncio.Event) -> None:
        queue = self.settings.queue_name(spec.name)
        while not stop.is_set():
            try:
                msgs = await self.sqs.receive(queue, max_messages=10, wait_seconds=self.polls.wait_seconds,
                                              visibility_timeout=self.settings.visibility_timeout,
                                              stop=stop if self.polls.abandon_on_stop else None)
            except Exception:  # noqa: BLE001 - keep serving through emulator hiccups
                log.exception("runtime: could not poll %s", queue)
                await asyncio.sleep(1.0)
                continue
            if msgs:
                await self.process_batch(spec, msgs)

    async def process_batch(self, spec: HandlerSpec, msgs: list[QueueMessage]) -> BatchResult:
        """Run a batch; each message is acknowledged, retried or dead-lettered on its own."""
        errors = await asyncio.gather(*(self._process(spec, m) for m in msgs))
        failed = {m.message_id: e for m, e in zip(msgs, errors) if e is not None}
        return BatchResult(list(failed), failed)

    async def _process(self, spec: HandlerSpec, msg: QueueMessage) -> str | None:
        """Handle one message; its error, or ``None`` once it succeeded and is deleted."""
        queue = self.settings.queue_name(spec.name)
        # Kept invisible from its receipt on: a message of the batch may wait for a free slot longer than
        # the visibility timeout, and would otherwise be delivered, and run, a second time.
        keeper = asyncio.create_task(self._keep_invisible(queue, msg))
        try:
            async with self._bound:
                await run_record(spec, msg.body, self.deps)
        except Exception as err:  # noqa: BLE001 - any handler error is this message's failure
            await _stopped(keeper)  # before the failure's own back-off is set
            await self._failed(spec, queue, msg, err)
            return describe_error(err)
        finally:
            await _stopped(keeper)
        await self.sqs.delete(queue, msg.receipt_handle)
        self.stats[spec.name]["succeeded"] += 1
        return None

    async def _failed(self, spec: HandlerSpec, queue: str, msg: QueueMessage, err: BaseException) -> None:
        error = describe_error(err)
        self.last_errors[spec.name] = error
        self.stats[spec.name]["failed"] += 1
        log.warning("handler %s failed on message %s (receive %d of %d): %s", spec.name, msg.message_id,
                    msg.receive_count, self.settings.max_receive_count, error)
        try:
            if msg.receive_count >= self.settings.max_receive_count:
                await self.sqs.send(self.settings.dlq_name(spec.name), msg.body, attributes={
                    "ErrorType": type(err).__name__, "ErrorMessage": str(err)[:4000] or type(err).__name__,
                    "Handler": spec.name, "Attempts": str(msg.receive_count),
                    "OriginalMessageId": msg.message_id,
                })
                await self.sqs.delete(queue, msg.receipt_handle)
                self.stats[spec.name]["dead_lettered"] += 1
                log.error("handler %s: message %s dead-lettered: %s", spec.name, msg.message_id, error)
            else:
                backoff = min(2 ** (msg.receive_count - 1), 30)
                await self.sqs.change_visibility(queue, msg.receipt_handle, backoff)
        except Exception:  # noqa: BLE001 - SQS's redrive policy still moves it eventually
            log.exception("handler %s: could not reschedule message %s", spec.name, msg.message_id)

    async def _keep_invisible(self, queue: str, msg: QueueMessage) -> None:
        period = max(self.settings.visibility_timeout / 2, 1)
        while True:
            await asyncio.sleep(period)
            try:
                await self.sqs.change_visibility(queue, msg.receipt_handle, self.settings.visibility_timeout)
            except Exception as err:  # noqa: BLE001 - tried again at the next period
                log.warning("runtime: could not keep message %s invisible on %s (%s); it may be delivered again",
                            msg.message_id, queue, describe_error(err))


async def _stopped(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has ended."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
