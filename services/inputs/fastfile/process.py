"""The worker's handle on one FastFile mount process (:mod:`services.inputs.fastfile.mount`).

Started with its spec on stdin, it is live once it prints its ready line;
one that exits first was refused (the caller downloads instead), one that
does neither in time fails the job. Its later lines carry read errors (the
job's reason, if the container then fails) and, at exit, its stats. It is
ended with ``fusermount3 -u`` (lazily with ``-z`` when a leftover process
keeps the mount busy), waited for by its pid, and killed only if it does not
exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.core.exceptions import JobFailed
from services.inputs.fastfile.layout import ERROR_PREFIX, READY_LINE, STATS_PREFIX, FastFileEntry
from services.runners.process import read_lines

log = logging.getLogger(__name__)

READY_TIMEOUT = 30.0  # from start to a live mount; longer fails the job
_EXIT_WAIT = 10.0  # for the mount process to exit once unmounted
_TAIL_LINES = 20
_LINE_LIMIT = 1 << 20  # a traceback line of a failed mount can be long; the reader must not stop on it


def mib(n: int) -> str:
    """Bytes as the job log shows them."""
    return f"{n / (1 << 20):.1f} MiB"


@dataclass
class FastFileMount:
    """One channel's mount process on one host."""

    channel: str
    mountpoint: Path
    entries: list[FastFileEntry]
    proc: asyncio.subprocess.Process | None = None
    error: str | None = None  # the first read that failed, as the job's reason would name it
    stats: dict[str, Any] | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=_TAIL_LINES))
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _pump: asyncio.Task[None] | None = None

    @property
    def total(self) -> int:
        """Bytes of every file the mount shows."""
        return sum(e.size for e in self.entries)

    async def start(self, env: dict[str, str], timeout: float = READY_TIMEOUT) -> str | None:
        """Mount; ``None`` once live, else why the mount was refused (the caller downloads instead).

        Raises :class:`JobFailed` when the mount neither goes live nor fails within ``timeout``.
        """
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        spec = {"channel": self.channel, "mountpoint": str(self.mountpoint),
                "entries": [e.to_json() for e in self.entries]}
        try:
            # Its own session: a Ctrl-C meant for the worker must not unmount under a running container.
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.inputs.fastfile.mount", env=env, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                limit=_LINE_LIMIT)
        except OSError as err:
            return f"the mount process could not start: {err}"
        # Fed under the same timeout: a large spec fills the pipe, and a stuck process never reads it.
        feed = asyncio.create_task(self._send(json.dumps(spec).encode()))
        self._pump = asyncio.create_task(self._read_output())
        ready = asyncio.create_task(self._ready.wait())
        exited = asyncio.create_task(self.proc.wait())
        await asyncio.wait({ready, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        feed.cancel()
        if self._ready.is_set():
            exited.cancel()
            return None
        if exited.done():
            await self._pump
            return f"the mount was refused: {' | '.join(self.tail) or f'exit code {exited.result()}'}"
        exited.cancel()
        await self.unmount(exit_wait=2.0)  # never live: no reader to wait for
        raise JobFailed(f"InternalServerError: FastFile channel {self.channel}: the FUSE mount at "
                        f"{self.mountpoint} was not live within {timeout:.0f} s")

    async def _send(self, spec: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(spec)
        with contextlib.suppress(ConnectionError):  # it exited (refused) before reading
            await self.proc.stdin.drain()
        self.proc.stdin.close()

    async def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in read_lines(self.proc.stdout, _LINE_LIMIT):
            self._line(line)

    def _line(self, line: str) -> None:
        try:
            if line == READY_LINE:
                self._ready.set()
            elif line.startswith(STATS_PREFIX):
                self.stats = json.loads(line.removeprefix(STATS_PREFIX))
            elif line.startswith(ERROR_PREFIX):
                report = json.loads(line.removeprefix(ERROR_PREFIX))
                log.warning("FastFile channel %s: %s", self.channel, line)
                self.error = self.error or (
                    f"ClientError: FastFile channel {self.channel}: reading {report['path']} at offset "
                    f"{report['offset']} ({report['uri']}) failed: {report['error']}")
            else:
                self.tail.append(line)
                log.debug("FastFile channel %s: %s", self.channel, line)
        except (ValueError, KeyError):  # not ours after all: keep it as output
            self.tail.append(line)

    async def unmount(self, exit_wait: float = _EXIT_WAIT) -> None:
        """Unmount and wait for the mount process (killed, by its pid, if it does not exit); idempotent."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            if not await fusermount("-u", self.mountpoint):
                # Busy (a process the container left behind holds a file): detach it lazily.
                await fusermount("-u", "-z", self.mountpoint)
            try:
                await asyncio.wait_for(proc.wait(), exit_wait)
            except asyncio.TimeoutError:
                log.warning("FastFile channel %s: mount process %d did not exit; killing it", self.channel, proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                await proc.wait()
        if self._pump is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._pump, 10)
        self.proc = None

    def summary(self) -> str:
        """The job log's line: how much of the channel was read from S3."""
        if self.stats is None:
            return f"FastFile channel {self.channel}: the mount process ended without its stats"
        line = (f"FastFile channel {self.channel}: read {mib(int(self.stats['fetched']))} of "
                f"{mib(int(self.stats['total']))} from S3 ({self.stats['files']} file(s))")
        if self.stats.get("errors"):
            line += f"; {self.stats['errors']} read(s) failed"
        return line


async def fusermount(*args: str | Path) -> bool:
    """Run ``fusermount3`` with ``args``; whether it succeeded."""
    proc = await asyncio.create_subprocess_exec("fusermount3", *map(str, args), stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    return await proc.wait() == 0
