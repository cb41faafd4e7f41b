"""CloudWatch Logs: shipping container output and reading it back."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from botocore.exceptions import ClientError

# CloudWatch caps a PutLogEvents batch at 10,000 events and 1 MiB.
_MAX_BATCH = 1000
_MAX_EVENT_BYTES = 256 * 1024 - 26
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def escape_control(line: str) -> str:
    """Render control characters as ``#ooo`` (octal) as SageMaker's log
    pipeline does: a TAB becomes ``#011``, so metric regexes written for
    SageMaker (``#011validation-rmse:...``) match Headwater's logs."""
    return _CONTROL.sub(lambda m: f"#{ord(m.group()):03o}", line)


class LogsAdapter:
    """Log groups, streams, and events over an injected aiobotocore client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def ensure_stream(self, group: str, stream: str) -> None:
        """Create the group and the stream if missing."""
        for call, kwargs in (
            (self.client.create_log_group, {"logGroupName": group}),
            (self.client.create_log_stream, {"logGroupName": group, "logStreamName": stream}),
        ):
            try:
                await call(**kwargs)
            except ClientError as err:
                if err.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                    raise

    async def put(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        """Put ``(timestamp_ms, message)`` events in order, in allowed batches."""
        for start in range(0, len(events), _MAX_BATCH):
            batch = [
                {"timestamp": ts, "message": msg[:_MAX_EVENT_BYTES] or " "}
                for ts, msg in events[start:start + _MAX_BATCH]
            ]
            await self.client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)

    async def streams(self, group: str, prefix: str) -> list[str]:
        """Names of the streams in ``group`` starting with ``prefix``."""
        try:
            resp = await self.client.describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix)
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return []
            raise
        return [s["logStreamName"] for s in resp.get("logStreams", [])]

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
