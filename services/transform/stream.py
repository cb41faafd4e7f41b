"""Cutting a transform input object into request batches as it streams in from S3.

An object is read in chunks (gunzipped on the fly for ``CompressionType:
Gzip``) and cut as the chunks arrive, so a job holds the batches it is
sending and a chunk or so besides, not the object. ``Line`` and
``RecordIO`` input hold at most one unfinished record; a record that
grows past what it may be (``MaxPayloadInMB``, or with DataProcessing,
which may filter a record down, :data:`MAX_RECORD_BYTES`) is measured to
its end without being kept, and fails the job. ``SplitType: None`` makes
the whole object one record, so it is held (up to the same bound).

The batches, their record numbers and their errors are those of
:mod:`services.transform.records` applied to the whole object.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from services.aws.s3 import S3Adapter
from services.core.exceptions import JobFailed
from services.inputs.inflate import GzipError, Inflater
from services.transform.records import RECORDIO_MAGIC, Batch, LineCutter, Packer, RecordError

# The largest MaxPayloadInMB: a raw record DataProcessing may still filter down is held up to this.
MAX_RECORD_BYTES = 100 * 1024 * 1024
# Compressed bytes inflated at a time: what one step can expand to stays bounded.
_INFLATE_STEP = 64 * 1024

# A record turned into what is sent (and the value DataProcessing joins its prediction to), given its number.
Prepare = Callable[[bytes, int], tuple[bytes, Any]]


async def object_chunks(s3: S3Adapter, bucket: str, key: str, gzip: bool) -> AsyncIterator[tuple[int | None, bytes]]:
    """An object's bytes in chunks, decompressed when ``gzip``; each with the object's size (``None``
    when compressed: the decompressed size is not known ahead)."""
    inflater = Inflater() if gzip else None
    try:
        async for size, raw in s3.stream(bucket, key):
            if inflater is None:
                yield size, raw
                continue
            for start in range(0, len(raw), _INFLATE_STEP):
                if data := inflater.feed(raw[start:start + _INFLATE_STEP]):
                    yield None, data
        if inflater is not None and (tail := inflater.finish()):
            yield None, tail
    except GzipError as err:
        reason = "it ends inside its gzip data" if err.truncated else str(err)
        raise JobFailed(f"ClientError: s3://{bucket}/{key} is not valid gzip ({reason})") from None


@dataclass(frozen=True)
class Cutting:
    """How one object is cut: ``SplitType``, ``BatchStrategy``, the payload limit, the number of
    concurrent requests to cut for, and the DataProcessing step (``None``: records go as they are)."""

    split_type: str
    strategy: str
    limit: int
    source: str
    slots: int = 1
    prepare: Prepare | None = None


async def object_batches(chunks: AsyncIterator[tuple[int | None, bytes]],
                         cutting: Cutting) -> AsyncIterator[tuple[Batch, list[Any]]]:
    """The batches of one object, each with its records' DataProcessing values, as the chunks arrive."""
    c = cutting
    first, leftover = 1, b""
    if c.split_type == "Line" and c.strategy == "MultiRecord" and c.prepare is None:
        # Clean line input is cut at newlines, without a Python object per record; from the first
        # batch that is not clean on, the record-by-record path below takes over.
        cutter: LineCutter | None = None
        async for size, chunk in chunks:
            cutter = cutter or LineCutter(c.limit, c.source, c.slots, size)
            for batch in cutter.feed(chunk):
                yield batch, []
            if cutter.dirty:
                break
        else:
            if cutter is None:
                return
            for batch in cutter.end():
                yield batch, []
            if not cutter.dirty:
                return
        assert cutter is not None
        first, leftover = cutter.first, bytes(cutter.rest)
    splitter = _splitter(c, first)
    packer = Packer(c.strategy, c.limit, c.source, first)

    def pack(records: list[bytes]) -> list[tuple[Batch, list[Any]]]:
        out: list[tuple[Batch, list[Any]]] = []
        for record in records:
            sent, value = c.prepare(record, packer.next) if c.prepare else (record, None)
            out += packer.add(sent, value)
        return out

    for done in pack(splitter.feed(leftover)):
        yield done
    async for _, chunk in chunks:
        for done in pack(splitter.feed(chunk)):
            yield done
    for done in pack(splitter.end()) + packer.end():
        yield done


class _Splitter(Protocol):
    def feed(self, chunk: bytes) -> list[bytes]: ...

    def end(self) -> list[bytes]: ...


def _splitter(c: Cutting, first: int) -> _Splitter:
    cap = _Cap(c.source, c.limit, f"MaxPayloadInMB ({c.limit // (1024 * 1024)} MB)") if c.prepare is None else \
        _Cap(c.source, max(c.limit, MAX_RECORD_BYTES), f"the {MAX_RECORD_BYTES // (1024 * 1024)} MB a record may have")
    if c.split_type == "Line":
        return LineSplitter(cap, first)
    if c.split_type == "RecordIO":
        return RecordIOSplitter(cap)
    if c.split_type == "None":
        return WholeSplitter(cap)
    raise RecordError(f"Unsupported SplitType {c.split_type!r}")


