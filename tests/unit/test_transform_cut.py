"""Cutting clean Line input into MultiRecord batches without an object per record."""

from __future__ import annotations

import random

import pytest

from services.transform.records import RecordError, batches, cut_line_batches, split_records


def _reference(data: bytes, limit: int) -> list[tuple[int, bytes, int]] | str:
    try:
        return [(b.first, b.payload("Line"), b.size)
                for b in batches(split_records(data, "Line", "s3://b/k"), "MultiRecord", limit, "s3://b/k")]
    except RecordError as err:
        return str(err)


def _cut(data: bytes, limit: int) -> list[tuple[int, bytes, int]] | str:
    try:
        plan = cut_line_batches(data, limit, "s3://b/k")
    except RecordError as err:
        return str(err)
    assert plan is not None
    return [(b.first, b.payload("Line"), b.size) for b in plan]


def test_same_batches_and_errors_as_the_record_by_record_path() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        lines = [b",".join(str(rng.randint(0, 10 ** rng.randint(0, 6))).encode() for _ in range(rng.randint(1, 5)))
                 for _ in range(rng.randint(1, 30))]
        data = b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")
        limit = rng.randint(1, 120)
        assert _cut(data, limit) == _reference(data, limit), (data, limit)


@pytest.mark.parametrize("data", [b"1,2\r\n3,4\r\n", b"1,2\n\n3,4\n", b"\n1,2\n", b"1,2 \n3,4\n", b"1,2\n  ", b""])
def test_unclean_input_is_left_to_the_exact_path(data: bytes) -> None:
    assert cut_line_batches(data, 1024, "s3://b/k") is None
