"""Finding a channel's files and reading them line by line.

Kept apart from the format parsers so every format gets the same rules: which
files count, how gzip is handled, and how a line is located in a message.
"""

from __future__ import annotations

import gzip as gzip_module
from array import array
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from containers.common.errors import CustomerError
from containers.common.recordio import MAGIC, RecordIOError, iter_payloads

_GZIP_MAGIC = b"\x1f\x8b"
_RECORDIO_MAGIC = MAGIC.to_bytes(4, "little")


@dataclass(frozen=True)
class Line:
    """One line of input and where it came from."""

    where: str  # "<channel>/<path relative to the channel dir>"
    number: int  # 1-based
    text: str


def _is_hidden(relative: Path) -> bool:
    # Hidden anywhere on the path: ".ipynb_checkpoints/x.csv" is not data either.
    return any(part.startswith(".") for part in relative.parts)


def channel_files(channel: str, directory: Path) -> list[Path]:
    """Every non-hidden regular file under ``directory``, recursively, sorted.

    Raises ``CustomerError`` when the channel holds no such file, since a
    channel whose S3 prefix matched nothing is the user's mistake.
    """
    if not directory.is_dir():
        pipe = pipe_path(channel, directory)
        if pipe.is_fifo():  # Pipe mode: the channel is one stream, its first epoch
            return [pipe]
        raise CustomerError(f"Channel '{channel}' has no data: its directory was not provided.")
    files = sorted(
        path
        for path in directory.rglob("*")
        if path.is_file() and not _is_hidden(path.relative_to(directory))
    )
    if not files:
        raise CustomerError(f"Channel '{channel}' has no data files.")
    return files


def pipe_path(channel: str, directory: Path, epoch: int = 0) -> Path:
    """The FIFO of ``channel``'s ``epoch`` in Pipe mode: ``<data dir>/<channel>_<epoch>``."""
    return directory.parent / f"{channel}_{epoch}"


@contextmanager
def _opener(path: Path, gzip: bool, where: str) -> Iterator[BinaryIO]:
    # Opened once and probed with peek: a Pipe-mode FIFO cannot be reopened for the same pass.
    with path.open("rb") as raw:
        magic = raw.peek(2)[:2]
        if gzip:
            # An empty file is reported as empty by the parsers, not as bad gzip.
            if magic and magic != _GZIP_MAGIC:
                raise CustomerError(
                    f"Bad input in {where}: the channel's CompressionType is Gzip but the file is not gzip-compressed."
                )
            if magic:
                with gzip_module.GzipFile(fileobj=raw, mode="rb") as unzipped:
                    yield unzipped  # type: ignore[misc]
                return
        elif magic == _GZIP_MAGIC:
            raise CustomerError(
                f"Bad input in {where}: the file is gzip-compressed; set the channel's CompressionType to Gzip."
            )
        yield raw


def read_lines(channel: str, directory: Path, path: Path, *, gzip: bool = False) -> Iterator[Line]:
    """Yield the lines of ``path`` (decompressed when ``gzip``) without line endings.

    Undecodable or corrupt input raises ``CustomerError`` naming the line.
    """
    where = display_name(channel, directory, path)
    number = 0
    try:
        with _opener(path, gzip, where) as handle:
            for number, raw in enumerate(_text_lines(handle, where), start=1):  # noqa: B007 - used after the loop on error
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise CustomerError(f"Bad input in {where} at line {number}: the line is not UTF-8 text.") from None
                if number == 1:
                    text = text.lstrip("\ufeff")  # a byte-order mark is not data
                yield Line(where, number, text.rstrip("\r\n"))
    except (gzip_module.BadGzipFile, EOFError, zlib.error) as exc:
        raise CustomerError(f"Bad input in {where} after line {number}: corrupt gzip data ({exc}).") from None


def _text_lines(handle: BinaryIO, where: str) -> Iterator[bytes]:
    """The lines of a text stream; a stream of RecordIO records (a Pipe channel with
    ``RecordWrapperType: RecordIO``) yields the lines of each record's payload."""
    if handle.peek(4)[:4] != _RECORDIO_MAGIC:  # type: ignore[attr-defined]
        yield from handle
        return
    try:
        for payload in iter_payloads(handle):
            lines = payload.splitlines(keepends=True)
            yield from lines
    except RecordIOError as err:
        raise CustomerError(f"Bad input in {where} at record {err.record}: {err.problem}.") from None


def display_name(channel: str, directory: Path, path: Path) -> str:
    """How messages name a file: ``<channel>/<path relative to the channel dir>``, or
    the FIFO's own name (``<channel>_0``) in Pipe mode."""
    if not path.is_relative_to(directory):
        return path.name
    return f"{channel}/{path.relative_to(directory).as_posix()}"


def display_names(channel: str, directory: Path, files: list[Path]) -> tuple[str, ...]:
    """``display_name`` of each of ``files``."""
    return tuple(display_name(channel, directory, path) for path in files)


def data_lines(
    channel: str, directory: Path, files: list[Path], gzip: bool, comment: str | None = None
) -> Iterator[tuple[int, Line]]:
    """Yield ``(file index, line)`` for every line with data (not blank, not a ``comment``).

    A file without any such line is an error: it is almost always an export
    that went wrong, and silently training on less data would hide it.
    """
    for file_index, path in enumerate(files):
        has_rows = False
        for line in read_lines(channel, directory, path, gzip=gzip):
            stripped = line.text.strip()
            if stripped and not (comment and stripped.startswith(comment)):
                has_rows = True
                yield file_index, line
        if not has_rows:
            where = display_name(channel, directory, path)
            raise CustomerError(f"Bad input in {where} at line 1: the file is empty (no data rows).")


class RowOrigins:
    """Each parsed row's file index and line number, stored compactly."""

    def __init__(self) -> None:
        self.files: array[int] = array("i")
        self.lines: array[int] = array("i")

    def add(self, file_index: int, line_number: int) -> None:
        """Record where the next row came from."""
        self.files.append(file_index)
        self.lines.append(line_number)

    def arrays(self) -> dict[str, np.ndarray]:
        """The ``row_file`` and ``row_line`` arrays of a ``Dataset``."""
        return {
            "row_file": np.asarray(self.files, dtype=np.int32),
            "row_line": np.asarray(self.lines, dtype=np.int32),
        }
