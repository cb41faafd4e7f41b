"""Cutting transform input as it streams in: the same batches and errors as cutting the whole object.

Every case is cut twice: whole, with :mod:`services.transform.records`, and
fed in pieces of several sizes through :func:`object_batches`; the record
numbers, payloads and errors must agree however the pieces fall.
"""

from __future__ import annotations

import random
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.transform.records import RECORDIO_MAGIC, RecordError, batches, cut_line_batches, split_records
from services.transform.stream import Cutting, LineSplitter, _Cap, object_batches

SOURCE = "s3://b/k"


async def _pieces(data: bytes, size: int, total: bool = True) -> AsyncIterator[tuple[int | None, bytes]]:
    for start in range(0, len(data), size):
        yield (len(data) if total else None), data[start:start + size]


def _whole(data: bytes, split: str, strategy: str, limit: int) -> list[tuple[int, bytes, int]] | str:
    try:
        plan = cut_line_batches(data, limit, SOURCE) if split == "Line" and strategy == "MultiRecord" else None
        if plan is None:
            plan = list(batches(split_records(data, split, SOURCE), strategy, limit, SOURCE))
        return [(b.first, b.payload(split if split == "Line" else "None"), b.size) for b in plan]
    except RecordError as err:
        return str(err)


async def _streamed(data: bytes, split: str, strategy: str, limit: int, piece: int,
                    total: bool = True) -> list[tuple[int, bytes, int]] | str:
    out = []
    try:
        async for b, _ in object_batches(_pieces(data, piece, total), Cutting(split, strategy, limit, SOURCE)):
            out.append((b.first, b.payload(split if split == "Line" else "None"), b.size))
    except RecordError as err:
        return str(err)
    return out


def _frame(payload: bytes) -> bytes:
    return struct.pack("<II", RECORDIO_MAGIC, len(payload)) + payload + b"\0" * (-len(payload) % 4)


async def test_line_input_streamed_in_any_pieces_cuts_as_the_whole_object_does() -> None:
    rng = random.Random(11)
    for _ in range(300):
        lines = [b",".join(str(rng.randint(0, 10 ** rng.randint(0, 6))).encode() for _ in range(rng.randint(1, 5)))
                 for _ in range(rng.randint(0, 30))]
        # Some inputs are not clean: blank lines, CRLF, lone CR, trailing spaces, an over-long record.
        for _ in range(rng.choice([0, 0, 1, 3])):
            lines.insert(rng.randint(0, len(lines)), rng.choice([b"", b"  ", b"7,8 ", b"x" * 150]))
        sep = rng.choice([b"\n", b"\n", b"\r\n", b"\r"])
        data = sep.join(lines) + rng.choice([b"", sep])
        limit = rng.randint(20, 120)
        strategy = rng.choice(["MultiRecord", "SingleRecord"])
        expected = _whole(data, "Line", strategy, limit)
        for piece in (1, 3, 17, max(1, len(data))):
            assert await _streamed(data, "Line", strategy, limit, piece) == expected, (data, limit, strategy, piece)


async def test_recordio_and_whole_objects_streamed_in_pieces_cut_as_the_whole_object_does() -> None:
    frames = b"".join(_frame(b"r" * n) for n in (0, 3, 8, 30, 5))
    cases = [(frames, "RecordIO"), (frames[:-2], "RecordIO"), (frames[:5], "RecordIO"),
             (frames[:12] + b"\x00" * 8 + frames[12:], "RecordIO"), (_frame(b"r" * 90), "RecordIO"),
             (b"a whole object", "None"), (b"", "None"), (b"z" * 70, "None")]
    for data, split in cases:
        for strategy in ("MultiRecord", "SingleRecord"):
            expected = _whole(data, split, strategy, 64)
            for piece in (1, 5, 64, max(1, len(data))):
                assert await _streamed(data, split, strategy, 64, piece) == expected, (data, split, strategy, piece)


async def test_an_over_long_record_is_measured_not_held() -> None:
    splitter = LineSplitter(_Cap(SOURCE, 100, "MaxPayloadInMB (0 MB)"))
    assert splitter.feed(b"1,2\n3,") == [b"1,2"]
    for _ in range(1000):  # a 100 KB record arriving in pieces: never more than the cap is kept
        assert splitter.feed(b"9" * 100) == []
        assert len(splitter.rest) <= 101
    with pytest.raises(RecordError, match=r"s3://b/k: record 2 is 100012 bytes, over MaxPayloadInMB"):
        splitter.feed(b"9" * 10 + b"\n4,5\n")


async def test_clean_line_input_of_unknown_size_is_packed_to_the_limit() -> None:
    data = b"".join(b"%d,%d\n" % (i, i * 3) for i in range(2000))
    expected = _whole(data, "Line", "MultiRecord", 1000)
    assert await _streamed(data, "Line", "MultiRecord", 1000, 333, total=False) == expected


async def test_data_processing_values_travel_with_their_batches() -> None:
    data = b"1,a\n2,b\n\n3,c\n"
    seen: list[int] = []

    def prepare(raw: bytes, number: int) -> tuple[bytes, Any]:
        seen.append(number)
        return raw.split(b",")[1], raw

    cutting = Cutting("Line", "MultiRecord", 4, SOURCE, prepare=prepare)
    got = [(b.first, b.records, values) async for b, values in object_batches(_pieces(data, 2), cutting)]
    assert got == [(1, [b"a", b"b"], [b"1,a", b"2,b"]), (3, [b"c"], [b"3,c"])]
    assert seen == [1, 2, 3]
