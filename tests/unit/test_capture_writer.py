"""Data capture keeps what it captured: through a shutdown in the middle of an upload, and within a bound
of memory while S3 is down."""

from __future__ import annotations

import asyncio

from services.hosting.capture import CaptureWriter
from services.hosting.models import DataCaptureConfig

CONFIG = DataCaptureConfig.model_validate({
    "InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://capture/p",
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})


class SlowS3:
    """An S3 whose uploads wait until released; it keeps what it received."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.in_flight = asyncio.Event()
        self.release = asyncio.Event()
        self.down = False

    async def put_bytes(self, bucket: str, key: str, body: bytes, content_type: str | None = None) -> None:
        self.in_flight.set()
        await self.release.wait()
        if self.down:
            raise ConnectionError("S3 is down")
        self.objects[key] = body

    def lines(self) -> int:
        return sum(body.count(b"\n") for body in self.objects.values())


def _capture(writer: CaptureWriter, n: int) -> None:
    for i in range(n):
        writer.add(CONFIG, "ep", "AllTraffic", (f"{i},1".encode(), "text/csv"), (b"0.5", "text/csv"))


async def test_a_shutdown_during_an_upload_loses_nothing() -> None:
    s3 = SlowS3()
    writer = CaptureWriter(s3, flush_seconds=0.01)  # type: ignore[arg-type]
    _capture(writer, 30)
    await s3.in_flight.wait()  # the background flush has taken the 30 lines and is uploading them
    closing = asyncio.create_task(writer.close())
    await asyncio.sleep(0)
    s3.release.set()
    await closing
    assert writer.captured == 30 and s3.lines() == 30 and writer.uploaded == 30


async def test_while_s3_is_down_the_buffer_is_bounded_and_drops_are_counted() -> None:
    s3 = SlowS3()
    s3.down = True
    s3.release.set()
    writer = CaptureWriter(s3, flush_seconds=3600, max_buffered_bytes=4096)  # type: ignore[arg-type]
    _capture(writer, 200)
    await writer.flush()  # fails; every line goes back to the buffer, within the bound
    assert writer.buffered_bytes <= 4096
    assert writer.dropped > 0 and writer.dropped + writer.buffered_lines == 200
    s3.down = False
    await writer.flush()
    assert s3.lines() == writer.uploaded == 200 - writer.dropped
