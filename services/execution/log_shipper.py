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

from services.aws.logs import LogsAdapter, PutLogEventsFailed, escape_control, now_ms

log = logging.getLogger(__name__)

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# A batch CloudWatch keeps refusing is dropped after this many tries (the local log keeps every line).
_TRIES = 5
# Lines waiting for CloudWatch while it does not answer; past it the oldest go (the local log keeps them).
_MAX_PENDING = 100_000


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
        self._failures = 0  # consecutive refusals of what is pending
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
        """Send what is pending to CloudWatch; what it refuses waits for the next flush."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            await self.logs.put(self.group, self.stream, batch)
            self._failures = 0
        except PutLogEventsFailed as err:  # log shipping must never fail the job
            self._failures += 1
            unsent = batch[err.delivered:]
            if self._failures >= _TRIES:
                log.error("dropped %d log lines of %s after %d refusals: %s", len(unsent), self.stream,
                          self._failures, err.cause)
                self._failures = 0
                return
            log.warning("could not ship %d log lines to %s (try %d of %d): %s", len(unsent), self.stream,
                        self._failures, _TRIES, err.cause)
            self._pending[:0] = unsent
            if len(self._pending) > _MAX_PENDING:
                log.error("dropped %d log lines of %s: CloudWatch is not taking them",
                          len(self._pending) - _MAX_PENDING, self.stream)
                del self._pending[:len(self._pending) - _MAX_PENDING]

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
