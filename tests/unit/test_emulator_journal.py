"""The emulator state's journal: whole records back, a torn or damaged tail cut off, rewrites atomic."""

from __future__ import annotations

from pathlib import Path

from infra.emulator_state.blobs import BlobStore
from infra.emulator_state.journal import Journal


def test_records_come_back_in_order(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal")
    for i in range(5):
        j.append(f"record {i}".encode())
    assert list(j.records()) == [f"record {i}".encode() for i in range(5)]


def test_a_record_cut_off_mid_write_is_dropped_and_the_next_append_is_readable(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal")
    j.append(b"first")
    j.append(b"second, cut off by a SIGKILL")
    whole = j.path.read_bytes()
    for cut in range(len(whole) - 1, len(whole) - 30, -1):  # every length that tears the second frame
        j.path.write_bytes(whole[:cut])
        assert list(j.records()) == [b"first"]
    j.append(b"third")
    assert list(j.records()) == [b"first", b"third"]


def test_a_damaged_record_ends_the_journal_there(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal")
    for payload in (b"one", b"two", b"three"):
        j.append(payload)
    data = bytearray(j.path.read_bytes())
    data[len(data) - len(b"three") - 14] ^= 0xFF  # a flipped bit in the payload of "two"
    j.path.write_bytes(bytes(data))
    assert list(j.records()) == [b"one"]
    assert j.size == len(b"one") + 12


def test_rewrite_replaces_the_whole_journal(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal")
    for i in range(10):
        j.append(b"old" * 100)
    j.rewrite([b"compacted"])
    assert list(j.records()) == [b"compacted"]
    assert not (tmp_path / "journal.tmp").exists()


def test_blob_writes_cut_off_by_a_crash_are_cleared(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    store.write("a" * 32, [b"body"])
    (tmp_path / "blobs" / ("b" * 32 + ".tmp")).write_bytes(b"half")
    store = BlobStore(tmp_path / "blobs")
    assert store.names() == {"a" * 32}
    with store.open("a" * 32) as f:
        assert f.read() == b"body"
