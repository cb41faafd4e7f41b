"""FastFile's pure parts: the mount's tree (File mode's layout, nothing outside it) and the block cache."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from services.aws.s3 import S3Object
from services.core.exceptions import JobFailed
from services.inputs.fastfile.cache import BlockCache, BlockReadError, ReadStream
from services.inputs.fastfile.layout import FastFileEntry, FileTree, mount_path
from services.inputs.fastfile.mounts import channel_layout, stale_mounts
from services.inputs.models import Channel

DATA = bytes(range(256)) * 4  # 1024 bytes, every offset distinguishable


def _entry(path: str, size: int = 1) -> FastFileEntry:
    return FastFileEntry(path, "bkt", f"prefix/{path}", size, '"etag"')


# --- the tree --------------------------------------------------------------------------------------------


def test_directories_are_synthesized_from_key_paths() -> None:
    tree = FileTree([_entry("a.csv", 3), _entry("x/y/b.csv", 5), _entry("x/c.csv", 7)])
    assert tree.children("/") == ["a.csv", "x"]
    assert tree.children("/x") == ["c.csv", "y"]
    assert tree.children("/x/y") == ["b.csv"]
    assert tree.is_dir("/") and tree.is_dir("/x") and tree.is_dir("/x/y")
    assert not tree.is_dir("/a.csv") and not tree.is_dir("/nope")
    found = tree.file("/x/y/b.csv")
    assert found is not None and found.key == "prefix/x/y/b.csv" and found.size == 5
    assert tree.file("/x") is None and tree.file("/missing") is None
    assert tree.total_size == 15


def test_paths_are_normalized_as_a_download_would_write_them() -> None:
    assert mount_path("a//b/./c.csv") == "a/b/c.csv"
    tree = FileTree([_entry("./a//b.csv")])
    assert tree.children("/") == ["a"] and tree.file("/a/b.csv") is not None


@pytest.mark.parametrize("relative", ["../x.csv", "a/../../x.csv", "/etc/passwd", "..", "", "a/b/../../.."])
def test_paths_that_would_leave_the_mount_are_refused(relative: str) -> None:
    with pytest.raises(JobFailed, match="outside its channel directory"):
        FileTree([_entry("ok.csv"), FastFileEntry(relative, "bkt", "k", 1)])


@pytest.mark.parametrize("paths", [["a", "a/b"], ["a/b", "a"], ["a/b/c", "a/b"], ["a", "a/b/c"]])
def test_a_key_that_is_both_file_and_directory_is_refused(paths: list[str]) -> None:
    with pytest.raises(JobFailed, match="both a file and a directory"):
        FileTree([_entry(p) for p in paths])


def test_entries_travel_to_the_mount_process_as_json() -> None:
    entry = _entry("x/y.bin", 42)
    assert FastFileEntry.from_json(entry.to_json()) == entry


class FakeS3:
    """Lists keys (each of size 10 + its length); heads them for manifests."""

    def __init__(self, keys: list[str], manifest: object = None) -> None:
        self.keys = keys
        self.manifest = manifest

    async def list_objects(self, bucket: str, prefix: str) -> AsyncIterator[S3Object]:
        for k in self.keys:
            if k.startswith(prefix):
                yield S3Object(bucket, k, 10 + len(k), f'"{k}"')

    async def get_json(self, bucket: str, key: str) -> tuple[object, str] | None:
        return (self.manifest, "etag") if key == "manifest" and self.manifest is not None else None

    async def head(self, bucket: str, key: str) -> S3Object | None:
        return S3Object(bucket, key, 10 + len(key), f'"{key}"') if key in self.keys else None


def _channel(uri: str, data_type: str = "S3Prefix", distribution: str = "FullyReplicated") -> Channel:
    return Channel.model_validate({"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": data_type, "S3Uri": uri, "S3DataDistributionType": distribution}}})


async def test_layout_is_file_modes_paths_with_listed_sizes() -> None:
    s3 = FakeS3(["d/train/a.csv", "d/train/sub/b.csv", "d/train/dir/", "d/other/c.csv"])
    entries = await channel_layout(s3, _channel("s3://bkt/d/train/"), None)  # type: ignore[arg-type]
    assert [(e.path, e.size, e.etag) for e in entries] == [
        ("a.csv", 23, '"d/train/a.csv"'), ("sub/b.csv", 27, '"d/train/sub/b.csv"')]


async def test_layout_of_a_sharded_channel_is_this_hosts_share() -> None:
    s3 = FakeS3([f"d/part-{i}" for i in range(5)])
    channel = _channel("s3://bkt/d/", distribution="ShardedByS3Key")
    shares = [[e.path for e in await channel_layout(s3, channel, (i, 2))] for i in range(2)]  # type: ignore[arg-type]
    assert shares == [["part-0", "part-2", "part-4"], ["part-1", "part-3"]]


async def test_layout_of_a_manifest_heads_each_object_for_its_size() -> None:
    s3 = FakeS3(["m/x.csv", "m/deep/y.csv"], manifest=[{"prefix": "s3://bkt/m/"}, "x.csv", "deep/y.csv"])
    entries = await channel_layout(s3, _channel("s3://bkt/manifest", "ManifestFile"), None)  # type: ignore[arg-type]
    assert [(e.path, e.size) for e in entries] == [("x.csv", 17), ("deep/y.csv", 22)]
    s3.keys.remove("m/x.csv")
    with pytest.raises(JobFailed, match=r"s3://bkt/m/x.csv, named by manifest s3://bkt/manifest, does not exist"):
        await channel_layout(s3, _channel("s3://bkt/manifest", "ManifestFile"), None)  # type: ignore[arg-type]


async def test_a_key_escaping_the_channel_fails_before_anything_is_mounted() -> None:
    s3 = FakeS3(["d/", "d/ok.csv"], manifest=[{"prefix": "s3://bkt/d/"}, "ok.csv", "../../etc/passwd"])
    with pytest.raises(JobFailed, match="outside its channel directory"):
        await channel_layout(s3, _channel("s3://bkt/manifest", "ManifestFile"), None)  # type: ignore[arg-type]


def test_stale_mounts_are_found_under_the_root_only_deepest_first() -> None:
    info = "\n".join([
        "36 25 0:32 / /jobs/j/algo-1/input/data/train rw,nosuid - fuse.headwater-fastfile headwater-train ro",
        "37 36 0:33 / /jobs/j/algo-1/input/data/train/deep rw - fuse.headwater-fastfile headwater-x ro",
        "38 25 0:34 / /jobs/j/algo-1/input/data/with\\040space rw - fuse.headwater-fastfile headwater-y ro",
        "39 25 0:35 / /jobs/j/algo-1/input/data/other rw - fuse.sshfs host:/ ro",
        "40 25 0:36 / /jobs/k/algo-1/input/data/train rw - fuse.headwater-fastfile headwater-train ro",
    ])
    assert stale_mounts(Path("/jobs/j/algo-1"), info) == [
        Path("/jobs/j/algo-1/input/data/train/deep"), Path("/jobs/j/algo-1/input/data/train"),
        Path("/jobs/j/algo-1/input/data/with space")]


# --- the block cache ------------------------------------------------------------------------------------


class Fetcher:
    """Serves ranges of DATA as completed futures and records them; ``fail`` makes the next fetches fail."""

    def __init__(self, data: bytes = DATA) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []
        self.fail: Exception | None = None
        self.lock = threading.Lock()

    def __call__(self, start: int, end: int) -> Future[bytes]:
        future: Future[bytes] = Future()
        with self.lock:
            self.calls.append((start, end))
        if self.fail is not None:
            future.set_exception(self.fail)
        else:
            future.set_result(self.data[start:end])
        return future


def test_reads_across_block_boundaries_return_the_right_bytes() -> None:
    fetch = Fetcher()
    cache = BlockCache(len(DATA), fetch, block_size=100, max_blocks=4, readahead=2)
    assert cache.block_count == 11
    assert cache.read(95, 10) == DATA[95:105]  # two blocks
    assert fetch.calls == [(0, 100), (100, 200)]
    assert cache.read(1000, 100) == DATA[1000:]  # short at the end: the last block is 24 bytes
    assert fetch.calls[-1] == (1000, 1024)
    assert cache.read(1024, 10) == b"" and cache.read(5, 0) == b""


def test_a_seeking_reader_fetches_only_the_blocks_it_touches() -> None:
    fetch = Fetcher()
    cache = BlockCache(len(DATA), fetch, block_size=100, max_blocks=4, readahead=2)
    stream = ReadStream()
    assert cache.read(0, 10, stream) == DATA[:10]  # the head: less than half a block, no read-ahead
    assert cache.read(500, 10, stream) == DATA[500:510]  # a seek
    assert cache.read(20, 10, stream) == DATA[20:30]  # back into a cached block: nothing fetched
    assert fetch.calls == [(0, 100), (500, 600)]


def test_a_sequential_reader_gets_read_ahead() -> None:
    fetch = Fetcher()
    cache = BlockCache(len(DATA), fetch, block_size=100, max_blocks=6, readahead=2)
    stream = ReadStream()
    out = b"".join(cache.read(off, 30, stream) for off in range(0, 60, 30))  # 60 bytes back to back
    assert out == DATA[:60]
    assert fetch.calls == [(0, 100), (100, 200), (200, 300)]  # block 0, then blocks 1-2 ahead of need
    assert cache.read(60, 200, stream) == DATA[60:260]
    assert len(fetch.calls) == 5  # blocks 3 and 4 ahead; 1 and 2 came from the cache
    whole = bytearray(DATA[:260])
    while chunk := cache.read(len(whole), 64, stream):
        whole += chunk
    assert bytes(whole) == DATA
    assert sorted(set(fetch.calls)) == sorted(fetch.calls)  # no block fetched twice while streaming


def test_the_cache_holds_at_most_max_blocks() -> None:
    fetch = Fetcher()
    cache = BlockCache(len(DATA), fetch, block_size=100, max_blocks=3, readahead=1)
    for index in (0, 2, 4, 6, 8):
        cache.read(index * 100, 1)
    assert cache.cached() == [4, 6, 8]  # least recently used went first
    cache.read(0, 1)
    assert fetch.calls.count((0, 100)) == 2


def test_max_blocks_must_leave_room_for_a_read_and_its_read_ahead() -> None:
    with pytest.raises(ValueError, match="readahead"):
        BlockCache(10, Fetcher(), max_blocks=3, readahead=2)


def test_a_failed_fetch_names_the_offset_and_is_retried_by_the_next_read() -> None:
    fetch = Fetcher()
    cache = BlockCache(len(DATA), fetch, block_size=100, max_blocks=4, readahead=2)
    fetch.fail = RuntimeError("NoSuchKey")
    with pytest.raises(BlockReadError) as err:
        cache.read(250, 10)
    assert err.value.offset == 200 and "NoSuchKey" in str(err.value.cause)
    assert cache.cached() == []  # the failure is not kept
    fetch.fail = None
    assert cache.read(250, 10) == DATA[250:260]


def test_a_failed_read_ahead_is_fetched_again_when_needed() -> None:
    fetch = Fetcher()
    cache = BlockCache(len(DATA), fetch, block_size=100, max_blocks=4, readahead=1)
    stream = ReadStream()
    cache.read(0, 40, stream)
    fetch.fail = RuntimeError("slow down")
    cache.read(40, 40, stream)  # starts block 1 ahead, which fails
    fetch.fail = None
    assert cache.read(100, 10, stream) == DATA[100:110]
    assert fetch.calls.count((100, 200)) == 2


def test_a_short_block_means_the_object_changed() -> None:
    cache = BlockCache(len(DATA), Fetcher(DATA[:150]), block_size=100, max_blocks=4, readahead=2)
    with pytest.raises(BlockReadError, match="the object changed"):
        cache.read(120, 10)


def test_readers_of_one_block_share_its_fetch() -> None:
    pending: Future[bytes] = Future()
    calls: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> Future[bytes]:
        calls.append((start, end))
        return pending

    cache = BlockCache(len(DATA), fetch, block_size=100, max_blocks=4, readahead=2)
    results: list[bytes] = []
    readers = [threading.Thread(target=lambda o=o: results.append(cache.read(o, 5))) for o in (0, 50)]
    for t in readers:
        t.start()
    pending.set_result(DATA[:100])
    for t in readers:
        t.join(10)
    assert sorted(results) == sorted([DATA[0:5], DATA[50:55]])
    assert calls == [(0, 100)]
