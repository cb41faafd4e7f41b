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


def test_batches_for_several_slots_come_in_whole_rounds_of_even_size() -> None:
    rows = [f"{i},{i * 7 % 1000},{i % 13}.5".encode() for i in range(800_000)]
    data = b"\n".join(rows) + b"\n"
    limit = len(data) * 10 // 43  # four full batches and a short fifth when packed to the limit
    greedy = cut_line_batches(data, limit, "s3://b/k")
    assert greedy is not None and len(greedy) == 5 and greedy[-1].size < greedy[0].size // 3
    plan = cut_line_batches(data, limit, "s3://b/k", slots=2)
    assert plan is not None and len(plan) == 6
    sizes = [len(b.payload("Line")) for b in plan]
    assert max(sizes) <= limit and max(sizes) - min(sizes) < 100
    # The same records, in order, numbered as the record-by-record path numbers them.
    assert b"".join(b.payload("Line") for b in plan) == data
    assert [b.first for b in plan] == [1] + [sum(b.size for b in plan[:i]) + 1 for i in range(1, len(plan))]


@pytest.mark.parametrize(("size", "slots", "expected"), [
    (100_000, 2, 1),            # small: one request, however many slots
    (3 * 1024 * 1024, 2, 2),    # under the limit, but big enough to give both slots a share
    (3 * 1024 * 1024, 8, 3),    # ... never pieces under 1 MiB
    (28_000_000, 2, 6),
    (28_000_000, 1, 5),
    (28_000_000, 4, 8),
])
def test_batch_count(size: int, slots: int, expected: int) -> None:
    from services.transform.records import _batch_count
    assert _batch_count(size, 6 * 1024 * 1024, slots) == expected


def test_a_record_over_the_target_but_within_the_limit_goes_alone() -> None:
    data = b"1\n" * 600_000 + b"9" * 1_000_000 + b"\n" + b"2\n" * 600_000
    plan = cut_line_batches(data, 2_000_000, "s3://b/k", slots=2)
    assert plan is not None and b"".join(b.payload("Line") for b in plan) == data
    assert all(len(b.payload("Line")) <= 2_000_000 for b in plan)
    with pytest.raises(RecordError, match="record 600001 is 2000001 bytes"):
        cut_line_batches(data.replace(b"9" * 1_000_000, b"9" * 2_000_001), 2_000_000, "s3://b/k", slots=2)
