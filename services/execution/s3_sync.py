"""Keeping an S3 prefix up to date with a directory a job writes, while it runs.

Training checkpoints (``CheckpointConfig``) and processing outputs with
``S3UploadMode: Continuous`` are synced this way; whatever the last moments
wrote is uploaded once more when the job ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from services.aws.s3 import S3Adapter, parse_s3_uri

log = logging.getLogger(__name__)


class CheckpointSync:
    """Uploads new or changed files of a directory to an S3 prefix (checkpoints,
    and Processing's ``Continuous`` outputs)."""

    def __init__(self, s3: S3Adapter, s3_uri: str, source: Path, every_seconds: float = 1.0) -> None:
        self.s3 = s3
        self.bucket, prefix = parse_s3_uri(s3_uri)
        self.prefix = prefix.rstrip("/") + "/" if prefix else ""
        self.source = source
        self.every_seconds = every_seconds
        self._seen: dict[Path, tuple[float, int]] = {}
        self.uploaded = 0

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
        """Sync every ``every_seconds`` until ``done``, then once more."""
        while not done.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=self.every_seconds)
            try:
                await self.sync_once()
            except Exception:  # noqa: BLE001 - a failed sync is retried at the next tick
                log.warning("checkpoint sync of %s failed", self.source, exc_info=True)
        with contextlib.suppress(Exception):
            await self.sync_once()  # what the last moments wrote
