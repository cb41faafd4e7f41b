"""Shipping a container's output to a local file and to CloudWatch Logs.

Lines are written to the job's local log at once (for ``headwater logs`` on
this machine) and batched to CloudWatch every ``flush_seconds`` so the SDK's
log streaming and ``aws logs tail`` see them live, as on SageMaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from types import TracebackType

from services.aws.logs import LogsAdapter, escape_control, now_ms

log = logging.getLogger(__name__)

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"


class LogShipper:
    """An async context manager; call :meth:`add` for every line."""

    def __init__(self, logs: LogsAdapter, group: str, stream: str, local_file: Path,
                 flush_seconds: float = 0.3) -> None:
        self.logs = logs
        self.group = group
        self.stream = stream
        self.local_file = local_file
        self.flush_seconds = flush_seconds
        self._pending: list[tuple[int, str]] = []
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._fh = None
        self.tail: list[str] = []  # the last lines, for failure reasons

    async def __aenter__(self) -> LogShipper:
        await self.logs.ensure_stream(self.group, self.stream)
        self.local_file.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.local_file.open("a", encoding="utf-8")
        self._task = asyncio.create_task(self._flush_loop())
        return self

    def add(self, line: str) -> None:
        """Record one line of container output."""
        assert self._fh is not None
        self._fh.write(line + "\n")
        self._fh.flush()
        self._pending.append((now_ms(), escape_control(line)))
        self.tail = (self.tail + [line])[-40:]

    async def flush(self) -> None:
        """Send what is pending to CloudWatch."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            await self.logs.put(self.group, self.stream, batch)
        except Exception:  # noqa: BLE001 - log shipping must never fail the job
            log.exception("could not ship %d log lines to %s", len(batch), self.stream)

    async def _flush_loop(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.flush_seconds)
            await self.flush()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        # The loop is asked to stop, not cancelled: a cancel landing inside a put would drop
        # the batch it had already taken (the last lines of a job or an instance).
        self._closing.set()
        if self._task:
            await self._task
        await self.flush()
        if self._fh:
            self._fh.close()
