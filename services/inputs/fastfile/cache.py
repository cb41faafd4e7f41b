"""The read side of a FastFile mount: fixed-size blocks of one object, fetched on demand.

A read is served from the blocks it spans; a missing block is one ranged GET
(``fetch(start, end)``, a future the caller's asyncio loop completes). Blocks
live in a small LRU per file, so re-reads and small seeks cost nothing and
memory stays bounded however large the object is. A handle that reads
sequentially (its reads follow each other and have covered half a block)
also starts the next blocks' fetches early (read-ahead), so a streaming
reader rarely waits on S3; a reader that seeks around fetches only the
blocks it touches, which is the point of FastFile.

FUSE calls :meth:`BlockCache.read` from several threads at once: one lock
guards the LRU, and two readers of the same block share one fetch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

BLOCK_SIZE = 4 << 20
MAX_BLOCKS = 6  # per open file: 24 MiB at most
READAHEAD = 2
FETCH_TIMEOUT = 120.0

# (start, end exclusive) -> the bytes, completed by whoever owns the S3 client.
Fetch = Callable[[int, int], "Future[bytes]"]


class BlockReadError(Exception):
    """A block could not be fetched; ``offset`` is where the failed block starts."""

    def __init__(self, offset: int, cause: BaseException) -> None:
        super().__init__(f"at offset {offset}: {cause}")
        self.offset = offset
        self.cause = cause


@dataclass
class ReadStream:
    """One open handle's position, to tell a sequential reader from a seeking one."""

    next_offset: int = 0
    streak: int = 0  # bytes read back to back since the last seek


def _failed(future: Future[bytes]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


class BlockCache:
    """Blocks of one object of ``size`` bytes, fetched with ``fetch``."""

    def __init__(self, size: int, fetch: Fetch, *, block_size: int = BLOCK_SIZE, max_blocks: int = MAX_BLOCKS,
                 readahead: int = READAHEAD, timeout: float = FETCH_TIMEOUT) -> None:
        if max_blocks < readahead + 2:  # a FUSE read (<= 1 MiB) spans two blocks at most, plus its read-ahead
            raise ValueError(f"max_blocks ({max_blocks}) must be at least readahead + 2 ({readahead + 2})")
        self.size = size
        self.fetch = fetch
        self.block_size = block_size
        self.max_blocks = max_blocks
        self.readahead = readahead
        self.timeout = timeout
        self._blocks: OrderedDict[int, Future[bytes]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def block_count(self) -> int:
        """How many blocks the object has."""
        return -(-self.size // self.block_size)

    def cached(self) -> list[int]:
        """Indexes of the blocks held or in flight, least recently used first."""
        with self._lock:
            return list(self._blocks)

    def _block_locked(self, index: int) -> Future[bytes]:
        found = self._blocks.get(index)
        if found is not None and not _failed(found):
            self._blocks.move_to_end(index)
            return found
        # Absent, or a read-ahead that failed before anyone needed it: fetch (again).
        start = index * self.block_size
        future = self.fetch(start, min(self.size, start + self.block_size))
        self._blocks[index] = future
        while len(self._blocks) > self.max_blocks:
            self._blocks.popitem(last=False)
        return future

    def _result(self, index: int, future: Future[bytes]) -> bytes:
        start = index * self.block_size
        expected = min(self.size, start + self.block_size) - start
        try:
            data = future.result(self.timeout)
            if len(data) != expected:
                raise ValueError(f"expected {expected} bytes, S3 returned {len(data)} (the object changed)")
            return data
        except BaseException as err:
            with self._lock:  # forget the failure: a later read tries again
                if self._blocks.get(index) is future:
                    del self._blocks[index]
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise
            raise BlockReadError(start, err) from err

    def read(self, offset: int, length: int, stream: ReadStream | None = None) -> bytes:
        """Bytes ``[offset, offset + length)`` (short at the end of the object).

        ``stream``: the reading handle's position, for read-ahead; ``None`` reads without it.
        Raises :class:`BlockReadError` when a block it needs cannot be fetched.
        """
        if length <= 0 or offset >= self.size:
            return b""
        end = min(self.size, offset + length)
        first, last = offset // self.block_size, (end - 1) // self.block_size
        ahead: range = range(0)
        if stream is not None:
            sequential = offset == stream.next_offset
            stream.streak = stream.streak + (end - offset) if sequential else end - offset
            stream.next_offset = end
            if sequential and stream.streak >= self.block_size // 2:
                ahead = range(last + 1, min(last + 1 + self.readahead, self.block_count))
        with self._lock:
            needed = [(i, self._block_locked(i)) for i in range(first, last + 1)]
            # Started now, waited on by a later read; never so many that they push out this read's blocks.
            for i in list(ahead)[:max(0, self.max_blocks - len(needed))]:
                self._block_locked(i)
        out = bytearray()
        for i, future in needed:
            data = self._result(i, future)
            base = i * self.block_size
            out += data[max(offset, base) - base:min(end, base + self.block_size) - base]
        return bytes(out)
