"""The FastFile mount process: one channel, mounted read-only through FUSE.

``python -m services.inputs.fastfile.mount`` reads its spec (JSON: channel,
mountpoint, entries, block settings) on stdin, mounts the channel's tree
(:mod:`services.inputs.fastfile.layout`) at the mountpoint and serves reads with
ranged GETs (:mod:`services.inputs.fastfile.cache`) until it is unmounted
(``fusermount3 -u``, SIGTERM, or its parent dying). It is a process of its
own because FUSE's loop blocks and installs signal handlers; the worker
starts it, waits for :data:`READY_LINE`, and reads its stats line at exit.

S3 is reached with the worker's settings (``HEADWATER_*`` environment) on an
asyncio loop of a thread of its own; FUSE's threads wait on it with
``run_coroutine_threadsafe``. A read that fails returns EIO to the reader and
prints an :data:`ERROR_PREFIX` line naming the file, offset and S3 error.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import itertools
import json
import logging
import os
import signal
import stat
import sys
import threading
import time
from concurrent.futures import Future
from typing import Any

import mfusepy as fuse
from aiobotocore.session import get_session

from services.aws.s3 import S3Adapter
from services.aws.session import client_kwargs
from services.core.settings import Settings
from services.inputs.fastfile.cache import (
    BLOCK_SIZE,
    MAX_BLOCKS,
    READAHEAD,
    BlockCache,
    BlockReadError,
    Fetch,
    ReadStream,
)
from services.inputs.fastfile.layout import ERROR_PREFIX, FS_TYPE, READY_LINE, STATS_PREFIX, FastFileEntry, FileTree

_MAX_ERRORS_KEPT = 20
_READY_WAIT_SECONDS = 30.0
_out_lock = threading.Lock()


def say(line: str) -> None:
    """One line to the worker (FUSE threads print concurrently)."""
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class S3Reader:
    """Ranged GETs on a private asyncio loop; counts the bytes it fetched."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fastfile-s3", daemon=True)
        self._thread.start()
        self._stack = contextlib.AsyncExitStack()
        self.fetched = 0  # only the loop's thread adds to it
        self.s3: S3Adapter = asyncio.run_coroutine_threadsafe(self._open(settings), self.loop).result(60)

    async def _open(self, settings: Settings) -> S3Adapter:
        client = await self._stack.enter_async_context(
            get_session().create_client("s3", **client_kwargs(settings, "s3")))
        return S3Adapter(client)

    async def _get(self, entry: FastFileEntry, start: int, end: int) -> bytes:
        data = await self.s3.get_range(entry.bucket, entry.key, start, end, entry.etag or None)
        self.fetched += len(data)
        return data

    def fetcher(self, entry: FastFileEntry) -> Fetch:
        """The block fetch of one object."""
        def fetch(start: int, end: int) -> Future[bytes]:
            return asyncio.run_coroutine_threadsafe(self._get(entry, start, end), self.loop)
        return fetch

    def close(self) -> None:
        """Close the client and stop the loop."""
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stack.aclose(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class FastFileOperations(fuse.Operations):  # type: ignore[misc]
    """Read-only FUSE operations over a :class:`FileTree`; reads go through a per-file block cache."""

    use_ns = True  # times in nanoseconds (mfusepy's non-deprecated form)

    def __init__(self, channel: str, mountpoint: str, tree: FileTree, reader: S3Reader, *,
                 block_size: int = BLOCK_SIZE, max_blocks: int = MAX_BLOCKS, readahead: int = READAHEAD) -> None:
        self.channel = channel
        self.mountpoint = mountpoint
        self.tree = tree
        self.reader = reader
        self.block_size, self.max_blocks, self.readahead = block_size, max_blocks, readahead
        self.errors: list[dict[str, Any]] = []
        self.error_count = 0
        self._lock = threading.Lock()
        self._handles: dict[int, tuple[str, ReadStream]] = {}
        self._caches: dict[str, tuple[BlockCache, int]] = {}  # path -> (cache, open handles); dropped at zero
        self._ids = itertools.count(1)
        self._time = time.time_ns()

    def init(self, path: str) -> None:
        def announce() -> None:  # once the kernel shows the mount, the worker may start the container
            deadline = time.monotonic() + _READY_WAIT_SECONDS
            while not os.path.ismount(self.mountpoint):
                if time.monotonic() > deadline:
                    return  # never ready: the worker's own timeout fails the job
                time.sleep(0.01)
            say(READY_LINE)

        threading.Thread(target=announce, name="fastfile-ready", daemon=True).start()

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        times = {"st_atime": self._time, "st_mtime": self._time, "st_ctime": self._time,
                 "st_uid": os.getuid(), "st_gid": os.getgid()}
        entry = self.tree.file(path)
        if entry is not None:
            return {**times, "st_mode": stat.S_IFREG | 0o444, "st_nlink": 1, "st_size": entry.size,
                    "st_blocks": -(-entry.size // 512)}
        if self.tree.is_dir(path):
            return {**times, "st_mode": stat.S_IFDIR | 0o555, "st_nlink": 2}
        raise fuse.FuseOSError(errno.ENOENT)

    def readdir(self, path: str, fh: int) -> list[str]:
        if not self.tree.is_dir(path):
            raise fuse.FuseOSError(errno.ENOTDIR)
        return [".", "..", *self.tree.children(path)]

    def open(self, path: str, flags: int) -> int:
        if flags & os.O_ACCMODE != os.O_RDONLY:
            raise fuse.FuseOSError(errno.EROFS)
        entry = self.tree.file(path)
        if entry is None:
            raise fuse.FuseOSError(errno.EISDIR if self.tree.is_dir(path) else errno.ENOENT)
        with self._lock:
            cache, count = self._caches.get(path) or (BlockCache(
                entry.size, self.reader.fetcher(entry), block_size=self.block_size, max_blocks=self.max_blocks,
                readahead=self.readahead), 0)
            self._caches[path] = (cache, count + 1)
            fh = next(self._ids)
            self._handles[fh] = (path, ReadStream())
        return fh

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        with self._lock:
            found = self._handles.get(fh)
            cache = self._caches[found[0]][0] if found else None
        if found is None or cache is None:
            raise fuse.FuseOSError(errno.EBADF)
        try:
            return cache.read(offset, size, found[1])
        except BlockReadError as err:
            self._record(found[0], offset, err)
            raise fuse.FuseOSError(errno.EIO) from err

    def release(self, path: str, fh: int) -> int:
        with self._lock:
            found = self._handles.pop(fh, None)
            if found is not None:
                cache, count = self._caches[found[0]]
                if count <= 1:  # the last handle: the kernel's page cache keeps what it read
                    del self._caches[found[0]]
                else:
                    self._caches[found[0]] = (cache, count - 1)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": self.block_size, "f_frsize": 512, "f_blocks": -(-self.tree.total_size // 512),
                "f_bfree": 0, "f_bavail": 0, "f_files": len(self.tree.files), "f_ffree": 0, "f_namemax": 255}

    def _record(self, path: str, offset: int, err: BlockReadError) -> None:
        entry = self.tree.file(path)
        uri = f"s3://{entry.bucket}/{entry.key}" if entry else ""
        report = {"path": path.lstrip("/"), "offset": err.offset, "read_offset": offset, "uri": uri,
                  "error": f"{type(err.cause).__name__}: {err.cause}"}
        with self._lock:
            self.error_count += 1
            if len(self.errors) < _MAX_ERRORS_KEPT:
                self.errors.append(report)
        say(ERROR_PREFIX + json.dumps(report))


def _terminate_with_parent() -> None:
    """SIGTERM when the worker that started us dies: FUSE's handler then unmounts cleanly."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def main() -> int:
    """Mount the spec on stdin; return when unmounted (0) or when the mount failed (1)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    _terminate_with_parent()
    spec = json.load(sys.stdin)
    channel, mountpoint = str(spec["channel"]), str(spec["mountpoint"])
    tree = FileTree([FastFileEntry.from_json(e) for e in spec["entries"]])
    reader = S3Reader(Settings())
    ops = FastFileOperations(channel, mountpoint, tree, reader, block_size=int(spec.get("block_size", BLOCK_SIZE)),
                             max_blocks=int(spec.get("max_blocks", MAX_BLOCKS)),
                             readahead=int(spec.get("readahead", READAHEAD)))
    options: dict[str, Any] = dict(foreground=True, ro=True, fsname=f"headwater-{channel}", subtype=FS_TYPE,
                                   default_permissions=True, auto_unmount=True,
                                   # The objects cannot change under the job (reads are conditional on
                                   # their ETags), so the kernel may keep pages and names.
                                   kernel_cache=True, attr_timeout=3600, entry_timeout=3600,
                                   negative_timeout=3600)
    if os.geteuid() == 0:  # containers may run as another user; only root may allow them without fuse.conf
        options["allow_other"] = True
    code = 0
    try:
        fuse.FUSE(ops, mountpoint, **options)
    except (RuntimeError, OSError) as err:
        print(f"headwater-fastfile: mounting {mountpoint} failed: {err}", file=sys.stderr, flush=True)
        code = 1
    finally:
        reader.close()
    say(STATS_PREFIX + json.dumps({"channel": channel, "fetched": reader.fetched, "total": tree.total_size,
                                   "files": len(tree.files), "errors": ops.error_count}))
    return code


if __name__ == "__main__":
    sys.exit(main())
