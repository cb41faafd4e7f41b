"""Data capture in SageMaker's format, buffered and flushed without blocking requests.

Each captured invocation is one JSON line::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "1,2,3", "encoding": "CSV"},
                     "endpointOutput": {...  "mode": "OUTPUT" ...}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceTime": "2026-01-01T10:00:00Z"},
     "eventVersion": "0"}

Data is kept as text when its content type is listed as CSV or JSON
(``CaptureContentTypeHeader``; ``text/csv`` and ``application/json`` by
default) and base64 otherwise. Lines are written under
``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl``.
:meth:`CaptureWriter.add` only appends to a buffer; a background task
uploads every ``flush_seconds``, keeps a batch whose upload failed for the
next round, and :meth:`CaptureWriter.close` lets an upload in flight finish
and uploads whatever is left. While S3 cannot be reached the buffer grows up
to ``max_buffered_bytes``; past it the oldest lines are dropped and counted
(:attr:`CaptureWriter.dropped`), as SageMaker drops captures it cannot keep.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import uuid
from collections import deque
from datetime import datetime, timezone
from typing import Any

from services.aws.s3 import S3Adapter, parse_s3_uri
from services.hosting.models import DataCaptureConfig

log = logging.getLogger(__name__)

# What the buffer may hold while S3 cannot be reached (the node sets HEADWATER_CAPTURE_BUFFER_MB).
DEFAULT_MAX_BUFFERED_BYTES = 128 * 1024 * 1024
DEFAULT_CSV = ("text/csv",)
DEFAULT_JSON = ("application/json",)


def _encode(data: bytes, content_type: str, config: DataCaptureConfig) -> tuple[str, str]:
    header = config.capture_content_type_header or {}
    media = content_type.split(";", 1)[0].strip().lower()
    if media in [c.lower() for c in header.get("CsvContentTypes") or DEFAULT_CSV]:
        kind = "CSV"
    elif media in [c.lower() for c in header.get("JsonContentTypes") or DEFAULT_JSON]:
        kind = "JSON"
    else:
        return base64.b64encode(data).decode("ascii"), "BASE64"
    try:
        return data.decode("utf-8"), kind
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "BASE64"


def capture_record(config: DataCaptureConfig, request: tuple[bytes, str], response: tuple[bytes, str] | None,
                   when: datetime, event_id: str | None = None, inference_id: str | None = None) -> dict[str, Any]:
    """One capture line for a request ``(body, content type)`` and its response."""
    modes = {o.capture_mode.lower() for o in config.capture_options}
    data: dict[str, Any] = {}
    if "input" in modes:
        text, enc = _encode(request[0], request[1], config)
        data["endpointInput"] = {"observedContentType": request[1], "mode": "INPUT", "data": text, "encoding": enc}
    if "output" in modes and response is not None:
        text, enc = _encode(response[0], response[1], config)
        data["endpointOutput"] = {"observedContentType": response[1], "mode": "OUTPUT", "data": text,
                                  "encoding": enc}
    metadata = {"eventId": event_id or str(uuid.uuid4()), "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id:  # the caller's InferenceId: what ground truth is merged on, when present
        metadata["inferenceId"] = inference_id
    return {"captureData": data, "eventMetadata": metadata, "eventVersion": "0"}


class CaptureWriter:
    """Buffers capture lines per (destination, endpoint, variant, hour) and uploads them."""

    def __init__(self, s3: S3Adapter, flush_seconds: float = 1.0,
                 max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES) -> None:
        self.s3 = s3
        self.flush_seconds = flush_seconds
        self.max_buffered_bytes = max_buffered_bytes
        self._buffers: dict[tuple[str, str, str, str], deque[str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._lock = asyncio.Lock()
        self.captured = 0
        self.uploaded = 0
        self.dropped = 0
        self.buffered_bytes = 0

    @property
    def buffered_lines(self) -> int:
        """Lines waiting for their upload."""
        return sum(len(lines) for lines in self._buffers.values())

    def sampled(self, config: DataCaptureConfig) -> bool:
        """Whether this invocation is captured, at ``InitialSamplingPercentage``."""
        return random.random() * 100 < config.initial_sampling_percentage

    def add(self, config: DataCaptureConfig, endpoint: str, variant: str, request: tuple[bytes, str],
            response: tuple[bytes, str] | None, inference_id: str | None = None) -> None:
        """Buffer one capture line (never blocks, never raises into the request)."""
        now = datetime.now(timezone.utc)
        line = json.dumps(capture_record(config, request, response, now, inference_id=inference_id),
                          separators=(",", ":"))
        self._keep((config.destination_s3_uri.rstrip("/"), endpoint, variant, now.strftime("%Y/%m/%d/%H")), [line])
        self.captured += 1
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="data-capture")

    def _keep(self, key: tuple[str, str, str, str], lines: list[str] | deque[str], *, first: bool = False) -> None:
        """Buffer ``lines`` (``first``: ahead of what is there, a batch put back), then keep within the bound."""
        buffer = self._buffers.setdefault(key, deque())
        if first:
            buffer.extendleft(reversed(lines))
        else:
            buffer.extend(lines)
        self.buffered_bytes += sum(len(line) + 1 for line in lines)
        while self.buffered_bytes > self.max_buffered_bytes and self._buffers:
            oldest = min(self._buffers, key=lambda k: k[3])  # the earliest hour goes first
            dropped = self._buffers[oldest].popleft()
            self.buffered_bytes -= len(dropped) + 1
            self.dropped += 1
            if not self._buffers[oldest]:
                del self._buffers[oldest]

    async def _loop(self) -> None:
        # Stopped by close() between uploads, never in the middle of one.
        while not self._closing.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout=self.flush_seconds)
            await self.flush()

    async def flush(self) -> None:
        """Upload every buffered batch; a batch that was not uploaded goes back for the next round."""
        async with self._lock:
            batches = list(self._buffers.items())
            self._buffers, self.buffered_bytes = {}, 0
            dropped = self.dropped
            try:
                while batches:
                    (dest, endpoint, variant, hour), lines = batches[0]
                    bucket, prefix = parse_s3_uri(dest)
                    now = datetime.now(timezone.utc)
                    name = f"{now.strftime('%M-%S')}-{now.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
                    key = "/".join(p for p in (prefix.strip("/"), endpoint, variant, hour, name) if p)
                    try:
                        await self.s3.put_bytes(bucket, key, ("\n".join(lines) + "\n").encode(),
                                                "application/jsonlines")
                        self.uploaded += len(lines)
                        batches.pop(0)
                    except Exception:  # noqa: BLE001 - kept for the next round
                        log.warning("could not upload %d capture lines to s3://%s/%s", len(lines), bucket, key,
                                    exc_info=True)
                        self._keep(*batches.pop(0), first=True)
            finally:  # an upload cut short: its batch and the ones after it go back too
                for batch_key, lines in batches:
                    self._keep(batch_key, lines, first=True)
            if self.dropped > dropped:
                log.warning("dropped %d capture lines: S3 could not be reached and the capture buffer is full "
                            "(%d bytes)", self.dropped - dropped, self.max_buffered_bytes)

    async def close(self) -> None:
        """Stop the loop (an upload in flight finishes) and upload everything still buffered."""
        self._closing.set()
        if self._task is not None:
            await self._task
            self._task = None
        for attempt in range(3):  # a failed batch stays buffered: try again before giving up
            await self.flush()
            if not self._buffers:
                return
            await asyncio.sleep(0.5 * (attempt + 1))
        log.error("could not upload %d capture lines at shutdown", self.buffered_lines)
