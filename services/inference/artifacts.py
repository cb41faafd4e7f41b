"""Model artifacts for hosting and batch transform: fetch ``model.tar.gz`` once per content, extract it
safely per instance.

A model archive comes from a user: members with absolute paths, ``..``,
links or devices could write outside the instance's ``model/`` directory,
so they are refused by name before anything is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from botocore.exceptions import ClientError

from services.aws.s3 import S3Adapter, parse_s3_uri
from services.core.exceptions import JobFailed

# Archives kept for reuse (another instance, the next transform job) on a node; past it the least recently
# used go.
DEFAULT_MAX_BYTES = 4 * 1024**3


class ArtifactCache:
    """Model archives downloaded once per content: keyed by URL and ETag, so a new model written to the
    same key is fetched again, and kept within ``max_bytes`` (least recently used first, never an archive
    in use)."""

    def __init__(self, s3: S3Adapter, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.s3 = s3
        self.root = root
        self.max_bytes = max_bytes
        self._locks: dict[Path, asyncio.Lock] = {}
        self._pins: dict[Path, int] = {}

    @contextlib.asynccontextmanager
    async def archive(self, url: str) -> AsyncIterator[Path]:
        """The local copy of ``url``'s current content (an ``s3://`` object), kept while the block runs."""
        local = await self._fetch(url)
        self._pins[local] = self._pins.get(local, 0) + 1
        try:
            yield local
        finally:
            self._pins[local] -= 1
            if not self._pins[local]:
                del self._pins[local]
            self._evict()

    async def _fetch(self, url: str) -> Path:
        bucket, key = parse_s3_uri(url)
        for _ in range(3):  # the object may be replaced between the HEAD and the GET
            found = await self.s3.head(bucket, key)
            if found is None:
                raise JobFailed(f"Failed to download model data from {url}: the object does not exist.")
            local = self.root / hashlib.sha256(f"{url} {found.etag}".encode()).hexdigest()[:24] / "model.tar.gz"
            async with self._locks.setdefault(local, asyncio.Lock()):
                if local.is_file():
                    local.touch()  # recently used
                    return local
                partial = local.with_suffix(".part")
                try:
                    await self.s3.download_file(bucket, key, partial, if_match=found.etag)
                except ClientError as err:
                    if err.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
                        raise
                    continue
                partial.replace(local)
                return local
        raise JobFailed(f"Failed to download model data from {url}: it kept changing while it was read.")

    def _evict(self) -> None:
        """Remove the least recently used archives not in use while the cache is over its bound."""
        archives = sorted(self.root.glob("*/model.tar.gz"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in archives)
        for path in archives:
            if total <= self.max_bytes:
                return
            if path in self._pins:
                continue
            total -= path.stat().st_size
            path.unlink(missing_ok=True)
            self._locks.pop(path, None)


def check_member(member: tarfile.TarInfo) -> None:
    """Refuse a member that could land outside the extraction directory."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise JobFailed(f"Model archive member {member.name!r} has an absolute or parent path; refusing it.")
    if not (member.isfile() or member.isdir()):
        raise JobFailed(f"Model archive member {member.name!r} is a link or device; refusing it.")


def extract_model(archive: Path, dest: Path) -> None:
    """Extract a model archive into ``dest`` (created), refusing unsafe members."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                check_member(member)
            tar.extractall(dest, members=members, filter="data")
    except tarfile.TarError as err:
        raise JobFailed(f"The model data is not a readable tar.gz archive: {err}") from err
