"""CloudWatch Logs: shipping container output and reading it back."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from botocore.exceptions import ClientError

# PutLogEvents' limits: 10,000 events and 1 MiB a batch, counting each event's UTF-8 message plus 26
# bytes; 256 KiB an event, counted the same way.
_MAX_BATCH_EVENTS = 10_000
_MAX_BATCH_BYTES = 1_048_576
_EVENT_OVERHEAD = 26
_MAX_MESSAGE_BYTES = 256 * 1024 - _EVENT_OVERHEAD
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def escape_control(line: str) -> str:
    """Render control characters as ``#ooo`` (octal) as SageMaker's log
    pipeline does: a TAB becomes ``#011``, so metric regexes written for
    SageMaker (``#011validation-rmse:...``) match Headwater's logs."""
    return _CONTROL.sub(lambda m: f"#{ord(m.group()):03o}", line)


class PutLogEventsFailed(Exception):
    """A ``put`` stopped at a refused batch; ``delivered`` events (the first ones) were put."""

    def __init__(self, delivered: int, cause: Exception) -> None:
        super().__init__(f"{delivered} event(s) delivered, then: {cause}")
        self.delivered = delivered
        self.cause = cause


def _message(text: str) -> str:
    """A message within the event limit: cut at a character boundary, by UTF-8 bytes; never empty."""
    data = text.encode("utf-8")
    if len(data) > _MAX_MESSAGE_BYTES:
        text = data[:_MAX_MESSAGE_BYTES].decode("utf-8", errors="ignore")
    return text or " "


def _batches(events: list[tuple[int, str]]) -> list[list[dict[str, Any]]]:
    """``events`` cut into batches PutLogEvents accepts, in order."""
    batches: list[list[dict[str, Any]]] = []
    batch: list[dict[str, Any]] = []
    size = 0
    for ts, text in events:
        message = _message(text)
        cost = len(message.encode("utf-8")) + _EVENT_OVERHEAD
        if batch and (len(batch) == _MAX_BATCH_EVENTS or size + cost > _MAX_BATCH_BYTES):
            batches.append(batch)
            batch, size = [], 0
        batch.append({"timestamp": ts, "message": message})
        size += cost
    if batch:
        batches.append(batch)
    return batches


class LogsAdapter:
    """Log groups, streams, and events over an injected aiobotocore client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._groups: set[str] = set()  # groups this adapter created or found: every job's stream goes in one

    async def ensure_stream(self, group: str, stream: str) -> None:
        """Create the group (once per adapter, unless it was deleted since) and the stream if missing."""
        for _ in range(2):
            if group not in self._groups:
                await self._create(self.client.create_log_group, logGroupName=group)
                self._groups.add(group)
            try:
                await self._create(self.client.create_log_stream, logGroupName=group, logStreamName=stream)
                return
            except ClientError as err:
                if err.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                self._groups.discard(group)  # deleted since this adapter saw it: create it again

    @staticmethod
    async def _create(call: Any, **kwargs: Any) -> None:
        try:
            await call(**kwargs)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                raise

    async def put(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        """Put ``(timestamp_ms, message)`` events in order, in batches within PutLogEvents' limits (a message
        over 256 KiB is cut there). :class:`PutLogEventsFailed` says how many went before a refused batch."""
        delivered = 0
        for batch in _batches(events):
            try:
                await self.client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
            except Exception as err:
                raise PutLogEventsFailed(delivered, err) from err
            delivered += len(batch)

    async def streams(self, group: str, prefix: str) -> list[str]:
        """Names of the streams in ``group`` starting with ``prefix``."""
        try:
            resp = await self.client.describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix)
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return []
            raise
        return [s["logStreamName"] for s in resp.get("logStreams", [])]

    async def group_events(self, group: str, start_ms: int = 0) -> list[tuple[str, int, str, str]]:
        """Every event of every stream of ``group`` from ``start_ms`` on: ``(event id, timestamp, stream,
        message)``, in time order; none when the group does not exist (yet)."""
        out: list[tuple[str, int, str, str]] = []
        kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
        while True:
            try:
                resp = await self.client.filter_log_events(**kwargs)
            except ClientError as err:
                if err.response["Error"]["Code"] == "ResourceNotFoundException":
                    return []
                raise
            out.extend((str(e["eventId"]), int(e["timestamp"]), str(e.get("logStreamName", "")), str(e["message"]))
                       for e in resp.get("events", []))
            if not resp.get("nextToken"):
                break
            kwargs["nextToken"] = resp["nextToken"]
        return sorted(out, key=lambda e: e[1])

    async def tail(self, group: str, stream: str, *, follow: Callable[[], Any] | None = None,
                   poll_seconds: float = 0.5) -> AsyncIterator[tuple[int, str]]:
        """Yield a stream's events from the start; while ``follow()`` is truthy
        (awaitable or plain), keep polling for new ones."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
            if token:
                kwargs["nextToken"] = token
            resp = await self.client.get_log_events(**kwargs)
            for ev in resp.get("events", []):
                yield int(ev["timestamp"]), str(ev["message"])
            new_token = resp.get("nextForwardToken")
            got_events = bool(resp.get("events"))
            token = new_token
            if got_events:
                continue
            keep = follow() if follow else False
            if asyncio.iscoroutine(keep):
                keep = await keep
            if not keep:
                return
            await asyncio.sleep(poll_seconds)


def now_ms() -> int:
    """Milliseconds since the epoch, as CloudWatch timestamps are."""
    return int(time.time() * 1000)
