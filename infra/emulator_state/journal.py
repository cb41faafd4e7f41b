"""An append-only journal of framed records that survives being cut off mid-write.

Each record is one frame: a magic tag, the payload's length and its CRC-32,
then the payload. A frame is appended with one ``write`` and made durable
with ``fsync`` before :meth:`Journal.append` returns, so a process killed at
any instant leaves every earlier frame whole and at most one torn frame at
the end; :meth:`Journal.records` stops at the first frame that is short or
fails its checksum and cuts the file there, so the next append starts clean.
:meth:`Journal.rewrite` replaces the whole file atomically (write beside,
``fsync``, rename, ``fsync`` the directory): a reader sees the old journal or
the new one, never a mix.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

_MAGIC = b"HWJ1"
_HEADER = struct.Struct(">4sII")  # magic, payload length, CRC-32 of the payload


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _frame(payload: bytes) -> bytes:
    return _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload


class Journal:
    """Framed records in one file, appended durably and read back up to the last whole one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def size(self) -> int:
        """Bytes on disk (0 when there is no journal yet)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def records(self, repair: bool = True) -> Iterator[bytes]:
        """Every whole record, oldest first; a torn or corrupt tail is logged and cut off (unless not
        ``repair``: a reader beside the live writer leaves the file alone)."""
        try:
            f = self.path.open("rb")
        except FileNotFoundError:
            return
        good_end = 0
        with f:
            while True:
                header = f.read(_HEADER.size)
                if not header:
                    break
                if len(header) < _HEADER.size:
                    break
                magic, length, crc = _HEADER.unpack(header)
                if magic != _MAGIC:
                    break
                payload = f.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    break
                good_end = f.tell()
                yield payload
            end = f.seek(0, os.SEEK_END)
        if end > good_end and repair:
            # A frame cut by a crash (or a damaged disk block): everything before it
            # is whole; drop the rest so the next append is not hidden behind it.
            log.warning("%s: %d bytes after the last whole record are cut off", self.path, end - good_end)
            with self.path.open("r+b") as f:
                f.truncate(good_end)
                os.fsync(f.fileno())

    def append(self, payload: bytes) -> None:
        """Append one record and make it durable before returning."""
        with self.path.open("ab") as f:
            f.write(_frame(payload))
            f.flush()
            os.fsync(f.fileno())

    def rewrite(self, payloads: Iterable[bytes]) -> None:
        """Replace the journal with ``payloads``, atomically."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as f:
            for payload in payloads:
                f.write(_frame(payload))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
        fsync_dir(self.path.parent)
