"""Keeping an S3 prefix up to date with a directory a job writes, while it runs.

Training checkpoints (``CheckpointConfig``) and processing outputs with
``S3UploadMode: Continuous`` are synced this way; whatever the last moments
wrote is uploaded once more when the job ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from services.aws.s3 import S3Adapter, parse_s3_uri

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncFailure:
    """What the last sync at a job's end could not upload, and why."""

    s3_uri: str
    not_uploaded: int  # files left changed and not uploaded
    error: str

    def __str__(self) -> str:
        return f"{self.not_uploaded} file(s) not uploaded to {self.s3_uri}: {self.error}"


class CheckpointSync:
    """Uploads new or changed files of a directory to an S3 prefix (checkpoints,
    and Processing's ``Continuous`` outputs)."""

    def __init__(self, s3: S3Adapter, s3_uri: str, source: Path, every_seconds: float = 1.0) -> None:
        self.s3 = s3
        self.s3_uri = s3_uri
        self.bucket, prefix = parse_s3_uri(s3_uri)
        self.prefix = prefix.rstrip("/") + "/" if prefix else ""
        self.source = source
        self.every_seconds = every_seconds
        self._seen: dict[Path, tuple[float, int]] = {}
        self.uploaded = 0
        # Set when the last sync (at the job's end) left files behind: the job's owner fails the job with it.
        self.final_failure: SyncFailure | None = None

    def mark_restored(self) -> None:
        """Files present now came from S3: do not upload them back unchanged."""
        self._seen = self._snapshot()

    def _snapshot(self) -> dict[Path, tuple[float, int]]:
        out: dict[Path, tuple[float, int]] = {}
        if self.source.is_dir():
            for p in self.source.rglob("*"):
                with contextlib.suppress(OSError):
                    if p.is_file() and not (p.name.startswith(".tmp") or p.name.endswith(".tmp")):
                        st = p.stat()
                        out[p] = (st.st_mtime, st.st_size)
        return out

    def pending(self) -> int:
        """How many files changed since they were last uploaded (or restored)."""
        return sum(1 for p, sig in self._snapshot().items() if self._seen.get(p) != sig)

    async def sync_once(self) -> int:
        """Upload what changed since the last sync; return how many files."""
        now = self._snapshot()
        changed = [p for p, sig in now.items() if self._seen.get(p) != sig]
        for path in changed:
            key = self.prefix + path.relative_to(self.source).as_posix()
            try:
                await self.s3.upload_file(path, self.bucket, key)
            except FileNotFoundError:
                continue  # replaced while we looked (a script rotating checkpoints)
            self._seen[path] = now[path]
            self.uploaded += 1
        return len(changed)

    async def run(self, done: asyncio.Event) -> None:
        """Sync every ``every_seconds`` until ``done``, then once more (see :meth:`sync_final`)."""
        while not done.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=self.every_seconds)
            try:
                await self.sync_once()
            except Exception:  # noqa: BLE001 - a failed sync is retried at the next tick
                log.warning("checkpoint sync of %s failed", self.source, exc_info=True)
        await self.sync_final()

    async def sync_final(self) -> SyncFailure | None:
        """Upload what the last moments wrote; on failure, record and log how many files were left.

        Nothing retries after this one, so a failure here is never only a warning: it is kept in
        :attr:`final_failure` for the job to end ``Failed`` with, as SageMaker fails a job whose
        checkpoints or outputs it cannot upload at the end.
        """
        try:
            await self.sync_once()
        except Exception as err:  # noqa: BLE001 - any error: the files did not get there
            left = self.pending()
            if left:  # else what failed is gone from the directory too (a rotated checkpoint): nothing is lost
                self.final_failure = SyncFailure(self.s3_uri, left, f"{type(err).__name__}: {err}")
                log.error("final sync of %s failed: %s", self.source, self.final_failure)
        return self.final_failure
