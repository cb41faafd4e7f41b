"""One Pipe-mode channel's FIFOs: ``<dir>/<name>_0``, ``<name>_1``, ... one per epoch.

SageMaker's contract: the platform creates ``<channel>_0`` before the
container starts and streams the channel into it once the container opens
it; when that epoch's data has been written (and the writer closed, so the
reader sees end of file) the next FIFO, ``<channel>_1``, appears for the
next pass, and so on until the job ends.

The writer never blocks the event loop: the FIFO is opened non-blocking
(polling until a reader has it open) and written with ``add_writer``, so a
reader that stops reading only parks this coroutine. A source that fails
(an S3 error, corrupt gzip, a read timeout, a full disk: any error) records
the reason and keeps the FIFO open
without writing more, so the reader never mistakes a truncated epoch for a
complete one; the job's supervisor sees :attr:`PipeFeed.error` and fails
the job with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

log = logging.getLogger(__name__)

# How often an unopened FIFO is probed for a reader (the container opens it when it gets to it).
_OPEN_POLL_SECONDS = 0.05
# The channel's data is the job's: no other user of the machine reads it or writes into it. The container
# still opens it: the process runner's child is the node's own user; the docker runner's container runs
# as the image's user, root (no image sets another), which opens any file in the bind-mounted tree, or is
# the node's user itself under a rootless engine. A container user that could not open it could not
# write the tree's model directory either.
FIFO_MODE = 0o600


class PipeSourceError(Exception):
    """The data for a FIFO could not be produced; the message is the job's FailureReason."""


class PipeFeed:
    """Streams ``source()`` into ``<directory>/<name>_<epoch>`` for every epoch the reader opens."""

    def __init__(self, directory: Path, name: str, source: Callable[[], AsyncIterator[bytes]]) -> None:
        self.directory = directory
        self.name = name
        self.source = source
        self.error: str | None = None
        self.epochs_written = 0
        self.bytes_written = 0
        self._task: asyncio.Task[None] | None = None
        self._fd: int | None = None
        self._made: list[Path] = []
        self.make_fifo(0)

    def fifo(self, epoch: int) -> Path:
        """The FIFO of ``epoch``."""
        return self.directory / f"{self.name}_{epoch}"

    def make_fifo(self, epoch: int) -> Path:
        """Create the FIFO of ``epoch``, readable and writable by its owner alone (:data:`FIFO_MODE`)."""
        path = self.fifo(epoch)
        self.directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.mkfifo(path, FIFO_MODE)
        os.chmod(path, FIFO_MODE)  # exactly this, whatever the umask took away (the writer needs its write bit)
        self._made.append(path)
        return path

    def start(self) -> None:
        """Begin serving epochs in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._serve(), name=f"pipe-{self.name}")

    async def close(self) -> None:
        """Stop writing, close the FIFO and remove every FIFO this feed made."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._close_fd()
        for path in self._made:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _close_fd(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    async def _serve(self) -> None:
        epoch = 0
        while True:
            self._fd = await self._open_writer(self.fifo(epoch))
            try:
                async for chunk in self.source():
                    await self._write(chunk)
            except BrokenPipeError:
                pass  # the reader closed early: that ends its epoch, as a short read would on SageMaker
            except PipeSourceError as err:
                self._failed(epoch, str(err))
                return  # the FIFO stays open and silent until the job is stopped
            except Exception as err:  # noqa: BLE001 - a read timeout, a broken stream, a full disk: the same
                self._failed(epoch, f"InternalServerError: Channel {self.name}: the stream of epoch {epoch} "
                                    f"failed: {type(err).__name__}: {err}")
                return
            self._close_fd()
            self.epochs_written += 1
            epoch += 1
            self.make_fifo(epoch)

    def _failed(self, epoch: int, reason: str) -> None:
        self.error = reason
        log.warning("pipe %s_%d failed: %s", self.name, epoch, reason)

    @staticmethod
    async def _open_writer(path: Path) -> int:
        # O_NONBLOCK: opening the write end fails with ENXIO until a reader has it open.
        while True:
            try:
                return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as err:
                if err.errno != errno.ENXIO:
                    raise
            await asyncio.sleep(_OPEN_POLL_SECONDS)

    async def _write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        loop = asyncio.get_running_loop()
        while view:
            try:
                n = os.write(self._fd, view)
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(self._fd, lambda: ready.done() or ready.set_result(None))
                try:
                    await ready
                finally:
                    loop.remove_writer(self._fd)
                continue
            view = view[n:]
            self.bytes_written += n
