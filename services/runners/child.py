"""What the process runner and its warm pool both do with a child process: read its output, tie its life to
the node's."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import signal
from collections.abc import AsyncIterator

# Long lines (a model summary, a progress bar) must not stall the reader.
STREAM_LIMIT = 4 << 20

_PR_SET_PDEATHSIG = 1


async def read_lines(stream: asyncio.StreamReader, limit: int) -> AsyncIterator[str]:
    """A child's output line by line until EOF; a line longer than ``limit`` comes in pieces, never stops it."""
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line over the limit: take what is buffered
            raw = await stream.read(limit)
        if not raw:
            return
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


def die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when the node that started it dies.

    A container runs in its own session (so a stop reaches its whole group);
    without this, a node killed hard would leave its training processes
    running, holding ports and writing into job directories.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: stopping relies on the node's own shutdown
        pass
