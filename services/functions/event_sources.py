"""SQS event source mappings: Lambda's poller that feeds a function batches from a queue.

``CreateEventSourceMapping`` with an SQS queue ARN starts a poller in the
node that serves the function; it works against any SQS (the embedded
emulator, LocalStack, AWS), as it only receives and deletes messages. Each
batch holds up to ``BatchSize`` messages (10 by default), gathered for up to
``MaximumBatchingWindowInSeconds``, and goes to the function as Lambda's
SQS event (``Records`` of ``messageId``, ``receiptHandle``, ``body``,
``attributes``, ``messageAttributes``, ``md5OfBody``, ``eventSource``
``aws:sqs``, ``eventSourceARN``, ``awsRegion``), invoked synchronously. A
success deletes the batch; a function error deletes nothing, so the
messages come back after the queue's visibility timeout and the queue's
redrive policy dead-letters them after ``maxReceiveCount`` receives. With
``FunctionResponseTypes: ["ReportBatchItemFailures"]`` a result
``{"batchItemFailures": [{"itemIdentifier": <messageId>}]}`` keeps only
those messages (an identifier that is no message of the batch fails it all,
as Lambda). A throttled batch is made visible again at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.aws.sqs import ConsumerPolls, SqsAdapter
from services.core.models import ApiModel
from services.core.queues import QueueMessage
from services.core.store import DocumentStore
from services.core.ticks import rest
from services.core.times import utcnow
from services.functions.exceptions import (
    InvalidParameterValueException,
    ResourceNotFoundException,
    TooManyRequestsException,
)
from services.functions.invoker import Invoker
from services.functions.names import parse_function_name

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 10
MAX_BATCH_SIZE = 10_000
MAX_WINDOW_SECONDS = 300
# The mappings are read again at every change made through this node, and this often besides: a mapping
# created, changed or deleted through another node that shares the state bucket takes effect here within it.
_RECONCILE_SECONDS = 30.0
_SHORT_WAIT_SECONDS = 1  # a receive's wait where polls cannot be abandoned (see ConsumerPolls)


class EventSourceMapping(ApiModel):
    """One mapping, stored as Lambda describes it (``UUID``, ``EventSourceArn``, ``FunctionArn``, ...)."""

    uuid: str = ""
    event_source_arn: str
    function_arn: str
    batch_size: int = DEFAULT_BATCH_SIZE
    maximum_batching_window_in_seconds: int = 0
    function_response_types: list[str] = []
    state: str = "Enabled"
    state_transition_reason: str = "USER_INITIATED"
    last_modified: datetime | None = None

    def describe(self, state: str | None = None) -> dict[str, Any]:
        """``EventSourceMappingConfiguration``; ``state`` overrides the stored one (``Creating``, ``Deleting``)."""
        out = self.to_api()
        out["UUID"] = out.pop("Uuid")
        if state:
            out["State"] = state
        return out


class SqsEventSources:
    """The mappings (documents in the system bucket) and their pollers."""

    def __init__(self, store: DocumentStore[EventSourceMapping], invoker: Invoker, sqs: SqsAdapter, *,
                 region: str, account_id: str, clock: Callable[[], datetime] = utcnow,
                 polls: ConsumerPolls | None = None) -> None:
        self.store = store
        self.invoker = invoker
        self.sqs = sqs
        self.region = region
        self.account_id = account_id
        self.clock = clock
        self.batches: dict[str, int] = {}  # mapping UUID -> batches delivered, for tests and status
        # Long polls, abandoned when their mapping is disabled or deleted or the node stops, against an
        # emulator this node embeds; short ones that run out elsewhere (see ConsumerPolls).
        self.polls = polls or ConsumerPolls(_SHORT_WAIT_SECONDS, False)
        # Set by every create, update and delete through this node: the pollers follow at once.
        self.changed = asyncio.Event()
        self._enabled: dict[str, EventSourceMapping] = {}
        self._pollers: dict[str, asyncio.Task[None]] = {}
        self._halts: dict[str, asyncio.Event] = {}  # per poller: set when its mapping goes or the node stops
        self._retiring: set[asyncio.Task[None]] = set()  # pollers of mappings gone, finishing their batch

    # ------------------------------------------------------------------ the API

    async def create(self, params: dict[str, Any]) -> dict[str, Any]:
        """``CreateEventSourceMapping``."""
        arn = params.get("EventSourceArn") or ""
        if arn.split(":")[2:3] != ["sqs"]:
            raise InvalidParameterValueException(f"Unsupported event source {arn or 'None'}: this Lambda serves SQS "
                                                 "event source mappings only")
        await self._check_queue(arn)
        mapping = EventSourceMapping(uuid=str(uuid.uuid4()), event_source_arn=arn,
                                     function_arn=await self._function_arn(params["FunctionName"]),
                                     last_modified=self.clock())
        mapping = _settings(mapping, params)
        await self.store.create(mapping.uuid, mapping)
        self.changed.set()
        return mapping.describe("Creating")

    async def get(self, mapping_id: str) -> EventSourceMapping:
        """The mapping ``mapping_id``; ``ResourceNotFoundException`` when there is none."""
        mapping = await self.store.get(mapping_id)
        if mapping is None:
            raise ResourceNotFoundException(f"The resource you requested does not exist. (Service: Lambda, "
                                            f"Status Code: 404, Request ID: {mapping_id})")
        return mapping

    async def update(self, mapping_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """``UpdateEventSourceMapping``."""
        await self.get(mapping_id)
        function_arn = await self._function_arn(params["FunctionName"]) if params.get("FunctionName") else None
        now = self.clock()

        def change(m: EventSourceMapping) -> EventSourceMapping:
            m = _settings(m, params)
            return m.model_copy(update={"last_modified": now, **({"function_arn": function_arn} if function_arn else {})})

        _, after = await self.store.update(mapping_id, change)
        self.changed.set()
        return after.describe("Updating")

    async def delete(self, mapping_id: str) -> dict[str, Any]:
        """``DeleteEventSourceMapping``."""
        mapping = await self.get(mapping_id)
        await self.store.delete(mapping_id)
        self.changed.set()
        return mapping.describe("Deleting")

    async def list(self, function_name: str | None, event_source_arn: str | None) -> list[dict[str, Any]]:
        """Every mapping, or those of one function and / or queue."""
        wanted = parse_function_name(function_name).name if function_name else None
        out = []
        for m in sorted(await self.store.list(), key=lambda m: (m.last_modified or self.clock(), m.uuid)):
            if wanted and parse_function_name(m.function_arn).name != wanted:
                continue
            if event_source_arn and m.event_source_arn != event_source_arn:
                continue
            out.append(m.describe())
        return out

    async def _function_arn(self, name: str) -> str:
        ref = parse_function_name(name)
        doc, _config, _alias = await self.invoker.functions.resolve(ref)  # ResourceNotFoundException
        return self.invoker.functions.arn(doc.function_name, ref.qualifier)

    async def _check_queue(self, arn: str) -> None:
        try:
            await self.sqs.queue_url(_queue_name(arn))
        except Exception as err:  # noqa: BLE001 - any failure to find it is the caller's bad ARN
            raise InvalidParameterValueException(f"Error occurred while ReceiveMessage. SQS Error Code: "
                                                 f"AWS.SimpleQueueService.NonExistentQueue ({arn})") from err

    # ------------------------------------------------------------------ the pollers

    async def run(self, stop: asyncio.Event) -> None:
        """Keep one poller per enabled mapping until ``stop`` is set.

        The mappings are read at start, at once after a change through this node, and every
        ``_RECONCILE_SECONDS`` for changes through other nodes; between those the node only long-polls.
        """
        try:
            while not stop.is_set():
                self.changed.clear()  # a change during the reading makes another one
                try:
                    await self._reconcile(stop)
                except Exception:  # noqa: BLE001 - the next round tries again
                    log.exception("event source mappings: could not read the mappings")
                await rest(stop, self.changed, timeout=_RECONCILE_SECONDS)
        finally:
            for halt in self._halts.values():
                halt.set()
            pollers = [*self._pollers.values(), *self._retiring]
            for task in pollers:
                task.cancel()
            await asyncio.gather(*pollers, return_exceptions=True)
            self._pollers.clear()
            self._halts.clear()

    async def _reconcile(self, stop: asyncio.Event) -> None:
        self._enabled = {m.uuid: m for m in await self.store.list() if m.state == "Enabled"}
        for mapping_id, task in list(self._pollers.items()):
            if mapping_id not in self._enabled:
                self._halts[mapping_id].set()  # disabled or deleted: its long poll ends now, and so its poller
            if task.done() or mapping_id not in self._enabled:
                del self._pollers[mapping_id]
                del self._halts[mapping_id]
                if not task.done():  # ending: awaited at stop with the others
                    self._retiring.add(task)
                    task.add_done_callback(self._retiring.discard)
        for mapping_id in self._enabled:
            if mapping_id not in self._pollers:
                halt = self._halts[mapping_id] = asyncio.Event()
                self._pollers[mapping_id] = asyncio.create_task(self._poll(mapping_id, stop, halt),
                                                                name=f"sqs-source-{mapping_id[:8]}")

    async def _poll(self, mapping_id: str, stop: asyncio.Event, halt: asyncio.Event) -> None:
        while not stop.is_set() and not halt.is_set() and (mapping := self._enabled.get(mapping_id)) is not None:
            try:
                batch = await self._gather(mapping, halt)
                if batch:
                    await self.deliver(mapping, batch)
            except Exception:  # noqa: BLE001 - the messages come back after their visibility timeout
                log.exception("event source mapping %s: a batch failed in the platform", mapping_id)
                await asyncio.sleep(1.0)

    async def _gather(self, mapping: EventSourceMapping, stop: asyncio.Event) -> list[QueueMessage]:
        """A batch: what the first receive brings, topped up until it is full or the batching window closes.

        ``stop`` here is the poller's halt: its mapping went, or the node stops."""
        queue = _queue_name(mapping.event_source_arn)
        batch = await self.sqs.receive(queue, max_messages=min(10, mapping.batch_size),
                                       wait_seconds=self.polls.wait_seconds,
                                       stop=stop if self.polls.abandon_on_stop else None)
        deadline = time.monotonic() + mapping.maximum_batching_window_in_seconds
        while batch and len(batch) < mapping.batch_size and not stop.is_set():
            wait = min(int(deadline - time.monotonic()), 20)
            if wait < 0:
                break
            more = await self.sqs.receive(queue, max_messages=min(10, mapping.batch_size - len(batch)),
                                          wait_seconds=wait)
            if not more and wait == 0:
                break
            batch += more
        return batch

    async def deliver(self, mapping: EventSourceMapping, batch: list[QueueMessage]) -> None:
        """Invoke the function with ``batch`` and settle its messages."""
        queue = _queue_name(mapping.event_source_arn)
        event = {"Records": [self._record(mapping, m) for m in batch]}
        try:
            result = await self.invoker.invoke(parse_function_name(mapping.function_arn),
                                               json.dumps(event).encode())
        except TooManyRequestsException:
            for m in batch:  # back on the queue at once: a throttle is no failure of the messages
                await self.sqs.change_visibility(queue, m.receipt_handle, 0)
            return
        self.batches[mapping.uuid] = self.batches.get(mapping.uuid, 0) + 1
        if result.function_error:
            log.warning("event source mapping %s: the function failed on a batch of %d; it comes back after the "
                        "queue's visibility timeout", mapping.uuid, len(batch))
            return
        keep = _failed_items(result.payload, batch) if "ReportBatchItemFailures" in mapping.function_response_types \
            else set()
        for m in batch:
            if m.message_id not in keep:
                await self.sqs.delete(queue, m.receipt_handle)

    def _record(self, mapping: EventSourceMapping, m: QueueMessage) -> dict[str, Any]:
        wanted = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                  "MessageGroupId", "MessageDeduplicationId", "SequenceNumber", "AWSTraceHeader")
        return {
            "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
            "attributes": {k: v for k, v in m.attributes.items() if k in wanted},
            "messageAttributes": {k: {"stringValue": v, "stringListValues": [], "binaryListValues": [],
                                      "dataType": "String"} for k, v in m.message_attributes.items()},
            "md5OfBody": hashlib.md5(m.body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs", "eventSourceARN": mapping.event_source_arn,
            "awsRegion": mapping.event_source_arn.split(":")[3] or self.region,
        }


def _settings(mapping: EventSourceMapping, params: dict[str, Any]) -> EventSourceMapping:
    """``mapping`` with the settings ``params`` gives, checked as Lambda checks them."""
    update: dict[str, Any] = {}
    if "BatchSize" in params:
        update["batch_size"] = int(params["BatchSize"])
    if "MaximumBatchingWindowInSeconds" in params:
        update["maximum_batching_window_in_seconds"] = int(params["MaximumBatchingWindowInSeconds"])
    if "FunctionResponseTypes" in params:
        update["function_response_types"] = list(params["FunctionResponseTypes"])
    if "Enabled" in params:
        update["state"] = "Enabled" if params["Enabled"] else "Disabled"
    out = mapping.model_copy(update=update)
    if not 1 <= out.batch_size <= MAX_BATCH_SIZE:
        raise InvalidParameterValueException(f"BatchSize must be between 1 and {MAX_BATCH_SIZE} for SQS")
    if not 0 <= out.maximum_batching_window_in_seconds <= MAX_WINDOW_SECONDS:
        raise InvalidParameterValueException(f"MaximumBatchingWindowInSeconds must be between 0 and "
                                             f"{MAX_WINDOW_SECONDS}")
    if out.batch_size > 10 and out.maximum_batching_window_in_seconds < 1:
        raise InvalidParameterValueException("Maximum batch window in seconds must be greater than 0 if maximum "
                                             "batch size is greater than 10")
    if set(out.function_response_types) - {"ReportBatchItemFailures"}:
        raise InvalidParameterValueException("FunctionResponseTypes may only hold ReportBatchItemFailures")
    return out


def _failed_items(payload: bytes, batch: list[QueueMessage]) -> set[str]:
    """The message ids a partial batch response names; every id of the batch when the response is not one."""
    everything = {m.message_id for m in batch}
    try:
        doc = json.loads(payload or b"null")
    except ValueError:
        return set()  # not JSON: Lambda takes it as a success of the whole batch
    if not isinstance(doc, dict) or doc.get("batchItemFailures") is None:
        return set()
    failures = doc["batchItemFailures"]
    ids = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)} if isinstance(failures, list) else {None}
    if not ids <= everything:
        return everything  # an empty or unknown identifier: Lambda fails the whole batch
    return {i for i in ids if i}


def _queue_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]
