"""Pipe mode on the platform side: RecordIO framing, the FIFO writer, what a channel streams.

RecordIO vectors are written out from the format's definition (magic
0xCED7230A little-endian, a little-endian length word with continuation
flag 0, the payload, zero padding to 4 bytes), not from the code under test.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import stat
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from containers.common.recordio import iter_payloads
from services.aws.s3 import S3Object
from services.core.exceptions import JobFailed
from services.inputs.pipe.channels import ChannelStream
from services.inputs.pipe.feed import PipeFeed, PipeSourceError
from services.inputs.pipe.records import manifest_line_items, wrap_record

MAGIC_LE = bytes([0x0A, 0x23, 0xD7, 0xCE])


@pytest.mark.parametrize(("payload", "expected"), [
    (b"abc", MAGIC_LE + bytes([3, 0, 0, 0]) + b"abc" + b"\x00"),
    (b"", MAGIC_LE + bytes([0, 0, 0, 0])),
    (b"1234", MAGIC_LE + bytes([4, 0, 0, 0]) + b"1234"),
    (b"x" * 257, MAGIC_LE + bytes([1, 1, 0, 0]) + b"x" * 257 + b"\x00\x00\x00"),
])
def test_wrap_record_matches_the_format(payload: bytes, expected: bytes) -> None:
    assert wrap_record(payload) == expected


def test_wrap_record_is_what_the_sagemaker_sdk_writes() -> None:
    from sagemaker.amazon.common import _write_recordio

    for payload in (b"", b"a", b"ab", b"abc", b"abcd", b"\x0a\x23\xd7\xce" * 3):
        sdk = io.BytesIO()
        _write_recordio(sdk, payload)
        assert wrap_record(payload) == sdk.getvalue()


def test_augmented_manifest_line_gives_attributes_in_attribute_names_order() -> None:
    line = b'{"is-a-cat": 1, "extra": "x", "source-ref": "s3://b/img/1.jpg", "box": {"w": 2}}'
    items = manifest_line_items(line, 3, ["source-ref", "is-a-cat", "box"], "s3://b/m.jsonl")
    assert [getattr(i, "key", None) for i in items] == ["img/1.jpg", None, None]
    assert [getattr(i, "data", None) for i in items[1:]] == [b"1", b'{"w":2}']


@pytest.mark.parametrize(("line", "problem"), [
    (b'{"source-ref": "s3://b/k"}', "no attribute 'label'"),
    (b'{"source-ref": "/local/k", "label": 1}', "must be an s3:// URI"),
    (b"[1, 2]", "must be a JSON object"),
    (b"{not json", "not valid JSON"),
])
def test_a_bad_manifest_line_is_named(line: bytes, problem: str) -> None:
    with pytest.raises(JobFailed, match="line 7") as err:
        manifest_line_items(line, 7, ["source-ref", "label"], "s3://b/m.jsonl")
    assert problem in str(err.value)


class FakeS3:
    """Objects in memory; ``stream`` gives them in small chunks, as a network would."""

    def __init__(self, objects: dict[str, bytes], chunk: int = 5) -> None:
        self.objects = objects
        self.chunk = chunk

    async def stream(self, bucket: str, key: str) -> AsyncIterator[tuple[int, bytes]]:
        if key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "The specified key does not exist."}},
                              "GetObject")
        body = self.objects[key]
        for i in range(0, len(body), self.chunk):
            yield len(body), body[i:i + self.chunk]


async def _epoch(stream: ChannelStream) -> bytes:
    return b"".join([c async for c in stream.chunks()])


def _objects(*keys: str) -> list[S3Object]:
    return [S3Object("b", k, 0, "") for k in keys]


async def test_plain_objects_stream_in_order_unchanged() -> None:
    s3 = FakeS3({"a": b"1,2\n3,4\n", "b": b"5,6\n"})
    stream = ChannelStream(s3, "train", gzip=False, wrap=False, objects=_objects("a", "b"))  # type: ignore[arg-type]
    assert await _epoch(stream) == b"1,2\n3,4\n5,6\n"


async def test_gzip_is_decompressed_on_the_fly_across_members() -> None:
    body = gzip.compress(b"1,2\n") + gzip.compress(b"3,4\n")  # two members, as `cat a.gz b.gz` makes
    s3 = FakeS3({"a.gz": body, "b.gz": gzip.compress(b"5,6\n")})
    stream = ChannelStream(s3, "train", gzip=True, wrap=False, objects=_objects("a.gz", "b.gz"))  # type: ignore[arg-type]
    assert await _epoch(stream) == b"1,2\n3,4\n5,6\n"


@pytest.mark.parametrize("compress", [False, True])
async def test_record_wrapping_frames_each_object(compress: bool) -> None:
    raw = {"a": b"first object", "b": b"", "c": b"xyz!"}
    s3 = FakeS3({k: gzip.compress(v) if compress else v for k, v in raw.items()})
    stream = ChannelStream(s3, "train", gzip=compress, wrap=True, objects=_objects("a", "b", "c"))  # type: ignore[arg-type]
    data = await _epoch(stream)
    assert data == b"".join(wrap_record(v) for v in raw.values())
    assert list(iter_payloads(io.BytesIO(data))) == list(raw.values())


async def test_corrupt_gzip_names_the_object() -> None:
    s3 = FakeS3({"bad.gz": b"\x1f\x8b\x08\x00garbage-not-deflate"})
    stream = ChannelStream(s3, "train", gzip=True, wrap=False, objects=_objects("bad.gz"))  # type: ignore[arg-type]
    with pytest.raises(PipeSourceError, match="s3://b/bad.gz"):
        await _epoch(stream)


async def test_a_missing_object_mid_stream_names_channel_and_object() -> None:
    s3 = FakeS3({"a": b"1,2\n"})
    stream = ChannelStream(s3, "train", gzip=False, wrap=False, objects=_objects("a", "gone"))  # type: ignore[arg-type]
    got = []
    with pytest.raises(PipeSourceError) as err:
        async for chunk in stream.chunks():
            got.append(chunk)
    assert b"".join(got) == b"1,2\n"  # the first object streamed before the second failed
    assert "Channel train" in str(err.value) and "s3://b/gone" in str(err.value) and "NoSuchKey" in str(err.value)


async def test_augmented_manifest_streams_one_record_per_attribute() -> None:
    lines = [{"source-ref": "s3://b/img/1.bin", "label": 1}, {"label": 0, "source-ref": "s3://b/img/2.bin"}]
    manifest = "\n".join(json.dumps(x) for x in lines).encode() + b"\n"
    s3 = FakeS3({"m.jsonl": manifest, "img/1.bin": b"\x00\x01\x02", "img/2.bin": b"ABCDEFGH"}, chunk=7)
    stream = ChannelStream(s3, "train", gzip=False, wrap=True, manifest_uri="s3://b/m.jsonl",  # type: ignore[arg-type]
                           attributes=["source-ref", "label"])
    data = await _epoch(stream)
    assert data == b"".join(map(wrap_record, [b"\x00\x01\x02", b"1", b"ABCDEFGH", b"0"]))
    sharded = ChannelStream(s3, "train", gzip=False, wrap=True, manifest_uri="s3://b/m.jsonl",  # type: ignore[arg-type]
                            attributes=["label"], shard=(1, 2))
    assert await _epoch(sharded) == wrap_record(b"0")  # host 2 of 2 gets the second line


def _read_fifo(path: Path, out: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as f:  # noqa: PTH123 - a FIFO, opened as a container would
            out.append(f.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


async def test_fifo_serves_one_epoch_per_fifo_and_cleans_up(tmp_path: Path) -> None:
    big = os.urandom(300_000)  # over a pipe's buffer: the writer must wait for the reader

    async def source() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    feed = PipeFeed(tmp_path, "train", source)
    assert stat.S_ISFIFO((tmp_path / "train_0").stat().st_mode)  # made before any container starts
    assert not (tmp_path / "train_1").exists()
    feed.start()
    epochs: list[bytes] = []
    for epoch in range(2):
        reader = _read_fifo(tmp_path / f"train_{epoch}", epochs)
        await asyncio.wait_for(asyncio.to_thread(reader.join), 30)
        if epoch == 0:  # the next epoch's FIFO appears once this one was written out
            for _ in range(200):
                if (tmp_path / "train_1").exists():
                    break
                await asyncio.sleep(0.05)
    assert epochs == [big, big]
    await feed.close()
    assert list(tmp_path.iterdir()) == []
    assert feed.error is None


@pytest.mark.parametrize("umask", [0o000, 0o277], ids=["permissive-umask", "strict-umask"])
async def test_fifos_are_the_owners_alone_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    """A FIFO carries the job's data: no other user of the machine may read it or write into it. The
    container opens it as the node's user (the process runner), or as a user that can write the job tree
    anyway (the docker runner's root), so the owner alone needs it."""

    async def source() -> AsyncIterator[bytes]:
        yield b"x"

    previous = os.umask(umask)
    try:
        feed = PipeFeed(tmp_path, "train", source)
        feed.make_fifo(1)
    finally:
        os.umask(previous)
    try:
        modes = [stat.S_IMODE((tmp_path / f"train_{i}").stat().st_mode) for i in range(2)]
        assert modes == [0o600, 0o600], [oct(m) for m in modes]
    finally:
        await feed.close()


async def _failing_feed(tmp_path: Path, failure: Exception) -> tuple[PipeFeed, threading.Thread, list[bytes]]:
    """A feed whose source writes a little, then raises ``failure``; a reader on its first FIFO; once the
    feed has recorded the failure."""

    async def source() -> AsyncIterator[bytes]:
        yield b"partial"
        raise failure

    feed = PipeFeed(tmp_path, "train", source)
    feed.start()
    got: list[bytes] = []
    reader = _read_fifo(tmp_path / "train_0", got)
    for _ in range(200):
        if feed.error:
            break
        await asyncio.sleep(0.05)
    return feed, reader, got


async def test_a_failing_source_holds_the_fifo_open_and_reports(tmp_path: Path) -> None:
    feed, reader, got = await _failing_feed(
        tmp_path, PipeSourceError("ClientError: Channel train: could not stream s3://b/k: NoSuchKey"))
    assert feed.error and "s3://b/k" in feed.error
    await asyncio.sleep(0.2)
    assert reader.is_alive() and got == []  # no end of file: a truncated epoch never looks complete
    await feed.close()  # the job ends: the writer closes, the reader is released
    await asyncio.wait_for(asyncio.to_thread(reader.join), 10)
    assert got == [b"partial"]


@pytest.mark.parametrize("failure", [TimeoutError("read timed out"), OSError(28, "No space left on device"),
                                     RuntimeError("ResponseStreamingError: connection broken")])
async def test_any_stream_failure_is_reported_not_just_s3s(tmp_path: Path, failure: Exception) -> None:
    # A read timeout, a full disk or a broken response used to end the feeder with nothing recorded: the job
    # then waited, its reader blocked, until MaxRuntimeInSeconds.
    feed, reader, got = await _failing_feed(tmp_path, failure)
    assert feed.error and "train" in feed.error and str(failure) in feed.error
    assert reader.is_alive() and got == []  # no end of file: the truncated epoch never looks complete
    await feed.close()
    await asyncio.wait_for(asyncio.to_thread(reader.join), 10)
