"""Batch transform's record splitting, batching and DataProcessing."""

from __future__ import annotations

import json
import struct

import pytest

from services.transform.dataproc import (
    DataProcessingError,
    decode_record,
    encode_record,
    join_input,
    parse_path,
)
from services.transform.records import RECORDIO_MAGIC, RecordError, batches, split_records


def frame(payload: bytes) -> bytes:
    pad = -len(payload) % 4
    return struct.pack("<II", RECORDIO_MAGIC, len(payload)) + payload + b"\0" * pad


def test_splitting() -> None:
    assert split_records(b"a,1\n\nb,2\r\nc,3", "Line", "f") == [b"a,1", b"b,2", b"c,3"]
    assert split_records(b"whole", "None", "f") == [b"whole"]
    frames = [frame(b"abc"), frame(b"defgh")]
    assert split_records(b"".join(frames), "RecordIO", "f") == frames
    with pytest.raises(RecordError, match="f: RecordIO record 2 is truncated"):
        split_records(frames[0] + frames[1][:-3], "RecordIO", "f")


def test_multi_record_batches_respect_the_payload_limit_and_keep_order() -> None:
    records = [f"{i},{'x' * 40}".encode() for i in range(100)]
    got = list(batches(records, "MultiRecord", 500, "f"))
    assert all(len(b.payload("Line")) <= 500 for b in got)
    assert [r for b in got for r in b.records] == records
    assert [b.first for b in got][:2] == [1, 1 + len(got[0].records)]
    assert [b.records for b in batches(records[:3], "SingleRecord", 500, "f")] == [[r] for r in records[:3]]
    with pytest.raises(RecordError, match="f: record 2 is 600 bytes"):
        list(batches([b"a", b"x" * 600], "MultiRecord", 500, "f"))


@pytest.mark.parametrize("path, value, expected", [
    ("$", [1, 2], [1, 2]),
    ("$[1:]", ["id", "1", "2"], ["1", "2"]),
    ("$[0,5:]", list("abcdefg"), ["a", "f", "g"]),
    ("$[0,-1]", list("abc"), ["a", "c"]),
    ("$[:-1]", list("abc"), ["a", "b"]),
    ("$.features", {"id": 1, "features": [1, 2]}, [1, 2]),
    ("$['id','SageMakerOutput']", {"id": 1, "x": 2, "SageMakerOutput": 0.5}, {"id": 1, "SageMakerOutput": 0.5}),
])
def test_filters(path: str, value: object, expected: object) -> None:
    assert parse_path(path).apply(value) == expected


@pytest.mark.parametrize("path, value, message", [
    ("$[5]", [1, 2], "outside a record of 2"),
    ("$.x", [1], "not a JSON object"),
    ("$[0]", {"a": 1}, "not an array"),
    ("$..x", {}, "Unsupported JSONPath"),
    ("$[a:b]", [], "neither an index"),
])
def test_filter_errors(path: str, value: object, message: str) -> None:
    with pytest.raises(DataProcessingError, match=message):
        parse_path(path).apply(value)


def test_join_csv_and_json() -> None:
    row = decode_record(b"id-7,1.5,2\n", "text/csv")
    assert row == ["id-7", "1.5", "2"]
    joined = join_input(row, b"0.93", "text/csv", "text/csv")
    assert encode_record(parse_path("$[0,-1]").apply(joined), "text/csv") == b"id-7,0.93"
    obj = decode_record(b'{"id": 3, "features": [1, 2]}', "application/jsonlines")
    assert join_input(obj, b'{"score": 0.2}', "application/jsonlines", "application/jsonlines") == {
        "id": 3, "features": [1, 2], "SageMakerOutput": {"score": 0.2}}
    assert join_input([1, 2], b"0.4", "application/json", "text/csv") == {
        "SageMakerInput": [1, 2], "SageMakerOutput": "0.4"}
    assert json.loads(encode_record({"a": 1}, "application/json")) == {"a": 1}
