"""Uploading artifacts to S3: one PUT up to a threshold, a multipart upload above it, on the embedded emulator.

The adapter's threshold is lowered here so a file of a few parts (S3's
smallest part is 5 MiB) goes up in parts; the file is read through a
wrapper that records each read, so the test sees how much is held at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session

from services.aws.s3 import MIN_PART_SIZE, S3Adapter
from services.aws.session import client_kwargs
from services.core.settings import Settings

BUCKET = "artifacts"
PART = MIN_PART_SIZE


@pytest.fixture
async def s3(emulator: str) -> AsyncIterator[Any]:
    async with get_session().create_client("s3", **client_kwargs(Settings(aws_endpoint=emulator), "s3")) as client:
        await client.create_bucket(Bucket=BUCKET)
        yield client


class RecordingFile:
    """A file opened for reading that records the size of each read, and can fail on the ``fail_on``-th."""

    def __init__(self, inner: Any, reads: list[int], fail_on: int | None) -> None:
        self.inner, self.reads, self.fail_on = inner, reads, fail_on

    def read(self, size: int = -1) -> bytes:
        if self.fail_on is not None and len(self.reads) + 1 == self.fail_on:
            raise OSError("disk read failed")
        data: bytes = self.inner.read(size)
        self.reads.append(len(data))
        return data

    def __enter__(self) -> RecordingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _record_reads(monkeypatch: pytest.MonkeyPatch, path: Path, fail_on: int | None = None) -> list[int]:
    """Make ``path.open`` hand out a :class:`RecordingFile`; return the list its reads go to."""
    reads: list[int] = []
    real_open = Path.open

    def open_(self: Path, *args: Any, **kwargs: Any) -> Any:
        fh = real_open(self, *args, **kwargs)
        return RecordingFile(fh, reads, fail_on) if self == path else fh

    monkeypatch.setattr(Path, "open", open_)
    return reads


def _artifact(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    path = tmp_path / "model.tar.gz"
    path.write_bytes(data)
    return path, data


async def _get(s3: Any, key: str) -> tuple[bytes, dict[str, Any]]:
    resp = await s3.get_object(Bucket=BUCKET, Key=key)
    async with resp["Body"] as body:
        return await body.read(), resp


async def test_a_file_over_the_threshold_goes_up_in_parts_read_one_part_at_a_time(
        s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, data = _artifact(tmp_path, 2 * PART + 1000)
    reads = _record_reads(monkeypatch, path)
    adapter = S3Adapter(s3)
    adapter.multipart_threshold, adapter.part_size = 1024 * 1024, PART
    await adapter.upload_file(path, BUCKET, "big/model.tar.gz", "application/x-gzip")
    body, resp = await _get(s3, "big/model.tar.gz")
    assert body == data and resp["ContentType"] == "application/x-gzip"
    assert resp["ETag"].endswith('-3"')  # a multipart object's ETag counts its parts
    assert sum(reads) == len(data) and max(reads) <= PART  # never more than one part in memory


async def test_a_failed_multipart_upload_is_aborted(s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _artifact(tmp_path, 2 * PART + 1000)
    _record_reads(monkeypatch, path, fail_on=2)  # the first part goes up, reading the second fails
    adapter = S3Adapter(s3)
    adapter.multipart_threshold, adapter.part_size = 1024 * 1024, PART
    with pytest.raises(OSError, match="disk read failed"):
        await adapter.upload_file(path, BUCKET, "failed/model.tar.gz")
    uploads = await s3.list_multipart_uploads(Bucket=BUCKET, Prefix="failed/")
    assert not uploads.get("Uploads")  # no stored parts left behind
    assert await S3Adapter(s3).head(BUCKET, "failed/model.tar.gz") is None


async def test_a_file_under_the_threshold_is_one_put(s3: Any, tmp_path: Path) -> None:
    path, data = _artifact(tmp_path, 3000)
    await S3Adapter(s3).upload_file(path, BUCKET, "small/output.tar.gz")
    body, resp = await _get(s3, "small/output.tar.gz")
    assert body == data and "-" not in resp["ETag"]




def test_a_part_under_s3s_smallest_is_refused() -> None:
    with pytest.raises(ValueError, match="part size"):
        S3Adapter(None, part_size=MIN_PART_SIZE - 1)