@dataclass(frozen=True)
class _Cap:
    """The most bytes a record of ``source`` may have, and how the error names that bound."""

    source: str
    bytes: int
    label: str

    def over(self, number: int, length: int) -> RecordError:
        """The error for record ``number``, ``length`` bytes long."""
        return RecordError(f"{self.source}: record {number} is {length} bytes, over {self.label}")


class LineSplitter:
    """The non-blank lines of ``Line`` input (as :func:`~services.transform.records.split_records`
    finds them: ``\\n``, ``\\r\\n`` and ``\\r`` end a line), numbered from ``first``."""

    def __init__(self, cap: _Cap, first: int = 1) -> None:
        self.cap, self.number = cap, first
        self.rest = bytearray()  # the line being received
        self._overlong = -1  # length so far of a line past the cap, dropped as it arrives (-1: none)
        self._overlong_blank = True

    def feed(self, chunk: bytes) -> list[bytes]:
        """Take the next bytes; the lines now complete."""
        if self._overlong >= 0:
            chunk = self._measure(chunk)
        self.rest += chunk
        # Complete lines end at the last "\n", or at a last "\r" that is not the final byte (which may
        # be the first half of "\r\n").
        end = max(self.rest.rfind(b"\n"), self.rest.rfind(b"\r", 0, len(self.rest) - 1)) + 1
        records = self._lines(bytes(self.rest[:end]))
        del self.rest[:end]
        if len(self.rest) > self.cap.bytes + 1:  # the line being received can only end over the cap
            if self.rest.endswith(b"\r"):  # it has ended
                if self.rest.strip():
                    raise self.cap.over(self.number, len(self.rest) - 1)
            else:
                self._overlong, self._overlong_blank = len(self.rest), not self.rest.strip()
            self.rest.clear()
        return records

    def end(self) -> list[bytes]:
        """The last line."""
        if self._overlong >= 0:
            self._measure(b"\n")
        records = self._lines(bytes(self.rest))
        self.rest.clear()
        return records

    def _lines(self, data: bytes) -> list[bytes]:
        records = [line for line in data.splitlines() if line.strip()]
        self.number += len(records)
        return records

    def _measure(self, chunk: bytes) -> bytes:
        """Count an over-long line on to its end; what follows it."""
        ends = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0]
        if not ends:
            self._overlong += len(chunk)
            self._overlong_blank = self._overlong_blank and not chunk.strip()
            return b""
        end = min(ends)
        if not (self._overlong_blank and not chunk[:end].strip()):
            raise self.cap.over(self.number, self._overlong + end)
        self._overlong = -1  # a blank line: no record
        return chunk[end:]


class RecordIOSplitter:
    """The frames of ``RecordIO`` input, kept intact; a frame's length is read from its header."""

    def __init__(self, cap: _Cap) -> None:
        self.cap = cap
        self.source = cap.source
        self.rest = bytearray()
        self.offset = 0  # where ``rest`` starts in the object
        self.number = 1

    def feed(self, chunk: bytes) -> list[bytes]:
        """Take the next bytes; the frames now complete."""
        self.rest += chunk
        frames: list[bytes] = []
        while len(self.rest) >= 8:
            magic, header = struct.unpack_from("<II", self.rest, 0)
            if magic != RECORDIO_MAGIC:
                raise RecordError(f"{self.source}: RecordIO record {self.number} has a bad magic number at byte "
                                  f"{self.offset}")
            length = header & ((1 << 29) - 1)
            size = 8 + length + (-length % 4)
            if size > self.cap.bytes:
                raise self.cap.over(self.number, size)
            if len(self.rest) < size:
                break
            frames.append(bytes(self.rest[:size]))
            del self.rest[:size]
            self.offset += size
            self.number += 1
        return frames

    def end(self) -> list[bytes]:
        """Nothing more: a frame left unfinished is truncated."""
        if self.rest:
            part = "(header)" if len(self.rest) < 8 else ""
            raise RecordError(f"{self.source}: RecordIO record {self.number} is truncated {part}".rstrip())
        return []


class WholeSplitter:
    """``SplitType: None``: the object is one record, held until it ends (an empty object: none)."""

    def __init__(self, cap: _Cap) -> None:
        self.cap = cap
        self.data = bytearray()
        self._overlong = -1

    def feed(self, chunk: bytes) -> list[bytes]:
        """Take the next bytes (kept while the record is within the cap, else only counted)."""
        if self._overlong >= 0:
            self._overlong += len(chunk)
        elif len(self.data) + len(chunk) > self.cap.bytes:
            self._overlong = len(self.data) + len(chunk)
            self.data.clear()
        else:
            self.data += chunk
        return []

    def end(self) -> list[bytes]:
        """The object's one record."""
        if self._overlong >= 0:
            raise self.cap.over(1, self._overlong)
        return [bytes(self.data)] if self.data else []
