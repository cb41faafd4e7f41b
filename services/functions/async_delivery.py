"""``Event`` invocations: queued durably, retried with back-off, then sent to their destinations.

``Invoke`` with ``InvocationType=Event`` is answered 202 once the
invocation is on the functions' async queue (SQS), as Lambda answers once
its own internal queue has it. A consumer runs each one; what happens next
follows the function's event invoke configuration (Lambda's defaults
without one):

* success: the ``OnSuccess`` destination gets Lambda's invocation record;
* a function error: retried up to ``MaximumRetryAttempts`` (2) times, the
  n-th retry queued with a delay of ``retry_seconds * 2**(n-1)``; then the
  ``OnFailure`` destination gets the record (``condition``
  ``RetriesExhausted``) and the function's ``DeadLetterConfig`` queue the
  event, with ``RequestID`` / ``ErrorCode`` / ``ErrorMessage`` attributes;
* older than ``MaximumEventAgeInSeconds``: failed the same way, with
  ``condition`` ``EventAgeExceeded``, and not run;
* throttled: put back for a moment, with no attempt counted;
* the function does not exist: dropped, or, when a rule target sent it with
  a ``DeadLetterConfig``, sent to that queue with EventBridge's
  ``RULE_ARN`` / ``TARGET_ARN`` / ``ERROR_CODE`` / ``ERROR_MESSAGE``
  attributes (EventBridge does not retry a missing target).

A retry is queued before the message it replaces is deleted, and a message
stays invisible only while it is being worked on, so a node that stops
mid-delivery loses nothing: SQS hands the message out again.
Destinations: an SQS queue, an EventBridge bus (``source`` ``lambda``,
``detail-type`` ``Lambda Function Invocation Result - Success`` /
``- Failure``) or another function (an ``Event`` invocation of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from services.aws.events import EventPublisher
from services.aws.sqs import ConsumerPolls, SqsAdapter
from services.core.queues import QueueMessage
from services.functions.exceptions import ResourceNotFoundException, TooManyRequestsException
from services.functions.invoker import Invoker, InvokeResult
from services.functions.models import DEFAULT_MAX_EVENT_AGE, DEFAULT_RETRY_ATTEMPTS
from services.functions.names import FunctionRef, parse_function_name
from services.functions.settings_ops import event_invoke_config

log = logging.getLogger(__name__)

#: The queue of Event invocations (``Settings.queue_name`` of it), and how often SQS may hand one out before
#: its redrive policy dead-letters it: attempts are counted in the message, so this is only the backstop for
#: a message that keeps failing in the platform itself (or stays throttled).
ASYNC_QUEUE = "functions-async"
ASYNC_QUEUE_MAX_RECEIVES = 100
#: Lambda's limit on an ``Event`` invocation's payload.
MAX_ASYNC_PAYLOAD = 256 * 1024
_MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds
_THROTTLE_BACKOFF_SECONDS = 1


class AsyncInvocations:
    """The queue of ``Event`` invocations and its consumer."""

    def __init__(self, invoker: Invoker, sqs: SqsAdapter, queue: str, events_client: Any, *, polls: ConsumerPolls,
                 concurrency: int, retry_seconds: float, visibility_timeout: int,
                 stop_grace_seconds: float = 10.0) -> None:
        self.invoker = invoker
        self.sqs = sqs
        self.queue = queue
        self.events_client = events_client
        self.polls = polls
        self.retry_seconds = retry_seconds
        self.visibility_timeout = visibility_timeout
        self.stop_grace_seconds = stop_grace_seconds
        self._bound = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered: dict[str, int] = {}  # outcome -> count, for tests and figures

    async def enqueue(self, ref: FunctionRef, payload: bytes, request_id: str | None = None) -> str:
        """Queue an ``Event`` invocation; its request id."""
        body = invocation_message(ref, payload.decode("utf-8"), request_id)
        await self.sqs.send(self.queue, body)
        return str(body["RequestId"])

    async def run(self, stop: asyncio.Event) -> None:
        """Consume the queue until ``stop`` is set; invocations under way finish."""
        while not stop.is_set():
            try:
                msgs = await self.sqs.receive(self.queue, max_messages=10, wait_seconds=self.polls.wait_seconds,
                                              visibility_timeout=self.visibility_timeout,
                                              stop=stop if self.polls.abandon_on_stop else None)
            except Exception:  # noqa: BLE001 - keep serving through emulator hiccups
                log.exception("functions: could not poll %s", self.queue)
                await asyncio.sleep(1.0)
                continue
            for msg in msgs:
                await self._bound.acquire()
                task = asyncio.create_task(self._run_one(msg), name=f"event-invoke-{msg.message_id[:8]}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        await self._abandon()

    async def _abandon(self) -> None:
        """At stop: invocations under way get ``stop_grace_seconds`` to end; the rest are left to SQS, which
        hands their messages out again once their visibility timeout has passed (at least once)."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.stop_grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _run_one(self, msg: QueueMessage) -> None:
        keeper = asyncio.create_task(self._keep_invisible(msg))
        try:
            await self.process(msg)
        except Exception:  # noqa: BLE001 - the message comes back after its visibility timeout
            log.exception("functions: Event invocation %s failed in the platform; it will be retried", msg.message_id)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            self._bound.release()

    async def process(self, msg: QueueMessage) -> None:
        """Run one queued invocation and settle its message."""
        body = json.loads(msg.body)
        ref = FunctionRef(body["FunctionName"], body.get("Qualifier"))
        request_id = body["RequestId"]
        payload = body["Payload"].encode("utf-8")
        try:
            doc, config, alias = await self.invoker.functions.resolve(ref)
        except ResourceNotFoundException as err:
            origin = body.get("Origin") or {}
            if origin.get("DeadLetterArn"):
                # EventBridge does not retry a target that does not exist: the event goes to the target's DLQ.
                await self.sqs.send(_queue_name(origin["DeadLetterArn"]), body["Payload"], attributes={
                    "RULE_ARN": origin.get("RuleArn", ""), "TARGET_ARN": origin.get("TargetArn", ""),
                    "ERROR_CODE": "RESOURCE_NOT_FOUND", "ERROR_MESSAGE": str(err)})
                self._count("target-dead-lettered")
            log.warning("functions: dropping Event invocation %s of %s: the function is gone", request_id, ref.name)
            await self.sqs.delete(self.queue, msg.receipt_handle)
            return
        settings = event_invoke_config(doc, config.version, alias)
        retries = settings.maximum_retry_attempts if settings else DEFAULT_RETRY_ATTEMPTS
        max_age = settings.maximum_event_age_in_seconds if settings else DEFAULT_MAX_EVENT_AGE
        attempts = int(body.get("Attempt", 0))
        function_arn = self.invoker.functions.arn(ref.name, alias or config.version)
        if time.time() * 1000 - body["EnqueuedMs"] > max_age * 1000:
            await self._failed(body, function_arn, config.version, attempts, "EventAgeExceeded", None,
                               settings.destination("OnFailure") if settings else None,
                               (config.dead_letter_config or {}).get("TargetArn"))
            await self.sqs.delete(self.queue, msg.receipt_handle)
            return
        try:
            result = await self.invoker.invoke(ref, payload, request_id=request_id)
        except TooManyRequestsException:
            await self.sqs.change_visibility(self.queue, msg.receipt_handle, _THROTTLE_BACKOFF_SECONDS)
            return
        attempts += 1
        if result.function_error is None:
            await self._deliver(settings.destination("OnSuccess") if settings else None,
                                _record(body, function_arn, attempts, "Success", result), success=True)
            self._count("succeeded")
        elif attempts <= retries:
            delay = min(math.ceil(self.retry_seconds * 2 ** (attempts - 1)), _MAX_DELAY_SECONDS)
            await self.sqs.send(self.queue, {**body, "Attempt": attempts}, delay_seconds=delay)
            self._count("retried")
        else:
            await self._failed(body, function_arn, config.version, attempts, "RetriesExhausted", result,
                               settings.destination("OnFailure") if settings else None,
                               (config.dead_letter_config or {}).get("TargetArn"))
        await self.sqs.delete(self.queue, msg.receipt_handle)

    async def _failed(self, body: dict[str, Any], function_arn: str, version: str, attempts: int, condition: str,
                      result: InvokeResult | None, destination: str | None, dead_letter: str | None) -> None:
        record = _record(body, function_arn, attempts, condition, result, version)
        await self._deliver(destination, record, success=False)
        if dead_letter:
            error = _error_message(result) if result is not None else f"Event age exceeded ({condition})"
            await self.sqs.send(_queue_name(dead_letter), body["Payload"], attributes={
                "RequestID": body["RequestId"], "ErrorCode": "200", "ErrorMessage": error})
        log.warning("functions: Event invocation %s of %s failed (%s after %d attempt(s))", body["RequestId"],
                    body["FunctionName"], condition, attempts)
        self._count("failed")

    async def _deliver(self, destination: str | None, record: dict[str, Any], *, success: bool) -> None:
        if not destination:
            return
        service = destination.split(":")[2]
        if service == "sqs":
            await self.sqs.send(_queue_name(destination), record)
        elif service == "events":
            bus = destination.split(":", 5)[5].removeprefix("event-bus/")
            outcome = "Success" if success else "Failure"
            await EventPublisher(self.events_client, bus, "lambda").publish(
                f"Lambda Function Invocation Result - {outcome}", record,
                [destination, record["requestContext"]["functionArn"]])
        elif service == "lambda":
            await self.enqueue(parse_function_name(destination), json.dumps(record).encode())
        self._count(f"destination-{service}")

    async def _keep_invisible(self, msg: QueueMessage) -> None:
        period = max(self.visibility_timeout / 2, 1)
        while True:
            await asyncio.sleep(period)
            try:
                await self.sqs.change_visibility(self.queue, msg.receipt_handle, self.visibility_timeout)
            except Exception as err:  # noqa: BLE001 - tried again at the next period
                log.warning("functions: could not keep Event invocation %s invisible: %s", msg.message_id, err)

    def _count(self, outcome: str) -> None:
        self.delivered[outcome] = self.delivered.get(outcome, 0) + 1

    async def close(self) -> None:
        """Let invocations under way end, or leave them to SQS (see :meth:`_abandon`)."""
        await self._abandon()


