"""Container logs reach CloudWatch within PutLogEvents' limits, and a refused batch is sent again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from services.aws.logs import LogsAdapter
from services.execution.log_shipper import LogShipper

MAX_BATCH_BYTES = 1_048_576  # PutLogEvents: the sum of the messages' UTF-8 bytes plus 26 bytes per event
MAX_EVENT_BYTES = 262_144


class RecordingLogs:
    """A CloudWatch Logs client that records batches and can refuse the next few."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.refuse = 0

    async def put_log_events(self, logGroupName: str, logStreamName: str, logEvents: list[dict[str, Any]]) -> dict:
        if self.refuse:
            self.refuse -= 1
            raise ClientError({"Error": {"Code": "ServiceUnavailableException", "Message": "try again"}},
                              "PutLogEvents")
        self.batches.append(logEvents)
        return {}

    async def create_log_group(self, **kwargs: Any) -> None:
        return None

    async def create_log_stream(self, **kwargs: Any) -> None:
        return None


def _size(batch: list[dict[str, Any]]) -> int:
    return sum(len(e["message"].encode("utf-8")) + 26 for e in batch)


async def test_batches_stay_under_the_byte_limit() -> None:
    client = RecordingLogs()
    await LogsAdapter(client).put("g", "s", [(1, "x" * 1024) for _ in range(3000)])
    assert sum(len(b) for b in client.batches) == 3000
    assert all(_size(b) <= MAX_BATCH_BYTES and len(b) <= 10_000 for b in client.batches)


async def test_a_long_line_is_cut_by_bytes_not_characters() -> None:
    client = RecordingLogs()
    await LogsAdapter(client).put("g", "s", [(1, "é" * 150_000)])  # 300,000 bytes of UTF-8
    [[event]] = client.batches
    assert len(event["message"].encode("utf-8")) + 26 <= MAX_EVENT_BYTES
    assert set(event["message"]) == {"é"}  # no character cut in half


async def test_a_refused_batch_is_shipped_at_the_next_flush(tmp_path: Path) -> None:
    client = RecordingLogs()
    async with LogShipper(LogsAdapter(client), "g", "s", tmp_path / "job.log", flush_seconds=3600) as shipper:
        shipper.add("first line")
        client.refuse = 1
        await shipper.flush()  # refused: the lines wait for the next round
        shipper.add("second line")
    assert [e["message"] for b in client.batches for e in b] == ["first line", "second line"]