def invocation_message(ref: FunctionRef, payload: str, request_id: str | None = None,
                       origin: dict[str, str] | None = None) -> dict[str, Any]:
    """The queued form of one ``Event`` invocation of ``ref`` with ``payload`` (JSON text).

    ``origin``: the rule target that sent it (``RuleArn``, ``TargetArn``, ``DeadLetterArn``), for the target's
    dead-letter queue when the function does not exist."""
    body: dict[str, Any] = {"FunctionName": ref.name, "Qualifier": ref.qualifier,
                            "RequestId": request_id or str(uuid.uuid4()), "Payload": payload,
                            "Attempt": 0, "EnqueuedMs": int(time.time() * 1000)}
    if origin:
        body["Origin"] = origin
    return body


def _queue_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _error_message(result: InvokeResult) -> str:
    doc = _parse(result.payload.decode("utf-8", "replace"))
    return str(doc.get("errorMessage", doc)) if isinstance(doc, dict) else str(doc)


def _record(body: dict[str, Any], function_arn: str, attempts: int, condition: str, result: InvokeResult | None,
            version: str | None = None) -> dict[str, Any]:
    """Lambda's invocation record, as destinations receive it."""
    now = datetime.now(timezone.utc)
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "requestContext": {"requestId": body["RequestId"], "functionArn": function_arn, "condition": condition,
                           "approximateInvokeCount": attempts},
        "requestPayload": _parse(body["Payload"]),
    }
    if result is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": result.executed_version}
        if result.function_error:
            context["functionError"] = result.function_error
        record["responseContext"] = context
        record["responsePayload"] = _parse(result.payload.decode("utf-8", "replace"))
    elif version:
        record["responseContext"] = {"statusCode": 200, "executedVersion": version}
    return record
